//! The contract's validation table: every bad input is a 400 (or 404 for a path that names no
//! route) in the error envelope, and TMDB is never asked.

use crate::helpers::TestEnv;

#[tokio::test]
async fn bad_query_values_are_400_and_tmdb_is_not_asked() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let id = reelcache::dev::fake_tmdb::catalog::id_of(1);
    let long_query = "x".repeat(201);
    let cases: Vec<(String, &str)> = vec![
        ("/api/movies/trending/?page=0".into(), "page"),
        ("/api/movies/trending/?page=-1".into(), "page"),
        ("/api/movies/trending/?page=1.5".into(), "page"),
        ("/api/movies/trending/?page=abc".into(), "page"),
        ("/api/movies/trending/?page=501".into(), "page"),
        ("/api/movies/trending/?page=".into(), "page"),
        (
            "/api/movies/trending/?page=99999999999999999999".into(),
            "page",
        ),
        (
            "/api/movies/trending/?time_window=month".into(),
            "time_window",
        ),
        ("/api/movies/trending/?time_window=".into(), "time_window"),
        ("/api/movies/trending/?language=english".into(), "language"),
        ("/api/movies/trending/?language=".into(), "language"),
        (format!("/api/movies/{id}/recommendations/?page=0"), "page"),
        (
            format!("/api/movies/{id}/recommendations/?page=501"),
            "page",
        ),
        (format!("/api/movies/{id}/?language=en_US"), "language"),
        ("/api/movies/0/".into(), "movie_id"),
        ("/api/movies/2147483648/".into(), "movie_id"),
        (
            "/api/movies/99999999999999999999999/recommendations/".into(),
            "movie_id",
        ),
        ("/api/movies/search/".into(), "query"),
        ("/api/movies/search/?query=".into(), "query"),
        ("/api/movies/search/?query=%20%20%20".into(), "query"),
        (format!("/api/movies/search/?query={long_query}"), "query"),
        ("/api/movies/search/?query=ok&page=0".into(), "page"),
        ("/api/movies/search/?query=ok&region=USA".into(), "region"),
        ("/api/movies/popular/?page=abc".into(), "page"),
        ("/api/movies/popular/?region=1".into(), "region"),
    ];
    for (path, field) in &cases {
        let r = app.get(path).await;
        assert_eq!(r.status, 400, "{path}");
        assert_eq!(r.error_code(), "VALIDATION_ERROR", "{path}");
        let v = r.json();
        assert!(
            v["error"]["fields"][*field].is_array(),
            "{path}: fields should name {field}: {v}"
        );
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(field),
            "{path}: message names the parameter: {message}"
        );
    }
    assert_eq!(env.tmdb.total(), 0, "no bad request reached TMDB");

    // The range limits themselves are fine.
    assert_eq!(app.get("/api/movies/trending/?page=500").await.status, 200);
    assert_eq!(
        app.get("/api/movies/2147483647/").await.error_code(),
        "MOVIE_NOT_FOUND"
    );
    let query_200 = "y".repeat(200);
    assert_eq!(
        app.get(&format!("/api/movies/search/?query={query_200}"))
            .await
            .status,
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_params_are_ignored_and_trailing_slash_is_optional() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let with_slash = app.get("/api/movies/trending/?page=2&utm_source=x").await;
    let without = app.get("/api/movies/trending?page=2").await;
    assert_eq!((with_slash.status, without.status), (200, 200));
    assert_eq!(without.x_cache(), "HIT");
    assert_eq!(with_slash.body, without.body);
    app.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    for path in [
        "/nope",
        "/api/movies/abc/",
        "/api/movies/-5/",
        "/api/movies/12/similar/",
        "/api/movies/trending/extra/",
        "/api/movies//",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.header("content-type"), Some("application/json"), "{path}");
        assert_eq!(r.error_code(), "NOT_FOUND", "{path}");
    }
    for method in [
        reqwest::Method::POST,
        reqwest::Method::DELETE,
        reqwest::Method::PUT,
    ] {
        let r = app
            .request(method.clone(), "/api/movies/trending/", &[])
            .await;
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.error_code(), "METHOD_NOT_ALLOWED");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }
    let head = app
        .request(reqwest::Method::HEAD, "/api/movies/trending/", &[])
        .await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(env.tmdb.total(), 1, "only the HEAD reached TMDB");
    app.stop().await;
}
