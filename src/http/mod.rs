//! The HTTP surface: one module per resource group, shared filters, and the single place where
//! warp's rejections become the contract's error envelope.

pub mod filters;
pub mod movies;
pub mod rejection;
pub mod response;

use warp::Filter;

use crate::state::AppState;

/// Every route, with the error mapping, a request span around it, and one log line per request.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible> + Clone {
    movies::routes(state)
        .recover(rejection::handle)
        .unify()
        .with(warp::log::custom(|info| {
            tracing::info!(
                method = %info.method(),
                path = info.path(),
                status = info.status().as_u16(),
                elapsed_ms = info.elapsed().as_secs_f64() * 1000.0,
                "request"
            );
        }))
        .with(warp::trace(|info| {
            tracing::info_span!(
                "request",
                method = %info.method(),
                path = %info.path(),
                cache = tracing::field::Empty,
            )
        }))
}
