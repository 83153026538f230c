//! What operators rely on: request ids, security headers, CORS, log formats.

use reqwest::Method;

use crate::helpers::TestEnv;

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
