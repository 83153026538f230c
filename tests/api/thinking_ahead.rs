//! The cache that thinks ahead (issue 19): negative entries, ...

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use reelcache::dev::fake_tmdb::Behaviour;
use reelcache::dev::fake_tmdb::catalog;

use crate::helpers::{TestEnv, eventually, make_staff};

/// A movie id the fake TMDB answers 404 for.
fn missing_id() -> u32 {
    (catalog::id_of(0)..)
        .find(|id| !catalog::exists(*id))
        .expect("an id outside the catalogue")
}

#[tokio::test]
async fn tmdb_404_for_a_movie_costs_one_call_per_negative_ttl() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let id = missing_id();
    let details = format!("/api/movies/{id}/");
    let recommendations = format!("/api/movies/{id}/recommendations/?page=1");
    for _ in 0..3 {
        for path in [&details, &recommendations] {
            let r = app.get(path).await;
            assert_eq!(
                (r.status, r.error_code()),
                (404, "MOVIE_NOT_FOUND".into()),
                "{path}"
            );
        }
    }
    assert_eq!(
        env.tmdb.count(&format!("/movie/{id}")),
        1,
        "details asked once"
    );
    assert_eq!(
        env.tmdb.count(&format!("/movie/{id}/recommendations")),
        1,
        "recommendations asked once"
    );
    let c = app.state().counters.snapshot();
    assert_eq!((c.negative_stored, c.negative_hits), (2, 4), "{c:?}");

    // Within the negative TTL (10 minutes by default): still not asked.
    app.clock.advance(Duration::from_secs(599));
    assert_eq!(app.get(&details).await.status, 404);
    assert_eq!(env.tmdb.count(&format!("/movie/{id}")), 1);
    // Past it: asked again (once), and remembered again.
    app.clock.advance(Duration::from_secs(2));
    assert_eq!(app.get(&details).await.status, 404);
    assert_eq!(app.get(&details).await.status, 404);
    assert_eq!(env.tmdb.count(&format!("/movie/{id}")), 2);
    app.stop().await;
}

#[tokio::test]
async fn an_outage_is_never_stored_as_anything() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let id = missing_id();
    let path = format!("/api/movies/{id}/");
    for behaviour in [
        Behaviour::Status(500),
        Behaviour::Status(503),
        Behaviour::RateLimited(Some(1)),
        Behaviour::Body("{\"id\":".into()),
        Behaviour::Truncated,
    ] {
        env.tmdb.set("/movie/", behaviour.clone());
        let before = env.tmdb.count(&format!("/movie/{id}"));
        let r = app.get(&path).await;
        assert_ne!(r.status, 404, "{behaviour:?} is not TMDB saying no");
        assert!(r.status >= 500, "{behaviour:?}: {}", r.status);
        env.tmdb.reset();
        // The next request asks TMDB (which now says 404), nothing stood in its way.
        let r = app.get(&path).await;
        assert_eq!(r.status, 404, "after {behaviour:?}");
        assert!(
            env.tmdb.count(&format!("/movie/{id}")) >= before + 2,
            "{behaviour:?}"
        );
        // Forget the 404 for the next case.
        app.state()
            .cache
            .remove(&reelcache::cache::CacheKey::from_stored(format!(
                "movie:{id}"
            )))
            .await;
    }
    let c = app.state().counters.snapshot();
    assert_eq!(c.negative_stored, 5, "only TMDB's 404s were stored: {c:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_negative_entry_is_counted_apart_and_cleared_like_any_key() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let staff = app.sign_up("nadia").await;
    make_staff(env.dir.path(), "nadia");
    let id = missing_id();
    let path = format!("/api/movies/{id}/");
    app.get(&path).await;
    app.get(&path).await;
    let stats = app
        .authed(Method::GET, "/api/utils/cache/", &staff.access)
        .await
        .json();
    assert_eq!(stats["data"]["negative"]["stored"], 1, "{stats}");
    assert_eq!(stats["data"]["negative"]["hits"], 1, "{stats}");
    let metrics = app.get("/metrics").await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains("reelcache_negative_entries_stored_total 1")
            && text.contains("outcome=\"NEGATIVE\""),
        "{text}"
    );
    let cleared = app
        .authed(
            Method::DELETE,
            &format!("/api/utils/cache/?key=movie:{id}"),
            &staff.access,
        )
        .await;
    assert_eq!(cleared.status, 200);
    assert_eq!(cleared.json()["removed"], 1);
    app.get(&path).await;
    assert_eq!(
        env.tmdb.count(&format!("/movie/{id}")),
        2,
        "asked again once cleared"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_negative_ttl_of_zero_stores_nothing() {
    let env = TestEnv::new().await;
    let app = env.spawn_with(|s| s.ttl.negative = Duration::ZERO).await;
    let id = missing_id();
    for _ in 0..2 {
        assert_eq!(app.get(&format!("/api/movies/{id}/")).await.status, 404);
    }
    assert_eq!(env.tmdb.count(&format!("/movie/{id}")), 2);
    app.stop().await;
}

fn cache_status(reply: &crate::helpers::Reply) -> String {
    reply
        .header("cache-status")
        .unwrap_or_else(|| panic!("no Cache-Status: {:?}", reply.status))
        .to_owned()
}

#[tokio::test]
async fn cache_status_says_what_the_cache_did_beside_x_cache() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let page = "/api/movies/trending/?page=4";
    let miss = app.get(page).await;
    assert_eq!(miss.x_cache(), "MISS");
    assert_eq!(cache_status(&miss), "reelcache; fwd=miss; stored; ttl=3600");
    // A hit (the fast path's), with the freshness left.
    app.clock.advance(Duration::from_secs(100));
    let hit = app.get(page).await;
    assert_eq!(hit.x_cache(), "HIT");
    assert_eq!(cache_status(&hit), "reelcache; hit; ttl=3500");
    // Past expiry, within the revalidate window: the stale copy answers while one refresh runs.
    app.clock.advance(Duration::from_secs(3500 + 5));
    env.tmdb.set("/trending/", Behaviour::Status(500));
    let stale = app.get(page).await;
    assert_eq!(stale.x_cache(), "STALE");
    assert_eq!(
        cache_status(&stale),
        "reelcache; fwd=stale; ttl=-5; detail=revalidating"
    );
    // Past the window, TMDB failing: the copy stands in for the error.
    app.clock.advance(Duration::from_secs(900));
    let fallback = app.get("/api/movies/trending/?page=5").await;
    assert_eq!(fallback.status, 502, "page 5 was never stored");
    let stale = app.get(page).await;
    assert_eq!(stale.x_cache(), "STALE");
    // 905 s past expiry, and the second or so the retries took (the clock runs on).
    let status = cache_status(&stale);
    let past: u64 = status
        .strip_prefix("reelcache; fwd=stale; ttl=-")
        .and_then(|rest| rest.strip_suffix("; detail=upstream-error"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{status}"));
    assert!((905..=910).contains(&past), "{status}");
    env.tmdb.reset();
    // Search is asked of TMDB every time.
    let search = app.get("/api/movies/search/?query=the").await;
    assert_eq!(search.x_cache(), "BYPASS");
    assert_eq!(cache_status(&search), "reelcache; fwd=bypass");
    app.stop().await;
}

#[tokio::test]
async fn cache_status_says_offline_when_an_old_copy_is_served_offline() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let page = "/api/movies/trending/?page=4";
    assert_eq!(app.get(page).await.status, 200);
    app.stop().await;
    // Offline, the same data directory: the copy is served whatever its age, and says so.
    let app = env.spawn_with(|s| s.offline = true).await;
    app.clock.advance(Duration::from_secs(7200));
    let offline = app.get(page).await;
    assert_eq!(offline.x_cache(), "STALE");
    let status = cache_status(&offline);
    assert!(
        status.starts_with("reelcache; fwd=stale; ttl=-") && status.ends_with("; detail=offline"),
        "{status}"
    );
    app.stop().await;
}

#[tokio::test]
async fn cache_status_marks_the_requests_that_joined_another_ones_fetch() {
    let env = TestEnv::new().await;
    env.tmdb
        .set("/trending/", Behaviour::Delay(Duration::from_millis(300)));
    let app = env.spawn().await;
    let replies =
        futures_util::future::join_all((0..8).map(|_| app.get("/api/movies/trending/?page=6")))
            .await;
    let statuses: Vec<String> = replies.iter().map(cache_status).collect();
    let led = statuses
        .iter()
        .filter(|s| *s == "reelcache; fwd=miss; stored; ttl=3600")
        .count();
    let joined = statuses
        .iter()
        .filter(|s| *s == "reelcache; fwd=miss; collapsed; stored; ttl=3600")
        .count();
    assert_eq!((led, joined), (1, 7), "{statuses:?}");
    assert_eq!(env.tmdb.count_page("/trending/movie/day", 6), 1);
    app.stop().await;
}

/// What `Cache-Status` says after the background refresh a stale answer started has landed.
async fn after_refresh(app: &crate::helpers::TestApp, path: &str) -> String {
    let stale = app.get(path).await;
    assert_eq!(stale.x_cache(), "STALE", "past expiry, within the window");
    crate::helpers::eventually("the refresh to land", || async {
        app.get(path).await.x_cache() == "HIT"
    })
    .await;
    cache_status(&app.get(path).await)
}

#[tokio::test]
async fn unchanged_refreshes_lengthen_the_ttl_and_a_change_shortens_it() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let id = catalog::id_of(7);
    let path = format!("/api/movies/{id}/");
    let day = 24 * 3600;
    assert_eq!(
        cache_status(&app.get(&path).await),
        format!("reelcache; fwd=miss; stored; ttl={day}")
    );
    // Refreshed unchanged: twice as long, then four times (the ceiling), and no further.
    let mut ttl = day;
    for expected in [2 * day, 4 * day, 4 * day] {
        app.clock.advance(Duration::from_secs(ttl + 1));
        assert_eq!(
            after_refresh(&app, &path).await,
            format!("reelcache; hit; ttl={expected}")
        );
        let reply = app.get(&path).await;
        assert_eq!(
            reply.header("cache-control"),
            Some(format!("public, max-age={expected}").as_str()),
            "Cache-Control says the TTL applied"
        );
        ttl = expected;
    }
    // TMDB's answer changes: half as long.
    let mut changed = catalog::details(id, "en-US");
    changed["title"] = "A New Title".into();
    env.tmdb.set(
        &format!("/movie/{id}"),
        Behaviour::Body(changed.to_string()),
    );
    app.clock.advance(Duration::from_secs(ttl + 1));
    assert_eq!(
        after_refresh(&app, &path).await,
        format!("reelcache; hit; ttl={}", 2 * day)
    );
    assert_eq!(app.get(&path).await.json()["data"]["title"], "A New Title");
    let stats = app.state().movies.dynamic_ttl_stats();
    assert_eq!((stats.lengthened, stats.shortened), (2, 1), "{stats:?}");
    assert_eq!(stats.calls_saved, 1.0 + 3.0 + 3.0 + 1.0, "{stats:?}");
    assert_eq!(
        env.tmdb.count(&format!("/movie/{id}")),
        5,
        "one call per refresh"
    );
    app.stop().await;
}

const DAY: &str = "/trending/movie/day";

/// Reads `paths` every ~10 minutes (the clock's) for 58 minutes of a 60-minute TTL: hot to the
/// end, the last read 2 minutes from expiry, past every key's refresh point (5-10 % before).
async fn read_for_an_hour(app: &crate::helpers::TestApp, paths: &[&str]) {
    for round in 0..7 {
        if round > 0 {
            app.clock.advance(Duration::from_secs(580));
        }
        for path in paths {
            assert_eq!(app.get(path).await.status, 200);
        }
    }
}

#[tokio::test]
async fn a_hot_entry_is_refreshed_before_it_expires_and_a_cold_one_is_not() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let (hot, cold) = (
        "/api/movies/trending/?page=1",
        "/api/movies/trending/?page=2",
    );
    assert_eq!(app.get(cold).await.x_cache(), "MISS");
    read_for_an_hour(&app, &[hot]).await;
    eventually("the hot page refreshed ahead", || async {
        env.tmdb.count_page(DAY, 1) == 2
    })
    .await;
    // A few more looks: the cold page is left to expire.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        env.tmdb.count_page(DAY, 2),
        1,
        "a cold page is not refreshed"
    );
    // Past the first copy's expiry: the hot page is fresh, the cold one stale.
    app.clock.advance(Duration::from_secs(300));
    let hot_reply = app.get(hot).await;
    assert_eq!(hot_reply.x_cache(), "HIT", "{}", cache_status(&hot_reply));
    assert!(cache_status(&hot_reply).starts_with("reelcache; hit; ttl="));
    assert_eq!(app.get(cold).await.x_cache(), "STALE");
    let stats = app.state().movies.refresh_ahead_stats();
    assert_eq!(
        (stats.ran, stats.spared, stats.skipped_for_budget),
        (1, 1, 0),
        "{stats:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn refresh_ahead_keeps_to_its_budget_and_is_off_at_zero() {
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| s.resilience.refresh_ahead_budget = 1)
        .await;
    let pages = [
        "/api/movies/trending/?page=1",
        "/api/movies/trending/?page=2",
        "/api/movies/trending/?page=3",
    ];
    read_for_an_hour(&app, &pages).await;
    // A refresh is counted when it starts; its TMDB request follows in its own task.
    eventually(
        "the due pages looked at, the one refresh asked of TMDB",
        || async {
            let stats = app.state().movies.refresh_ahead_stats();
            let asked: usize = (1..=3).map(|p| env.tmdb.count_page(DAY, p)).sum();
            stats.ran + stats.skipped_for_budget == 3 && asked > 3
        },
    )
    .await;
    let stats = app.state().movies.refresh_ahead_stats();
    assert_eq!((stats.ran, stats.skipped_for_budget), (1, 2), "{stats:?}");
    let refreshed: usize = (1..=3).map(|p| env.tmdb.count_page(DAY, p)).sum();
    assert_eq!(
        refreshed,
        3 + 1,
        "one refresh within a budget of one a minute"
    );
    app.stop().await;

    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| s.resilience.refresh_ahead_budget = 0)
        .await;
    read_for_an_hour(&app, &pages[..1]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(env.tmdb.count_page(DAY, 1), 1);
    assert!(!app.state().movies.refresh_ahead_stats().enabled);
    app.stop().await;
}

#[tokio::test]
async fn a_jump_into_the_middle_of_a_list_prefetches_the_page_before_as_well() {
    let env = TestEnv::new().await;
    let app = env.spawn_with(|s| s.resilience.prefetch = true).await;
    assert_eq!(
        app.get("/api/movies/trending/?page=5").await.x_cache(),
        "MISS"
    );
    eventually("both neighbours prefetched", || async {
        env.tmdb.count_page(DAY, 4) == 1 && env.tmdb.count_page(DAY, 6) == 1
    })
    .await;
    eventually("both stored", || async {
        app.get("/api/movies/trending/?page=4").await.x_cache() == "HIT"
            && app.get("/api/movies/trending/?page=6").await.x_cache() == "HIT"
    })
    .await;
    let c = app.state().counters.snapshot();
    assert_eq!((c.prefetches, c.prefetches_previous), (1, 1), "{c:?}");
    // Paging forward from the start: the next page only (page 2 was not stored before).
    assert_eq!(
        app.get("/api/movies/trending/?page=1").await.x_cache(),
        "MISS"
    );
    eventually("page 2 prefetched", || async {
        env.tmdb.count_page(DAY, 2) == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.state().counters.snapshot().prefetches_previous, 1);
    app.stop().await;
}

#[tokio::test]
async fn the_page_readers_go_on_to_is_refreshed_with_the_one_before() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let (first, second) = (
        "/api/movies/trending/?page=1",
        "/api/movies/trending/?page=2",
    );
    // Page 1 read every 10 minutes, page 2 every other time: not hot on its own (about 1.6
    // reads in the last 15 minutes' terms), but read more than half as often as page 1.
    for round in 0..7 {
        if round > 0 {
            app.clock.advance(Duration::from_secs(580));
        }
        assert_eq!(app.get(first).await.status, 200);
        if round % 2 == 0 {
            assert_eq!(app.get(second).await.status, 200);
        }
    }
    eventually("page 2 refreshed with page 1", || async {
        env.tmdb.count_page(DAY, 1) == 2 && env.tmdb.count_page(DAY, 2) == 2
    })
    .await;
    let c = app.state().counters.snapshot();
    assert_eq!(c.refreshed_with_previous_page, 1, "{c:?}");
    app.clock.advance(Duration::from_secs(300));
    assert_eq!(app.get(second).await.x_cache(), "HIT");
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_tmdb_host_moves_traffic_to_the_next() {
    let env = TestEnv::new().await;
    // Nothing listens on the first host's port: connections are refused.
    let dead = format!("http://127.0.0.1:{}/3", crate::helpers::free_port());
    let live = env.tmdb.base_url();
    let app = env
        .spawn_with(|s| s.tmdb.base_urls = vec![dead.clone(), live.clone()])
        .await;
    let first = app.get("/api/movies/trending/?page=1").await;
    assert_eq!(first.status, 200, "answered through the second host");
    let c = app.state().counters.snapshot();
    assert_eq!(
        (c.upstream_failovers, c.upstream_calls, c.retries),
        (1, 2, 0),
        "one attempt refused on the first host, handed to the second at once"
    );
    let health = app.get("/health/").await.json();
    assert_eq!(health["checks"]["tmdb"]["host"], live.as_str(), "{health}");
    // While the first host is passed over, requests go straight to the second.
    for page in 2..=4 {
        let path = format!("/api/movies/trending/?page={page}");
        assert_eq!(app.get(&path).await.status, 200);
    }
    let c = app.state().counters.snapshot();
    assert_eq!((c.upstream_failovers, c.upstream_calls), (1, 5), "{c:?}");
    assert_eq!(env.tmdb.count(DAY), 4);
    app.stop().await;
}

#[tokio::test]
async fn staff_start_a_warm_run_and_watch_it_keep_to_its_budget() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let staff = app.sign_up("wanda").await;
    make_staff(env.dir.path(), "wanda");
    let user = app.sign_up("ursula").await;
    let warm = "/api/utils/cache/warm/";
    let none = app.authed(Method::GET, warm, &staff.access).await;
    assert_eq!((none.status, none.json()["data"].is_null()), (200, true));
    assert_eq!(
        app.authed(Method::POST, warm, &user.access).await.status,
        403
    );
    // Integers may come with a zero fraction, as JSON Schema counts them; a fraction is refused.
    let fraction = app
        .post(warm, &json!({"budget": 3.5}), Some(&staff.access))
        .await;
    assert_eq!(fraction.status, 400);
    for bad in [
        json!({"budget": 0}),
        json!({"trending_pages": 501}),
        json!({"concurrency": 0}),
        json!({"pages": 3}),
    ] {
        let r = app.post(warm, &bad, Some(&staff.access)).await;
        assert_eq!(
            (r.status, r.error_code()),
            (400, "VALIDATION_ERROR".into()),
            "{bad}"
        );
    }
    // Slow enough to see it running.
    env.tmdb
        .set("/movie/", Behaviour::Delay(Duration::from_millis(100)));
    let plan = json!({"trending_pages": 2, "popular_pages": 0, "recommendation_pages": 0,
                      "details": true, "concurrency": 2, "budget": 6});
    let started = app.post(warm, &plan, Some(&staff.access)).await;
    assert_eq!(started.status, 202, "{}", started.json());
    assert_eq!(started.json()["data"]["running"], true);
    assert_eq!(started.json()["data"]["trigger"], "staff");
    let again = app.post(warm, &plan, Some(&staff.access)).await;
    assert_eq!(again.status, 409, "one run at a time");
    eventually("the run to finish", || async {
        app.authed(Method::GET, warm, &staff.access).await.json()["data"]["running"] == false
    })
    .await;
    let run = app.authed(Method::GET, warm, &staff.access).await.json()["data"].clone();
    // Four trending pages, then details of their movies until the budget of 6 is spent.
    assert_eq!(run["fetched"], 6, "{run}");
    assert_eq!(run["budget_left"], 0, "{run}");
    assert!(run["left_over_budget"].as_u64().unwrap() > 0, "{run}");
    assert!(run["finished_at"].is_string(), "{run}");
    assert_eq!(
        env.tmdb.total(),
        6,
        "TMDB was asked what the budget allowed"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_scheduled_warm_run_fills_the_cache_unasked() {
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| {
            s.warm.every = Duration::from_millis(300);
            s.warm.trending_pages = 1;
            s.warm.popular_pages = 0;
            s.warm.recommendation_pages = 0;
            s.warm.details = false;
        })
        .await;
    eventually("a scheduled run", || async {
        env.tmdb.count_page(DAY, 1) == 1 && env.tmdb.count_page("/trending/movie/week", 1) == 1
    })
    .await;
    let run = app.state().warm_runs.status().expect("a run");
    assert_eq!(
        run.trigger,
        reelcache::service::warm_runs::Trigger::Schedule
    );
    assert_eq!(
        app.get("/api/movies/trending/?page=1").await.x_cache(),
        "HIT"
    );
    app.stop().await;
}

#[tokio::test]
async fn staff_refresh_an_entry_or_a_namespace_now() {
    let env = TestEnv::new().await;
    // A refresh answers once the new entry is stored: nothing here waits for writes.
    let app = env.spawn().await.unsettled();
    let staff = app.sign_up("rita").await;
    make_staff(env.dir.path(), "rita");
    let id = catalog::id_of(9);
    assert_eq!(app.get(&format!("/api/movies/{id}/")).await.status, 200);
    let refresh = |query: String| {
        let path = format!("/api/utils/cache/refresh/?{query}");
        let access = staff.access.clone();
        let app = &app;
        async move { app.authed(Method::POST, &path, &access).await }
    };
    app.clock.advance(Duration::from_secs(1));
    let refreshed_at = app.clock.now_ms();
    let r = refresh(format!("key=movie:{id}")).await;
    assert_eq!(r.status, 200, "{}", r.json());
    assert_eq!(r.json()["data"]["key"], format!("movie:{id}"));
    assert!(r.json()["data"]["expires_at"].is_string());
    assert_eq!(
        env.tmdb.count(&format!("/movie/{id}")),
        2,
        "fetched again though fresh"
    );
    let stored = app
        .state()
        .cache
        .get(
            &reelcache::cache::CacheKey::movie(reelcache::domain::MovieId::new(id).unwrap(), None),
            app.clock.now_ms(),
        )
        .await;
    let reelcache::cache::Lookup::Fresh(entry) = stored else {
        panic!("the refreshed entry is stored when the refresh answers")
    };
    assert!(
        entry.meta.stored_at_ms >= refreshed_at,
        "the refresh's entry, not the one a second before it"
    );
    let missing = refresh(format!("key=movie:{}", missing_id())).await;
    assert_eq!(missing.status, 404);
    for bad in ["key=popular_movies:page:1", "key=nonsense"] {
        assert_eq!(refresh(bad.to_owned()).await.status, 400, "{bad}");
    }
    let elsewhere = refresh(format!("key=movie:{id}&namespace=trending_movies")).await;
    assert_eq!(elsewhere.status, 404, "a key outside the namespace given");
    assert_eq!(refresh("namespace=user".to_owned()).await.status, 400);
    for page in [1, 2] {
        app.get(&format!("/api/movies/trending/?page={page}")).await;
    }
    // A namespace refresh covers what is stored: the two pages' writes first.
    assert!(
        app.state()
            .cache
            .settle_writes(Duration::from_secs(10))
            .await
    );
    let r = refresh("namespace=trending_movies".to_owned()).await;
    assert_eq!(r.status, 202, "{}", r.json());
    assert_eq!(r.json()["data"]["refreshing"], 2);
    eventually("both pages fetched again", || async {
        env.tmdb.count_page(DAY, 1) == 2 && env.tmdb.count_page(DAY, 2) == 2
    })
    .await;
    app.stop().await;
}

async fn feed_stats(app: &crate::helpers::TestApp) -> reelcache::service::change_feed::FeedStats {
    app.state().change_feed.stats()
}

#[tokio::test]
async fn the_change_feed_drops_what_tmdb_edited_and_goes_on_after_a_restart() {
    let env = TestEnv::new().await;
    let every = |s: &mut reelcache::config::Settings| s.changes.every = Duration::from_millis(300);
    let app = env.spawn_with(every).await;
    eventually("a first poll", || async {
        feed_stats(&app).await.state.polls >= 1
    })
    .await;
    let (edited, untouched) = (catalog::id_of(11), catalog::id_of(12));
    let details = |id: u32| format!("/api/movies/{id}/");
    let first = app.get(&details(edited)).await;
    assert_eq!(
        first.header("cache-control"),
        Some("public, max-age=604800"),
        "details kept 7 days while the feed works"
    );
    assert_eq!(app.get(&details(untouched)).await.x_cache(), "MISS");
    // TMDB's list: the edit, nulls, and 150 ids this server holds nothing of (two pages).
    env.tmdb.change_title(edited, "Edited Upstream");
    env.tmdb.list_changes(&[None, None]);
    let others: Vec<Option<u32>> = (1..=150).map(|n| Some(n * 7 + 1)).collect();
    env.tmdb.list_changes(&others);
    eventually("the poll that saw the edit", || async {
        feed_stats(&app).await.state.invalidated >= 1
    })
    .await;
    let reply = app.get(&details(edited)).await;
    assert_eq!(reply.json()["data"]["title"], "Edited Upstream");
    assert_eq!(
        app.get(&details(untouched)).await.x_cache(),
        "HIT",
        "left alone"
    );
    let stats = feed_stats(&app).await;
    assert!(stats.enabled && stats.state.invalidated >= 1, "{stats:?}");
    assert!(
        stats.state.null_ids >= 2 && stats.state.pages >= 2,
        "{stats:?}"
    );
    let asked = env
        .tmdb
        .requests()
        .into_iter()
        .filter(|r| r.path == "/movie/changes")
        .collect::<Vec<_>>();
    assert!(
        asked.iter().any(|r| r.param("page") == Some("2")),
        "paged through"
    );
    let today = &reelcache::clock::rfc3339(app.clock.now_ms() as i64)[..10];
    assert!(
        asked.iter().all(|r| r.param("end_date") == Some(today)),
        "{asked:?}"
    );
    let polls = stats.state.polls;
    app.stop().await;

    // The state is on disk: a restart goes on from where the last poll ended.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.dir.path().join("change-feed.json")).unwrap())
            .unwrap();
    assert_eq!(saved["version"], 1);
    assert!(saved["polls"].as_u64().unwrap() >= polls);
    let app = env.spawn_with(every).await;
    let before = feed_stats(&app).await.state;
    assert!(before.polls >= polls, "{before:?}");
    eventually("a poll after the restart", || async {
        feed_stats(&app).await.state.polls > before.polls
    })
    .await;
    let window = feed_stats(&app).await.state.last_window.unwrap();
    assert_eq!(window.0, today, "started where the last poll ended");
    app.stop().await;
}

#[tokio::test]
async fn a_failing_change_feed_falls_back_to_the_normal_ttl() {
    let env = TestEnv::new().await;
    env.tmdb.set("/movie/changes", Behaviour::Status(500));
    let app = env
        .spawn_with(|s| s.changes.every = Duration::from_millis(300))
        .await;
    eventually("a failed poll", || async {
        feed_stats(&app).await.state.failures >= 1
    })
    .await;
    let stats = feed_stats(&app).await;
    assert_eq!(stats.state.polls, 0);
    assert!(stats.state.last_error.is_some(), "{stats:?}");
    let id = catalog::id_of(13);
    let reply = app.get(&format!("/api/movies/{id}/")).await;
    assert_eq!(reply.header("cache-control"), Some("public, max-age=86400"));
    app.stop().await;
}

#[tokio::test]
async fn staff_statistics_show_the_last_hour_and_day_and_recommend() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let staff = app.sign_up("alba").await;
    make_staff(env.dir.path(), "alba");
    let page = "/api/movies/trending/?page=1";
    for _ in 0..4 {
        app.get(page).await;
    }
    app.get(&format!("/api/movies/{}/", missing_id())).await;
    app.get(&format!("/api/movies/{}/", missing_id())).await;
    let stats = async |app: &crate::helpers::TestApp| {
        app.authed(Method::GET, "/api/utils/cache/", &staff.access)
            .await
            .json()["data"]["analytics"]
            .clone()
    };
    let analytics = stats(&app).await;
    let hour = &analytics["last_hour"];
    assert_eq!(hour["trending_movies"]["miss"], 1, "{analytics}");
    assert_eq!(hour["trending_movies"]["hit"], 3, "{analytics}");
    assert_eq!(hour["movie"]["negative"], 1, "{analytics}");
    assert_eq!(analytics["last_day"]["trending_movies"]["hit"], 3);
    assert_eq!(analytics["tmdb_calls_saved"]["cache"], 3);
    assert_eq!(analytics["tmdb_calls_saved"]["negative_entries"], 1);
    assert!(analytics["recommendations"].is_array(), "{analytics}");
    // An hour later the hour is empty; the day still holds it.
    app.clock.advance(Duration::from_secs(3660));
    let analytics = stats(&app).await;
    assert_eq!(analytics["last_hour"]["trending_movies"]["hit"], 0);
    assert_eq!(analytics["last_day"]["trending_movies"]["hit"], 3);
    let metrics = String::from_utf8_lossy(&app.get("/metrics").await.body).into_owned();
    for family in [
        "reelcache_hot_hits_total 3",
        "reelcache_refresh_ahead_total{event=\"ran\"}",
        "reelcache_dynamic_ttl_total{change=\"lengthened\"}",
        "reelcache_change_feed_polls_total{result=\"ok\"}",
    ] {
        assert!(metrics.contains(family), "{family} in {metrics}");
    }
    app.stop().await;
}
