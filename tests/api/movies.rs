//! The movie endpoints: bodies, envelopes, links, headers, and what TMDB was asked.

use reelcache::dev::fake_tmdb::Behaviour;

use crate::helpers::{API_KEY, TestEnv};

const TRENDING_DAY: &str = "/trending/movie/day";

#[tokio::test]
async fn trending_pages_are_each_fetched_once() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;

    let first = app
        .get("/api/movies/trending/?time_window=day&page=1")
        .await;
    let second = app
        .get("/api/movies/trending/?time_window=day&page=2")
        .await;
    let again = app
        .get("/api/movies/trending/?time_window=day&page=1")
        .await;

    assert_eq!((first.status, second.status, again.status), (200, 200, 200));
    assert_eq!(first.x_cache(), "MISS");
    assert_eq!(second.x_cache(), "MISS");
    assert_eq!(again.x_cache(), "HIT");
    assert_eq!(
        first.body, again.body,
        "a hit serves the same bytes as the miss"
    );
    assert_ne!(first.body, second.body);
    assert_eq!(env.tmdb.count_page(TRENDING_DAY, 1), 1);
    assert_eq!(env.tmdb.count_page(TRENDING_DAY, 2), 1);
    assert_eq!(env.tmdb.total(), 2);

    // Week is a separate list with its own entries.
    let week = app
        .get("/api/movies/trending/?time_window=week&page=1")
        .await;
    assert_eq!(week.x_cache(), "MISS");
    assert_eq!(env.tmdb.count_page("/trending/movie/week", 1), 1);
    app.stop().await;
}

#[tokio::test]
async fn list_envelope_passes_tmdb_items_through_with_pagination() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let reply = app
        .get("/api/movies/trending/?time_window=week&page=2")
        .await;
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let v = reply.json();
    assert_eq!(v["success"], true);
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 20);
    let expected = reelcache::dev::fake_tmdb::catalog::trending("week", 2, "en-US");
    assert_eq!(
        v["data"], expected["results"],
        "items are TMDB's objects, unchanged"
    );
    let p = &v["pagination"];
    assert_eq!(p["count"], 20000);
    assert_eq!(p["current_page"], 2);
    assert_eq!(
        p["total_pages"], 500,
        "TMDB's 1000 is capped to the 500 it serves"
    );
    assert_eq!(p["page_size"], 20);
    assert_eq!(p["next"], "/api/movies/trending/?time_window=week&page=3");
    assert_eq!(
        p["previous"],
        "/api/movies/trending/?time_window=week&page=1"
    );

    // The same envelope on a hit.
    let hit = app
        .get("/api/movies/trending/?time_window=week&page=2")
        .await;
    assert_eq!(hit.x_cache(), "HIT");
    assert_eq!(hit.json(), v);
    app.stop().await;
}

#[tokio::test]
async fn public_url_makes_links_absolute() {
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| s.public_url = Some("https://movies.example.org".into()))
        .await;
    let v = app
        .get("/api/movies/550/recommendations/?page=1")
        .await
        .json();
    // 550 is not in the synthetic catalogue; use one that is.
    assert_eq!(v["error"]["code"], "MOVIE_NOT_FOUND");
    let id = reelcache::dev::fake_tmdb::catalog::id_of(7);
    let v = app
        .get(&format!("/api/movies/{id}/recommendations/?page=1"))
        .await
        .json();
    assert_eq!(
        v["pagination"]["next"],
        format!("https://movies.example.org/api/movies/{id}/recommendations/?page=2")
    );
    assert!(v["pagination"]["previous"].is_null());
    let last = app
        .get(&format!("/api/movies/{id}/recommendations/?page=2"))
        .await
        .json();
    assert!(
        last["pagination"]["next"].is_null(),
        "TMDB has 2 pages of recommendations"
    );
    app.stop().await;
}

#[tokio::test]
async fn recommendations_and_details_are_each_fetched_once() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let id = reelcache::dev::fake_tmdb::catalog::id_of(42);
    let recs = format!("/movie/{id}/recommendations");

    for page in [1, 2, 1, 2] {
        let r = app
            .get(&format!("/api/movies/{id}/recommendations/?page={page}"))
            .await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(env.tmdb.count_page(&recs, 1), 1);
    assert_eq!(env.tmdb.count_page(&recs, 2), 1);

    let first = app.get(&format!("/api/movies/{id}/")).await;
    let second = app.get(&format!("/api/movies/{id}")).await;
    assert_eq!((first.x_cache(), second.x_cache()), ("MISS", "HIT"));
    assert_eq!(first.body, second.body);
    let v = second.json();
    assert_eq!(v["success"], true);
    assert_eq!(v["data"]["id"], id);
    assert_eq!(
        v["data"],
        reelcache::dev::fake_tmdb::catalog::details(id, "en-US")
    );
    assert!(v.get("pagination").is_none());
    assert_eq!(env.tmdb.count(&format!("/movie/{id}")), 1);
    app.stop().await;
}

#[tokio::test]
async fn search_and_popular_reach_tmdb_every_time() {
    let env = TestEnv::new().await;
    // Each answer's fallback copy is written after it is answered: a quick client's next
    // request still asks TMDB.
    let app = env.spawn().await.unsettled();
    for _ in 0..3 {
        let s = app.get("/api/movies/search/?query=harbor&page=1").await;
        assert_eq!((s.status, s.x_cache()), (200, "BYPASS"));
        assert_eq!(s.header("cache-control"), Some("no-store"));
        assert!(s.header("etag").is_none());
        let p = app.get("/api/movies/popular/").await;
        assert_eq!((p.status, p.x_cache()), (200, "BYPASS"));
    }
    assert_eq!(env.tmdb.count("/search/movie"), 3);
    assert_eq!(env.tmdb.count("/movie/popular"), 3);
    let searched = &env.tmdb.requests()[0];
    assert_eq!(searched.param("query"), Some("harbor"));

    let v = app
        .get("/api/movies/search/?query=%20%20the%20silent%20&page=1")
        .await
        .json();
    let last = env.tmdb.requests().pop().unwrap();
    assert_eq!(
        last.param("query"),
        Some("the silent"),
        "the query is trimmed"
    );
    let next = v["pagination"]["next"].as_str().unwrap();
    assert_eq!(next, "/api/movies/search/?query=the+silent&page=2");
    let popular = app.get("/api/movies/popular/?page=499").await.json();
    assert_eq!(popular["pagination"]["total_pages"], 500);
    assert_eq!(
        popular["pagination"]["next"],
        "/api/movies/popular/?page=500"
    );
    app.stop().await;
}

#[tokio::test]
async fn language_and_region_reach_tmdb_and_language_splits_the_cache() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let en = app.get("/api/movies/trending/?page=1").await;
    let en_explicit = app.get("/api/movies/trending/?page=1&language=en-US").await;
    assert_eq!(
        en_explicit.x_cache(),
        "HIT",
        "the default language shares the plain key"
    );
    let fr = app.get("/api/movies/trending/?page=1&language=fr-fr").await;
    assert_eq!(fr.x_cache(), "MISS");
    assert_ne!(en.body, fr.body);
    let fr_again = app.get("/api/movies/trending/?page=1&language=fr-FR").await;
    assert_eq!(fr_again.x_cache(), "HIT");
    let languages: Vec<String> = env
        .tmdb
        .requests()
        .iter()
        .map(|r| r.param("language").unwrap_or("").to_owned())
        .collect();
    assert_eq!(languages, ["en-US", "fr-FR"]);
    assert_eq!(
        fr.json()["pagination"]["next"],
        "/api/movies/trending/?time_window=day&language=fr-FR&page=2"
    );

    app.get("/api/movies/popular/?region=us&page=3").await;
    let popular = env.tmdb.requests().pop().unwrap();
    assert_eq!(popular.param("region"), Some("US"));
    assert_eq!(popular.param("page"), Some("3"));
    app.stop().await;
}

#[tokio::test]
async fn etag_and_if_none_match_give_304() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let first = app.get("/api/movies/trending/?page=4").await;
    let etag = first
        .header("etag")
        .expect("ETag on a cacheable response")
        .to_owned();
    assert_eq!(first.header("cache-control"), Some("public, max-age=3600"));
    assert!(
        first.header("age").is_none(),
        "a miss was not served from cache"
    );

    let hit = app.get("/api/movies/trending/?page=4").await;
    assert_eq!(hit.header("etag"), Some(etag.as_str()));
    assert!(hit.header("age").is_some());

    let not_modified = app
        .request(
            reqwest::Method::GET,
            "/api/movies/trending/?page=4",
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    assert_eq!(not_modified.header("etag"), Some(etag.as_str()));

    let changed = app
        .request(
            reqwest::Method::GET,
            "/api/movies/trending/?page=4",
            &[("if-none-match", "\"0000000000000000\"")],
        )
        .await;
    assert_eq!(changed.status, 200);

    app.clock.advance(std::time::Duration::from_secs(600));
    let later = app.get("/api/movies/trending/?page=4").await;
    assert_eq!(later.header("cache-control"), Some("public, max-age=3000"));
    assert_eq!(later.header("age"), Some("600"));
    assert_eq!(env.tmdb.total(), 1);
    app.stop().await;
}

#[tokio::test]
async fn tmdb_errors_map_to_the_contract_and_nothing_is_stored() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let id = reelcache::dev::fake_tmdb::catalog::id_of(3);
    // (TMDB's 404 for a movie is remembered a while: `thinking_ahead.rs`.)
    let cases: [(Behaviour, u16, &str); 3] = [
        (Behaviour::Status(401), 502, "UPSTREAM_ERROR"),
        (Behaviour::Status(500), 502, "UPSTREAM_ERROR"),
        (
            Behaviour::Body("{\"page\":1,\"results\":[".into()),
            502,
            "UPSTREAM_ERROR",
        ),
    ];
    for (behaviour, status, code) in cases {
        env.tmdb.set("/movie/", behaviour.clone());
        env.tmdb.set("/trending/", behaviour.clone());
        let before = env.tmdb.total();
        for path in [
            format!("/api/movies/{id}/"),
            format!("/api/movies/{id}/recommendations/"),
            "/api/movies/trending/".to_owned(),
        ] {
            let r = app.get(&path).await;
            assert_eq!(r.status, status, "{behaviour:?} on {path}");
            assert_eq!(r.error_code(), code, "{behaviour:?} on {path}");
            assert!(!String::from_utf8_lossy(&r.body).contains(API_KEY));
        }
        assert_eq!(env.tmdb.total(), before + 3);
        env.tmdb.reset();
        // Nothing was stored: each path goes to TMDB again and now succeeds.
        for path in [
            format!("/api/movies/{id}/"),
            format!("/api/movies/{id}/recommendations/"),
            "/api/movies/trending/".to_owned(),
        ] {
            let r = app.get(&path).await;
            assert_eq!(
                (r.status, r.x_cache()),
                (200, "MISS"),
                "{path} after {behaviour:?}"
            );
        }
        assert_eq!(env.tmdb.total(), before + 6);
        // Clear what the successful requests stored, for the next case.
        for key in [
            format!("movie:{id}"),
            format!("recommended_movies:{id}:page:1"),
            "trending_movies:day:page:1".into(),
        ] {
            app.state()
                .cache
                .remove(&reelcache::cache::CacheKey::from_stored(key))
                .await;
        }
    }
    let stats = app.state().cache.stats().await.unwrap();
    assert_eq!(stats.entries, 0);
    app.stop().await;
}

#[tokio::test]
async fn refused_credential_tells_the_operator_without_leaking_it() {
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| {
            s.tmdb.credential = Some(reelcache::config::Credential::from_shape("wrong-key-12345"))
        })
        .await;
    let r = app.get("/api/movies/trending/").await;
    assert_eq!(r.status, 502);
    assert_eq!(r.error_code(), "UPSTREAM_ERROR");
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("credential"), "{message}");
    assert!(!message.contains("wrong-key-12345"));
    assert_eq!(app.state().cache.stats().await.unwrap().entries, 0);
    app.stop().await;
}

#[tokio::test]
async fn credential_is_sent_by_shape() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    app.get("/api/movies/trending/").await;
    let plain = env.tmdb.requests().pop().unwrap();
    assert_eq!(plain.param("api_key"), Some(API_KEY));
    assert!(plain.authorization.is_none());
    assert!(
        plain
            .accept_encoding
            .as_deref()
            .is_some_and(|v| v.contains("gzip"))
    );
    app.stop().await;

    let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl";
    let fake = reelcache::dev::fake_tmdb::FakeTmdb::start(Some(token))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(dir.path(), &fake.base_url());
    settings.tmdb.credential = Some(reelcache::config::Credential::from_shape(token));
    let app = crate::helpers::start(settings).await;
    let r = app.get("/api/movies/trending/").await;
    assert_eq!(r.status, 200);
    let bearer = fake.requests().pop().unwrap();
    assert_eq!(
        bearer.authorization.as_deref(),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(bearer.param("api_key"), None);
    app.stop().await;
}

#[tokio::test]
async fn without_a_credential_cached_pages_serve_and_misses_say_why() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    app.get("/api/movies/trending/?page=1").await;
    app.stop().await;
    let app = env.spawn_with(|s| s.tmdb.credential = None).await;
    let hit = app.get("/api/movies/trending/?page=1").await;
    assert_eq!((hit.status, hit.x_cache()), (200, "HIT"));
    let miss = app.get("/api/movies/trending/?page=2").await;
    assert_eq!(miss.status, 503);
    assert_eq!(miss.error_code(), "UPSTREAM_UNAVAILABLE");
    assert_eq!(env.tmdb.total(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_slow_tmdb_is_a_504_and_an_unreachable_one_a_502() {
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| s.tmdb.timeout = std::time::Duration::from_millis(300))
        .await;
    env.tmdb.set(
        "/trending/",
        Behaviour::Delay(std::time::Duration::from_secs(3)),
    );
    let slow = app.get("/api/movies/trending/").await;
    assert_eq!(slow.status, 504);
    assert_eq!(slow.error_code(), "UPSTREAM_TIMEOUT");
    app.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let port = crate::helpers::free_port();
    let settings = crate::helpers::test_settings(dir.path(), &format!("http://127.0.0.1:{port}/3"));
    let app = crate::helpers::start(settings).await;
    let down = app.get("/api/movies/trending/").await;
    assert_eq!(down.status, 502);
    assert_eq!(down.error_code(), "UPSTREAM_ERROR");
    assert_eq!(app.state().cache.stats().await.unwrap().entries, 0);
    app.stop().await;
}
