//! The hot tier (finished bodies of fresh pages in memory) as users see it: the same bytes and
//! headers as a page read from the store, and never a body the store no longer holds.

use std::time::Duration;

use reelcache::dev::fake_tmdb::Behaviour;

use crate::helpers::{TestApp, TestEnv};

const DAY: &str = "/trending/movie/day";
const PAGE: &str = "/api/movies/trending/?page=1";

/// Bodies the hot tier holds. (`/metrics` reports it too, but metrics are process-wide and the
/// tests run several servers in one process.)
fn hot_entries(app: &TestApp) -> u64 {
    app.state().cache.hot().usage().0
}

#[tokio::test]
async fn a_hot_hit_is_byte_for_byte_a_hit_from_the_store() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    assert_eq!(app.get(PAGE).await.x_cache(), "MISS");
    let hot = app.get(PAGE).await;
    assert_eq!(hot.x_cache(), "HIT");
    assert_eq!(hot_entries(&app), 1);
    let metrics = String::from_utf8(app.get("/metrics").await.body).unwrap();
    assert!(metrics.contains("reelcache_hot_tier_bytes"));
    app.stop().await;

    // The same entry, read from sled and decompressed, with the hot tier off.
    let app = env.spawn_with(|s| s.cache.hot_bytes = 0).await;
    let cold = app.get(PAGE).await;
    assert_eq!(cold.x_cache(), "HIT");
    assert_eq!(hot_entries(&app), 0);
    assert_eq!(hot.body, cold.body);
    for header in ["etag", "content-type", "cache-control"] {
        assert_eq!(hot.header(header), cold.header(header), "{header}");
    }
    assert_eq!(env.tmdb.count_page(DAY, 1), 1, "both were hits");
    app.stop().await;
}

#[tokio::test]
async fn a_refreshed_page_replaces_its_hot_copy() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    app.get(PAGE).await;
    let before = app.get(PAGE).await;
    assert_eq!(before.x_cache(), "HIT");

    // TMDB's page changes; the entry expires into the revalidate window and is refreshed in
    // the background.
    let changed =
        r#"{"page":1,"results":[{"id":42,"title":"Changed"}],"total_pages":1,"total_results":1}"#;
    env.tmdb.set(DAY, Behaviour::Body(changed.to_owned()));
    app.clock.advance(Duration::from_secs(3600 + 1));
    assert_eq!(app.get(PAGE).await.x_cache(), "STALE");
    let mut after = None;
    for _ in 0..200 {
        let reply = app.get(PAGE).await;
        if reply.x_cache() == "HIT" {
            after = Some(reply);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let after = after.expect("the refreshed page becomes a hit");
    assert_eq!(after.json()["data"][0]["title"], "Changed");
    assert_ne!(after.header("etag"), before.header("etag"));
    // And it stays the new page on later (hot) hits.
    let again = app.get(PAGE).await;
    assert_eq!(again.body, after.body);
    app.stop().await;
}

#[tokio::test]
async fn an_expired_hot_page_is_not_served_as_fresh() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    app.get(PAGE).await;
    assert_eq!(app.get(PAGE).await.x_cache(), "HIT");
    app.clock.advance(Duration::from_secs(3600));
    env.tmdb.set(DAY, Behaviour::Status(500));
    let reply = app.get(PAGE).await;
    assert_eq!((reply.status, reply.x_cache()), (200, "STALE"));
    app.stop().await;
}
