//! CORS, stated once for both doors: the filter the full route wraps every answer in, and the same
//! rule as the fast path applies it (an allowed origin is echoed; any other is left to the full
//! route, which refuses it with a 403).

use warp::http::{HeaderMap, HeaderValue, header};

/// The response headers a cross-origin script may read.
pub const EXPOSED_HEADERS: &str = "etag, x-cache, cache-status, age, x-request-id, retry-after";

/// CORS: the configured origins (`None`: any origin, never with credentials), the methods the
/// API uses, the headers a front end sends, and the headers it may read.
pub fn filter(origins: Option<&[String]>) -> warp::filters::cors::Builder {
    let builder = warp::cors()
        .allow_methods(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allow_headers([
            "authorization",
            "content-type",
            "if-none-match",
            "x-request-id",
        ])
        .expose_headers(EXPOSED_HEADERS.split(", "))
        .max_age(600);
    match origins {
        None => builder.allow_any_origin(),
        Some(origins) => builder.allow_origins(origins.iter().map(String::as_str)),
    }
}

/// `Some(None)`: not a cross-origin request; `Some(Some(origin))`: an allowed origin, echoed as
/// the full route's CORS layer does; `None`: an origin the full route refuses (with a 403).
pub fn fast_path_origin<'h>(
    origins: Option<&[String]>,
    headers: &'h HeaderMap,
) -> Option<Option<&'h HeaderValue>> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Some(None);
    };
    match origins {
        None => Some(Some(origin)),
        Some(allowed) => allowed
            .iter()
            .any(|allowed| allowed.as_bytes() == origin.as_bytes())
            .then_some(Some(origin)),
    }
}
