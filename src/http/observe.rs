//! Around every request: an `X-Request-Id` (the client's, when it sent a sane one, or a new one)
//! recorded in the request's span and echoed in the response; security headers; and one log line
//! with method, route, status, latency and cache outcome.

use std::convert::Infallible;
use std::time::Instant;

use warp::Filter;
use warp::http::{HeaderValue, Method, header};
use warp::path::FullPath;

use super::filters::match_path;

/// Every route pattern, for the `route` label of logs and metrics (a bounded set, unlike paths).
pub const ROUTES: &[&str] = &[
    "/api/movies/trending/",
    "/api/movies/search/",
    "/api/movies/popular/",
    "/api/movies/{}/recommendations/",
    "/api/movies/{}/",
    "/api/users/register/",
    "/api/users/login/",
    "/api/users/refresh/",
    "/api/users/logout/",
    "/api/users/profile/",
    "/api/users/favorites/",
    "/api/users/favorites/add/",
    "/api/users/favorites/{}/remove/",
    "/api/users/favorites/check/{}/",
    "/api/utils/cache/",
    "/api/utils/settings/",
    "/api/utils/settings/code/{}/",
    "/api/utils/settings/{}/",
    "/health/",
    "/metrics",
];

/// The route pattern `path` matches, or `"other"`.
pub fn route_label(path: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|pattern| {
            let parts: Vec<&str> = pattern.trim_matches('/').split('/').collect();
            match_path(&parts, path).is_some()
        })
        .copied()
        .unwrap_or("other")
}

/// A request id: the client's when it is 1..=128 visible ASCII characters, otherwise new.
fn request_id(from_client: Option<String>) -> String {
    from_client
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| crate::auth::random_hex(16))
}

/// Wraps `inner` (which answers every request) with request ids, security headers and the
/// access log line.
pub fn around<F>(
    inner: F,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone
where
    F: Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone + Send + Sync,
{
    warp::any()
        .map(Instant::now)
        .and(warp::method())
        .and(warp::path::full())
        .and(
            warp::header::optional::<String>("x-request-id")
                .or(warp::any().map(|| None))
                .unify()
                .map(|id| {
                    let id = request_id(id);
                    tracing::Span::current().record("request_id", id.as_str());
                    id
                }),
        )
        .and(inner)
        .map(
            |started: Instant,
             method: Method,
             path: FullPath,
             id: String,
             mut response: warp::reply::Response| {
                let headers = response.headers_mut();
                if let Ok(value) = HeaderValue::from_str(&id) {
                    headers.insert("x-request-id", value);
                }
                headers.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                );
                headers.insert(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                );
                let cache = headers
                    .get("x-cache")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
                    .to_owned();
                let route = route_label(path.as_str());
                let elapsed = started.elapsed().as_secs_f64();
                crate::metrics_export::http_request(
                    route,
                    method.as_str(),
                    response.status().as_u16(),
                    elapsed,
                );
                tracing::info!(
                    method = %method,
                    route,
                    path = path.as_str(),
                    status = response.status().as_u16(),
                    latency_ms = elapsed * 1000.0,
                    cache = cache.as_str(),
                    "request"
                );
                response
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_labelled_by_pattern() {
        assert_eq!(route_label("/api/movies/550/"), "/api/movies/{}/");
        assert_eq!(route_label("/api/movies/trending"), "/api/movies/trending/");
        assert_eq!(
            route_label("/api/users/favorites/7/remove/"),
            "/api/users/favorites/{}/remove/"
        );
        assert_eq!(route_label("/nope"), "other");
    }

    #[test]
    fn client_request_ids_are_kept_when_sane() {
        assert_eq!(request_id(Some("abc-123".into())), "abc-123");
        assert_eq!(request_id(Some("bad id".into())).len(), 32);
        assert_eq!(request_id(None).len(), 32);
        assert_eq!(request_id(Some("x".repeat(129))).len(), 32);
    }
}
