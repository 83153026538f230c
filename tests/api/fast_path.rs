//! Hot-tier hits are answered before the filter chain (`http::fast_path`). Users must not be able
//! to tell: the same headers as the full route, and every request the fast path cannot answer
//! exactly as the full route would gets the full route's answer.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Reply, TestApp, TestEnv};

const PAGE: &str = "/api/movies/trending/?time_window=day&page=2";
const ORIGIN: &str = "https://app.example.org";

/// A server allowing `ORIGIN`, with the page made hot, and the reply to that first request (a
/// miss, answered by the full route).
async fn hot_app(env: &TestEnv) -> (TestApp, Reply) {
    let app = env
        .spawn_with(|s| s.http.cors_origins = Some(vec![ORIGIN.into()]))
        .await;
    let miss = app.request(Method::GET, PAGE, &[("origin", ORIGIN)]).await;
    assert_eq!((miss.status, miss.x_cache()), (200, "MISS"));
    (app, miss)
}

fn header_names(reply: &Reply) -> BTreeSet<String> {
    reply.headers.keys().map(|name| name.to_string()).collect()
}

fn listed(reply: &Reply, name: &str) -> BTreeSet<String> {
    reply
        .header(name)
        .unwrap_or_default()
        .split(',')
        .map(|part| part.trim().to_lowercase())
        .collect()
}

#[tokio::test]
async fn a_hot_hit_carries_what_the_full_route_sends() {
    let env = TestEnv::new().await;
    let (app, miss) = hot_app(&env).await;
    let hit = app
        .request(
            Method::GET,
            PAGE,
            &[("origin", ORIGIN), ("x-request-id", "trace-7")],
        )
        .await;
    assert_eq!((hit.status, hit.x_cache()), (200, "HIT"));
    assert_eq!(
        app.state().cache.hot().usage().0,
        1,
        "served from the hot tier"
    );

    let mut expected = header_names(&miss);
    expected.insert("age".to_owned());
    assert_eq!(header_names(&hit), expected);
    assert_eq!(hit.body, miss.body);
    for name in [
        "etag",
        "content-type",
        "cache-control",
        "x-content-type-options",
    ] {
        assert_eq!(hit.header(name), miss.header(name), "{name}");
    }
    assert_eq!(hit.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(hit.header("x-request-id"), Some("trace-7"));
    assert_eq!(hit.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(
        listed(&hit, "access-control-expose-headers"),
        listed(&miss, "access-control-expose-headers")
    );

    // HEAD: the same headers, no body.
    let head = app.request(Method::HEAD, PAGE, &[]).await;
    assert_eq!((head.status, head.x_cache()), (200, "HIT"));
    assert!(head.body.is_empty());
    assert_eq!(head.header("etag"), miss.header("etag"));

    // A conditional request is answered 304 without a body.
    let etag = miss.header("etag").unwrap().to_owned();
    let not_modified = app
        .request(Method::GET, PAGE, &[("if-none-match", &etag)])
        .await;
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    assert_eq!(not_modified.header("etag"), Some(etag.as_str()));

    let hits = app.state().counters.snapshot().hits;
    assert_eq!(hits, 3, "each hot hit counted once");
    app.stop().await;
}

#[tokio::test]
async fn requests_the_fast_path_cannot_answer_get_the_full_routes_answer() {
    let env = TestEnv::new().await;
    let (app, _) = hot_app(&env).await;

    let foreign = app
        .request(Method::GET, PAGE, &[("origin", "https://evil.example")])
        .await;
    assert_eq!(foreign.status, 403);
    assert_eq!(foreign.error_code(), "PERMISSION_DENIED");

    let unreadable = app
        .request(Method::GET, PAGE, &[("if-none-match", "\"caf\u{e9}\"")])
        .await;
    assert_eq!(unreadable.status, 400);
    assert_eq!(unreadable.error_code(), "VALIDATION_ERROR");

    let post = app.request(Method::POST, PAGE, &[]).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));

    let bad_page = app
        .get("/api/movies/trending/?time_window=day&page=0")
        .await;
    assert_eq!(bad_page.status, 400);
    assert_eq!(bad_page.error_code(), "VALIDATION_ERROR");

    // Each of these went past the hot page without being counted as a hit of it.
    assert_eq!(app.state().counters.snapshot().hits, 0);
    assert_eq!(env.tmdb.total(), 1, "and none reached TMDB");
    app.stop().await;
}

/// A valid request with no body in the hot tier goes down the full route already parsed; anything
/// else goes down it as it came. Either way the full route's answer is what a client sees.
#[tokio::test]
async fn a_miss_goes_down_the_full_route_already_parsed() {
    use reelcache::http::fast_path::{Outcome, answer};
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let state = app.state();
    let outcome = |uri: &str| {
        answer(
            state,
            &warp::http::Request::get(uri).body(()).unwrap(),
            None,
        )
    };

    for uri in [
        PAGE,
        "/api/movies/550/recommendations/?page=3",
        "/api/movies/550/",
    ] {
        assert!(
            matches!(outcome(uri), Outcome::Declined(Some(_))),
            "{uri}: handed on parsed"
        );
    }
    for uri in [
        "/api/movies/trending/?page=0",
        "/api/movies/0/",
        "/api/movies/abc/",
        "/api/movies/550/?language=x",
        "/api/movies/search/?query=alien",
        "/api/movies/popular/",
        "/api/users/me/",
    ] {
        assert!(
            matches!(outcome(uri), Outcome::Declined(None)),
            "{uri}: handed on as it came"
        );
    }

    let miss = app.get(PAGE).await;
    assert_eq!((miss.status, miss.x_cache()), (200, "MISS"));
    let next = miss.json()["pagination"]["next"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        next.ends_with("/api/movies/trending/?time_window=day&page=3"),
        "the full route's links: {next}"
    );
    assert!(matches!(outcome(PAGE), Outcome::Answered(_)), "now hot");
    assert_eq!(env.tmdb.total(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_stalls_while_sending_headers_is_disconnected() {
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| s.http.header_timeout = Duration::from_millis(500))
        .await;
    let addr = app.base.trim_start_matches("http://");
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"GET /api/movies/trending/ HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut rest))
        .await
        .expect("the server closes the connection long before 10 s");
    assert!(
        closed.is_err() || !String::from_utf8_lossy(&rest).contains("200 OK"),
        "no answer to an unfinished request"
    );
    // Other clients are served meanwhile and afterwards.
    assert_eq!(app.get(PAGE).await.status, 200);
    app.stop().await;
}

/// `/metrics` tells the doors apart: the miss counted under `door="full"`, the hot hit under
/// `door="fast"`, each with its route.
#[tokio::test]
async fn metrics_count_each_door_apart() {
    let env = TestEnv::new().await;
    let (app, _miss) = hot_app(&env).await;
    let count = |text: &str, door: &str| -> f64 {
        text.lines()
            .filter(|l| {
                l.starts_with("reelcache_http_requests_total{")
                    && l.contains("route=\"/api/movies/trending/\"")
                    && l.contains(&format!("door=\"{door}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let before = String::from_utf8(app.get("/metrics").await.body).unwrap();
    let hit = app.get(PAGE).await;
    assert_eq!(hit.x_cache(), "HIT");
    let after = String::from_utf8(app.get("/metrics").await.body).unwrap();
    // Metrics are process-wide and tests run side by side: count what this hit moved.
    assert!(
        count(&after, "fast") >= count(&before, "fast") + 1.0,
        "{after}"
    );
    assert!(
        count(&after, "full") >= 1.0,
        "the miss went through the filters: {after}"
    );
}
