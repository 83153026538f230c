//! The HTTP surface: one module per resource group, shared filters, and the single place where
//! warp's rejections become the contract's error envelope.

pub mod admin;
pub mod client_limit;
pub mod favorites;
pub mod filters;
pub mod json;
pub mod movies;
pub mod rejection;
pub mod response;
pub mod users;

use warp::Filter;

use crate::state::AppState;

/// Every route, with the error mapping, a request span around it, and one log line per request.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible> + Clone {
    state
        .client_limiter
        .filter()
        .and(
            movies::routes(state.clone())
                .or(users::routes(state.clone()))
                .unify()
                .or(favorites::routes(state.clone()))
                .unify()
                .or(admin::routes(state))
                .unify(),
        )
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

/// A handler's result as a response: errors become the contract's envelope.
pub fn respond(
    result: Result<warp::reply::Response, crate::error::ApiError>,
) -> warp::reply::Response {
    result.unwrap_or_else(crate::error::ApiError::into_response)
}
