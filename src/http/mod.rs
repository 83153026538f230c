//! The HTTP surface. A request comes in through one of two doors, both in `server.rs`'s
//! connection loop:
//!
//! 1. **The fast path** (`fast_path.rs`), tried first on every request hyper has parsed: a GET or
//!    HEAD of a cached movie endpoint whose fresh body is in the hot tier, from a client within
//!    its limits, is answered right there, before warp.
//! 2. **The full route** ([`routes`]): warp's filter chain, one module per resource group
//!    (`movies`, `users`, `favorites`, `admin`, `ops`, `images`, `site` (the web pages), `docs`), with shared filters and the single
//!    place where rejections become the contract's error envelope (`rejection.rs`).
//!
//! Both doors parse a movie request with the same parser (the route table in `movies/mod.rs`:
//! the fast path asks `movies::probe`, and a request it parsed but found no hot body for goes
//! down the full route already parsed, in the request's extensions), write it with the same
//! `response::movie_response`, open the same span (`observe::request_span`), apply the same
//! CORS rule (`cors.rs`) and finish it with the same `observe::finish` (request id, security
//! headers, metrics and the log line, which carry `door=fast` or `door=full`).
//! `envelope.rs` turns an `ApiError` into a response.

pub mod admin;
pub mod api_spec;
pub mod client_limit;
pub mod connections;
pub mod cors;
pub mod docs;
pub mod envelope;
pub mod fast_path;
pub mod favorites;
pub mod filters;
pub mod images;
pub mod json;
pub mod movies;
pub mod observe;
pub mod ops;
pub mod rejection;
pub mod response;
pub mod server;
pub mod site;
pub mod users;

use warp::Filter;

use crate::service::state::AppState;

/// Every route, behind the client limiter and CORS, with the error mapping, request ids,
/// security headers, a span and a log line per request. Rejections become the error envelope
/// *inside* CORS, so every answer a browser may read carries CORS headers, an unknown path's
/// 404 or a rate limit's 429 included; CORS's own refusal (a forbidden origin) is mapped
/// outside it.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible> + Clone {
    let cors = cors::filter(state.cors_origins.as_deref());
    let api = client_limit::filter(&state.client_limiter)
        .and(
            movies::routes(state.clone())
                .or(users::routes(state.clone()))
                .unify()
                .or(favorites::routes(state.clone()))
                .unify()
                .or(admin::routes(state.clone()))
                .unify()
                .or(ops::routes(state.clone()))
                .unify()
                .or(images::routes(state.clone()))
                .unify()
                .or(site::routes(state.clone()))
                .unify()
                .or(docs::routes(state))
                .unify(),
        )
        .recover(rejection::handle)
        .unify()
        .with(cors)
        .map(warp::Reply::into_response)
        .recover(rejection::handle)
        .unify();
    observe::around(api).with(warp::trace(|info| {
        observe::request_span(info.method(), info.path())
    }))
}

/// A handler's result as a response: errors become the contract's envelope.
pub fn respond(
    result: Result<warp::reply::Response, crate::error::ApiError>,
) -> warp::reply::Response {
    result.unwrap_or_else(crate::error::ApiError::into_response)
}
