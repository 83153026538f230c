//! Hot-tier hits answered before warp's filter chain.
//!
//! A fresh page in the hot tier is already a finished body, yet going through the chain (the
//! limiter, the routes tried in turn, CORS, recovery, the request span) cost more than half of a
//! hit's instructions. Here a request is taken only when every step of the full route would let
//! it through to that same body: a GET or HEAD of trending, recommendations or details with a
//! valid query (or of an image the image cache holds in memory), an allowed (or no) `Origin`, readable headers, a fresh body in the hot tier, and
//! the client within its rate limit. Anything else, including every error, goes to the full
//! route, which answers it as it always did; nothing is counted or taken from a client's
//! allowance until this path has committed to answering. A valid request whose body the hot
//! tier does not hold goes down the full route already parsed (`movies::Parsed`), so a miss is
//! parsed and looked up in the hot tier once. The response is decorated by the same
//! functions the full route uses (`movie_response`, `observe::finish`).

use std::net::SocketAddr;
use std::time::Instant;

use warp::http::{HeaderValue, Method, Request, header};

use super::{cors, images, movies, observe, response};
use crate::service::state::AppState;

/// What the fast path made of a request.
pub enum Outcome {
    /// A hot-tier hit, answered.
    Answered(warp::reply::Response),
    /// Left to the full route; with the request already parsed when it is a valid request for
    /// a cached endpoint whose body the hot tier does not hold (the full route goes on from
    /// there).
    Declined(Option<movies::Parsed>),
}

/// Answers `request` when it is a hot-tier hit, and otherwise says what the full route needs.
pub fn answer<B>(state: &AppState, request: &Request<B>, peer: Option<SocketAddr>) -> Outcome {
    match hit(state, request, peer) {
        Ok(response) => Outcome::Answered(response),
        Err(parsed) => Outcome::Declined(parsed),
    }
}

/// `Err(None)`: not a hit (or not one this path may answer); `Err(Some(_))`: a valid request
/// for a cached endpoint with no fresh body in the hot tier.
fn hit<B>(
    state: &AppState,
    request: &Request<B>,
    peer: Option<SocketAddr>,
) -> Result<warp::reply::Response, Option<movies::Parsed>> {
    let started = Instant::now();
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        return Err(None);
    }
    let headers = request.headers();
    let origin = cors::fast_path_origin(state.cors_origins.as_deref(), headers).ok_or(None)?;
    let if_none_match = match headers.get(header::IF_NONE_MATCH) {
        // The full route refuses an unreadable header with a 400.
        Some(value) => Some(value.to_str().map_err(|_| None)?),
        None => None,
    };
    let path = request.uri().path();
    if path.starts_with("/api/images/") {
        return image_hit(state, request, peer, origin, if_none_match, started);
    }
    let query = request.uri().query().unwrap_or("");
    let (hit, route) = match movies::probe(state, path, query).ok_or(None)? {
        movies::Probe::Hit { hit, route } => (hit, route),
        movies::Probe::Miss(parsed) => return Err(Some(parsed)),
    };
    let forwarded_for = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let limiter = &state.client_limiter;
    limiter
        .admit(limiter.client_ip(peer, forwarded_for))
        .map_err(|_| None)?;

    // Committed: from here on the request is answered as a hit.
    let id = observe::request_id_of(headers);
    let span = observe::request_span(method, path);
    span.record("request_id", id.as_str());
    let _entered = span.enter();
    let served = state.movies.serve_hot(hit);
    let conditions = response::Conditions::of(headers, if_none_match);
    let response = response::movie_response(state, served, None, conditions);
    Ok(finish(started, method, route, &id, origin, response))
}

/// An image in memory, answered as the full route would (`images::image_response`).
fn image_hit<B>(
    state: &AppState,
    request: &Request<B>,
    peer: Option<SocketAddr>,
    origin: Option<&HeaderValue>,
    if_none_match: Option<&str>,
    started: Instant,
) -> Result<warp::reply::Response, Option<movies::Parsed>> {
    let wanted = images::probe_path(request.uri().path()).ok_or(None)?;
    let headers = request.headers();
    let forwarded_for = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let limiter = &state.client_limiter;
    let client = limiter.client_ip(peer, forwarded_for);
    // Asked before the limiter: a miss goes to the full route, which asks it then.
    let image = state.images.peek(&wanted).ok_or(None)?;
    limiter.admit(client).map_err(|_| None)?;

    // Committed.
    let id = observe::request_id_of(headers);
    let method = request.method();
    let span = observe::request_span(method, request.uri().path());
    span.record("request_id", id.as_str());
    let _entered = span.enter();
    state.images.count_hit();
    let response = images::image_response(&image, true, if_none_match);
    Ok(finish(
        started,
        method,
        images::ROUTE,
        &id,
        origin,
        response,
    ))
}

/// CORS's headers for an allowed origin, then what every answer gets (`observe::finish`).
fn finish(
    started: Instant,
    method: &Method,
    route: &'static str,
    id: &str,
    origin: Option<&HeaderValue>,
    mut response: warp::reply::Response,
) -> warp::reply::Response {
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(cors::EXPOSED_HEADERS),
        );
    }
    observe::finish(started, method, route, observe::Door::Fast, id, response)
}
