//! Around every request: an `X-Request-Id` (the client's, when it sent a sane one, or a new one)
//! recorded in the request's span and echoed in the response; security headers; and one log line
//! with route, status and latency, inside the request's span, which carries the method, path,
//! request id and cache outcome (each field said once, in the span or in the line).

use std::convert::Infallible;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use warp::Filter;
use warp::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use warp::path::FullPath;

/// An API table path split into segments (`None` marks a path parameter), and its label.
type RoutePattern = (Vec<Option<&'static str>>, &'static str);

/// The API table's paths, split once.
fn route_patterns() -> &'static [RoutePattern] {
    static PATTERNS: OnceLock<Vec<RoutePattern>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        super::api_spec::endpoints()
            .iter()
            .map(|endpoint| {
                let segments = endpoint
                    .path
                    .trim_matches('/')
                    .split('/')
                    .map(|segment| (!segment.starts_with('{')).then_some(segment))
                    .collect();
                (segments, endpoint.path)
            })
            .collect()
    })
}

/// The route pattern `path` matches (from the API table: a bounded set of labels, unlike
/// paths), or `"other"`. Runs on every request, so it compares segments without allocating.
pub fn route_label(path: &str) -> &'static str {
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    route_patterns()
        .iter()
        .find(|(pattern, _)| {
            let mut segments = path.split('/');
            pattern.iter().all(|part| match (part, segments.next()) {
                (Some(fixed), Some(segment)) => *fixed == segment,
                (None, Some(segment)) => !segment.is_empty(),
                (_, None) => false,
            }) && segments.next().is_none()
        })
        .map_or("other", |(_, label)| label)
}

/// A request id: the client's when it is 1..=128 visible ASCII characters, otherwise new. New
/// ids only need to be unique, not secret: a per-process random seed hashed with a counter
/// (32 hex digits) costs no system call, unlike the operating system's random source.
fn request_id(from_client: Option<String>) -> String {
    from_client
        .filter(|id| is_sane_request_id(id))
        .unwrap_or_else(new_request_id)
}

fn is_sane_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
}

/// The request id for a request with these headers (as `request_id`, without warp's filters).
pub fn request_id_of(headers: &HeaderMap) -> String {
    headers
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane_request_id(id))
        .map_or_else(new_request_id, str::to_owned)
}

fn new_request_id() -> String {
    static SEED: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("the operating system's random source works");
        u64::from_le_bytes(bytes)
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let id = xxhash_rust::xxh3::xxh3_128_with_seed(&n.to_le_bytes(), seed);
    crate::hex::lower(id, 32)
}

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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
             response: warp::reply::Response| {
                let route = route_label(path.as_str());
                finish(started, &method, route, Door::Full, &id, response)
            },
        )
}

/// The span of one request, the same for both doors: its method, path, request id (recorded once
/// known) and cache outcome (recorded by `finish`).
pub fn request_span(method: &Method, path: &str) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %method,
        path = %path,
        request_id = tracing::field::Empty,
        cache = tracing::field::Empty,
    )
}

/// Which of the two doors answered a request (`http/mod.rs`): the fast path before warp's
/// filters, or the full route through them. Logged with every request and a label of
/// `reelcache_http_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Fast,
    Full,
}

impl Door {
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Fast => "fast",
            Door::Full => "full",
        }
    }
}

/// What every response gets on its way out, whichever path answered it: the request id, the
/// security headers, the request's metrics and its log line. `route` is `route_label(path)`.
/// Runs inside the request's span, and notes the cache outcome there, from the `X-Cache` the
/// client gets: a miss that ends up answered from a stale copy is logged as it was answered.
pub fn finish(
    started: Instant,
    method: &Method,
    route: &'static str,
    door: Door,
    id: &str,
    mut response: warp::reply::Response,
) -> warp::reply::Response {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert(&X_REQUEST_ID, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    crate::measure::http_request(
        route,
        method.as_str(),
        status,
        door.as_str(),
        elapsed.as_secs_f64(),
    );
    if let Some(cache) = response
        .headers()
        .get(&super::response::X_CACHE)
        .and_then(|v| v.to_str().ok())
    {
        tracing::Span::current().record("cache", tracing::field::display(cache));
    }
    if tracing::enabled!(tracing::Level::INFO) {
        // Whole microseconds: a float of milliseconds prints as 0.137254 in one line and
        // 12.000001 in the next, noise to read and to index.
        let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let door = door.as_str();
        tracing::info!(route, status, latency_us, door, "request");
    }
    response
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
        assert_eq!(route_label("/api/movies//"), "other");
        assert_eq!(route_label("/api/movies/550/recommendations/x"), "other");
    }

    #[test]
    fn client_request_ids_are_kept_when_sane() {
        assert_eq!(request_id(Some("abc-123".into())), "abc-123");
        assert_eq!(request_id(Some("bad id".into())).len(), 32);
        assert_eq!(request_id(None).len(), 32);
        assert_eq!(request_id(Some("x".repeat(129))).len(), 32);
        assert_ne!(request_id(None), request_id(None), "new ids are unique");
    }
}
