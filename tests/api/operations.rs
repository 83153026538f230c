//! What operators rely on: request ids, security headers, CORS, health probes, metrics.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, TestEnv};

#[tokio::test]
async fn request_ids_round_trip_and_security_headers_are_everywhere() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let mine = app
        .request(
            Method::GET,
            "/api/movies/trending/",
            &[("x-request-id", "trace-abc-123")],
        )
        .await;
    assert_eq!(mine.header("x-request-id"), Some("trace-abc-123"));
    let generated = app.get("/api/movies/trending/").await;
    let id = generated.header("x-request-id").unwrap().to_owned();
    assert_eq!(id.len(), 32);
    let other = app.get("/api/movies/trending/").await;
    assert_ne!(
        other.header("x-request-id").unwrap(),
        id,
        "a new id per request"
    );
    let unsafe_id = app
        .request(
            Method::GET,
            "/nope",
            &[("x-request-id", "has spaces in it")],
        )
        .await;
    assert_ne!(unsafe_id.header("x-request-id"), Some("has spaces in it"));
    for r in [&mine, &unsafe_id] {
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    }
    app.stop().await;
}

/// The statuses of `requests` from an allowed origin, each checked to carry CORS headers and
/// the error envelope.
async fn error_statuses_with_cors(app: &TestApp, requests: &[(Method, &str)]) -> Vec<u16> {
    let mut statuses = Vec::new();
    for (method, path) in requests {
        let r = app
            .request(method.clone(), path, &[("origin", "http://localhost:3000")])
            .await;
        assert!(
            r.header("access-control-allow-origin").is_some(),
            "{method} {path}: {} without CORS headers",
            r.status
        );
        assert_eq!(r.json()["success"], false, "{method} {path}");
        statuses.push(r.status);
    }
    statuses
}

/// A browser front end reads error envelopes too: every answer to an allowed origin carries CORS
/// headers, whatever the status and whichever part of the server produced it.
#[tokio::test]
async fn errors_carry_cors_headers_too() {
    let env = TestEnv::new().await;
    let errors = [
        (Method::GET, "/no/such/path/"),
        (Method::DELETE, "/api/movies/trending/"),
        (Method::GET, "/api/movies/trending/?page=0"),
        (Method::GET, "/api/users/profile/"),
    ];
    let app = env.spawn().await;
    assert_eq!(
        error_statuses_with_cors(&app, &errors).await,
        [404, 405, 400, 401]
    );
    app.stop().await;
    let app = env
        .spawn_with(|s| {
            s.clients.rps = 1;
            s.clients.burst = 1;
        })
        .await;
    let statuses = error_statuses_with_cors(&app, &errors).await;
    assert_eq!(statuses[0], 404, "{statuses:?}");
    assert!(
        statuses.contains(&429),
        "the limiter's refusals carry CORS headers too: {statuses:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn cors_answers_preflight_and_limits_origins_when_configured() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let preflight = app
        .request(
            Method::OPTIONS,
            "/api/users/favorites/add/",
            &[
                ("origin", "http://localhost:3000"),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization, content-type",
                ),
            ],
        )
        .await;
    assert_eq!(preflight.status, 200);
    assert!(preflight.header("access-control-allow-origin").is_some());
    let allowed = preflight
        .header("access-control-allow-headers")
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    assert!(
        preflight
            .header("access-control-allow-credentials")
            .is_none()
    );
    let simple = app
        .request(
            Method::GET,
            "/api/movies/trending/",
            &[("origin", "http://localhost:3000")],
        )
        .await;
    assert_eq!(simple.status, 200);
    let exposed = simple
        .header("access-control-expose-headers")
        .unwrap()
        .to_lowercase();
    assert!(
        exposed.contains("x-cache") && exposed.contains("etag"),
        "{exposed}"
    );
    app.stop().await;

    let app = env
        .spawn_with(|s| s.http.cors_origins = Some(vec!["https://app.example.org".into()]))
        .await;
    let good = app
        .request(
            Method::GET,
            "/api/movies/trending/",
            &[("origin", "https://app.example.org")],
        )
        .await;
    assert_eq!(good.status, 200);
    assert_eq!(
        good.header("access-control-allow-origin"),
        Some("https://app.example.org")
    );
    let bad = app
        .request(
            Method::GET,
            "/api/movies/trending/",
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(bad.status, 403);
    assert_eq!(bad.error_code(), "PERMISSION_DENIED");
    // No Origin: not a browser cross-origin request, served as usual.
    assert_eq!(app.get("/api/movies/trending/").await.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn health_reports_real_checks_and_goes_503_when_the_store_is_gone() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let ok = app.get("/health/").await;
    assert_eq!(ok.status, 200);
    let v = ok.json();
    assert_eq!(v["status"], "healthy");
    assert_eq!(v["checks"]["cache"]["status"], "ok");
    assert_eq!(v["checks"]["database"]["status"], "ok");
    assert!(v["checks"]["cache"]["latency_ms"].as_f64().is_some());
    assert_eq!(v["checks"]["tmdb"]["status"], "ok");
    assert!(!String::from_utf8_lossy(&ok.body).contains(crate::helpers::API_KEY));
    let live = app.get("/health/live").await;
    assert_eq!(
        (live.status, live.json()),
        (200, json!({"status": "alive"}))
    );
    let ready = app.get("/health/ready").await;
    assert_eq!(
        (ready.status, ready.json()),
        (200, json!({"status": "ready"}))
    );

    // TMDB failing does not make the service unhealthy.
    env.tmdb
        .set("/", reelcache::dev::fake_tmdb::Behaviour::Status(500));
    app.get("/api/movies/trending/").await;
    assert_eq!(app.get("/health").await.status, 200);

    // Someone deletes the data directory under the running server.
    std::fs::remove_dir_all(env.dir.path().join("cache")).unwrap();
    std::fs::remove_file(env.dir.path().join("reelcache.db")).unwrap();
    let broken = app.health_when("the loss", |r| r.status == 503).await;
    let v = broken.json();
    assert_eq!(v["status"], "unhealthy");
    assert_eq!(v["checks"]["cache"]["status"], "failing");
    assert_eq!(v["checks"]["database"]["status"], "failing");
    // Not ready, and why; but alive: restarting the process would not bring the files back.
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.error_code(), "SERVICE_UNAVAILABLE");
    let message = ready.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("the cache store is failing")
            && message.contains("the database is failing"),
        "{message}"
    );
    assert_eq!(app.get("/health/live").await.status, 200);
    app.stop().await;
}

/// Once shutdown begins the accept loop closes the listener, so a new client cannot ask; this
/// is the answer a request already read gets while in-flight requests drain (the server is put
/// in that phase by hand, as shutdown does).
#[tokio::test]
async fn ready_is_503_while_draining_and_live_stays_200() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    assert_eq!(app.get("/health/ready").await.status, 200);
    app.state().lifecycle.draining();
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.error_code(), "SERVICE_UNAVAILABLE");
    assert!(
        ready.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shutting down"),
        "{}",
        ready.json()
    );
    assert_eq!(app.get("/health/live").await.status, 200);
    app.stop().await;
}

/// `# TYPE` and `# HELP` of every family, by name.
fn families(text: &str, marker: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(marker))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn every_metric_family_is_explained_and_the_build_and_process_are_there() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    app.get("/api/movies/trending/").await;
    let text = String::from_utf8(app.get("/metrics").await.body).unwrap();
    let typed = families(&text, "# TYPE ");
    let helped = families(&text, "# HELP ");
    assert!(typed.len() > 10, "{text}");
    let unexplained: Vec<_> = typed.difference(&helped).collect();
    assert!(unexplained.is_empty(), "no # HELP: {unexplained:?}");

    let build = text
        .lines()
        .find(|l| l.starts_with("reelcache_build_info{"))
        .unwrap_or_else(|| panic!("no build info: {text}"));
    assert!(
        build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            && build.contains("profile=\"")
            && build.ends_with(" 1"),
        "{build}"
    );
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name}: {text}"))
    };
    if cfg!(target_os = "linux") {
        assert!(value("process_resident_memory_bytes") > 1_000_000.0);
        assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
        let open = value("process_open_fds");
        assert!(open >= 3.0 && open <= value("process_max_fds"), "{open}");
        assert!(value("process_cpu_seconds_total") > 0.0);
        let started = value("process_start_time_seconds");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            started > now - 86_400.0 && started <= now + 1.0,
            "{started}"
        );
        assert!(text.contains("# TYPE process_cpu_seconds_total counter"));
    }
    app.stop().await;
}

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name_and_labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn metrics_move_after_requests() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let before = String::from_utf8(app.get("/metrics").await.body).unwrap();
    app.get("/api/movies/trending/?page=1").await;
    app.get("/api/movies/trending/?page=1").await;
    app.get("/api/movies/search/?query=silent").await;
    let reply = app.get("/metrics").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let after = String::from_utf8(reply.body).unwrap();
    let moved = |name: &str| metric(&after, name) - metric(&before, name);
    // Metrics are process-wide and tests run in parallel: check that ours were counted.
    assert!(
        moved("reelcache_cache_requests_total{namespace=\"trending_movies\",outcome=\"HIT\"}")
            >= 1.0,
        "{after}"
    );
    assert!(
        moved("reelcache_cache_requests_total{namespace=\"trending_movies\",outcome=\"MISS\"}")
            >= 1.0
    );
    assert!(
        moved("reelcache_cache_requests_total{namespace=\"search_movies\",outcome=\"BYPASS\"}")
            >= 1.0
    );
    assert!(moved("reelcache_upstream_requests_total{outcome=\"ok\"}") >= 2.0);
    assert!(moved("reelcache_http_requests_total{") >= 3.0);
    for family in [
        "reelcache_http_request_duration_seconds_bucket",
        "reelcache_upstream_request_duration_seconds_bucket",
        "reelcache_coalesced_requests_total",
        "reelcache_store_bytes",
        "reelcache_store_entries",
        "reelcache_rate_limited_requests_total",
    ] {
        assert!(after.contains(family), "{family} missing");
    }
    assert!(after.contains("route=\"/api/movies/trending/\""));
    app.stop().await;

    let app = env
        .spawn_with(|s| s.http.metrics = reelcache::config::MetricsAccess::Staff)
        .await;
    assert_eq!(app.get("/metrics").await.status, 401);
    app.stop().await;
    let app = env
        .spawn_with(|s| s.http.metrics = reelcache::config::MetricsAccess::Off)
        .await;
    assert_eq!(app.get("/metrics").await.status, 404);
    app.stop().await;
}
