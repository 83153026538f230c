//! Around every request: an `X-Request-Id` (the client's, when it sent a sane one, or a new one)
//! recorded in the request's span and echoed in the response; security headers; and one log line
//! with method, route, status, latency and cache outcome.

use std::convert::Infallible;
use std::time::Instant;

use warp::Filter;
use warp::http::{HeaderValue, Method, header};
use warp::path::FullPath;

use super::filters::match_path;

/// The route pattern `path` matches (from the API table: a bounded set of labels, unlike
/// paths), or `"other"`.
pub fn route_label(path: &str) -> &'static str {
    super::api_spec::ENDPOINTS
        .iter()
        .find(|endpoint| {
            let pattern = super::api_spec::router_pattern(endpoint.path);
            let parts: Vec<&str> = pattern.trim_matches('/').split('/').collect();
            match_path(&parts, path).is_some()
        })
        .map_or("other", |endpoint| endpoint.path)
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
        assert_eq!(route_label("/api/movies/550/"), "/api/movies/{movie_id}/");
        assert_eq!(route_label("/api/movies/trending"), "/api/movies/trending/");
        assert_eq!(
            route_label("/api/users/favorites/7/remove/"),
            "/api/users/favorites/{favorite_id}/remove/"
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
