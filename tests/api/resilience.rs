//! The bad days: herds on cold pages, TMDB slow, failing, rate-limiting or gone; the breaker,
//! the client limiter, prefetch, the sweeper and the size bound.

use std::time::Duration;

use reelcache::dev::fake_tmdb::Behaviour;
use reelcache::tmdb::budget::BreakerState;

use crate::helpers::{TestApp, TestEnv, eventually};

const DAY: &str = "/trending/movie/day";

#[tokio::test]
async fn two_hundred_concurrent_requests_for_a_cold_page_make_one_tmdb_request() {
    let env = TestEnv::new().await;
    env.tmdb
        .set(DAY, Behaviour::Delay(Duration::from_millis(300)));
    let app = env.spawn().await;
    let requests = (0..200).map(|_| app.get("/api/movies/trending/?page=3"));
    let replies = futures_util::future::join_all(requests).await;
    assert!(replies.iter().all(|r| r.status == 200));
    assert!(replies.iter().all(|r| r.body == replies[0].body));
    let expected = reelcache::dev::fake_tmdb::catalog::trending("day", 3, "en-US");
    assert_eq!(replies[0].json()["data"], expected["results"]);
    assert_eq!(
        env.tmdb.count_page(DAY, 3),
        1,
        "one TMDB request for 200 clients"
    );
    // Every other request joined the fetch (or, arriving after it was stored, hit the cache).
    let c = app.state().counters.snapshot();
    assert!(c.coalesced > 100, "{c:?}");
    assert_eq!(c.coalesced + c.hits, 199, "{c:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_fetch_survives_its_first_client_going_away() {
    let env = TestEnv::new().await;
    env.tmdb
        .set(DAY, Behaviour::Delay(Duration::from_millis(400)));
    let app = env.spawn().await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let first = impatient
        .get(format!("{}/api/movies/trending/?page=4", app.base))
        .send();
    let second = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        app.get("/api/movies/trending/?page=4").await
    };
    let (first, second) = tokio::join!(first, second);
    assert!(first.is_err(), "the first client gave up");
    assert_eq!((second.status, second.x_cache()), (200, "MISS"));
    let later = app.get("/api/movies/trending/?page=4").await;
    assert_eq!(later.x_cache(), "HIT", "the fetch was stored");
    assert_eq!(env.tmdb.count_page(DAY, 4), 1);
    app.stop().await;
}

/// Each way TMDB can fail, the answer without a stale copy, and that a stale copy answers instead.
#[tokio::test]
async fn every_failure_mode_with_and_without_a_stale_copy() {
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| s.tmdb.timeout = Duration::from_millis(300))
        .await;
    let modes: [(Behaviour, u16, &str); 6] = [
        (
            Behaviour::Delay(Duration::from_secs(2)),
            504,
            "UPSTREAM_TIMEOUT",
        ),
        (Behaviour::Hang, 504, "UPSTREAM_TIMEOUT"),
        (Behaviour::Status(500), 502, "UPSTREAM_ERROR"),
        (Behaviour::RateLimited(Some(1)), 503, "UPSTREAM_UNAVAILABLE"),
        (Behaviour::Reset, 502, "UPSTREAM_ERROR"),
        (Behaviour::Truncated, 502, "UPSTREAM_ERROR"),
    ];
    for (i, (mode, status, code)) in modes.into_iter().enumerate() {
        let page = 10 + i * 2;
        // A page that was stored earlier and has expired (past the revalidate window, within
        // the grace period), and a page never stored.
        let stale_path = format!("/api/movies/trending/?page={page}");
        let cold_path = format!("/api/movies/trending/?page={}", page + 1);
        let original = app.get(&stale_path).await;
        assert_eq!(original.status, 200);
        app.clock.advance(Duration::from_secs(3600 + 700));

        env.tmdb.set(DAY, mode.clone());
        let cold = app.get(&cold_path).await;
        assert_eq!(cold.status, status, "{mode:?} without a stale copy");
        assert_eq!(cold.error_code(), code, "{mode:?}");
        if status == 503 {
            assert!(cold.header("retry-after").is_some(), "{mode:?}");
        }
        let stale = app.get(&stale_path).await;
        assert_eq!(
            (stale.status, stale.x_cache()),
            (200, "STALE"),
            "{mode:?} with a stale copy"
        );
        assert_eq!(stale.body, original.body, "{mode:?}");
        assert!(stale.header("age").is_some());
        env.tmdb.reset();
        // Let a 429's pause run out before the next mode.
        if matches!(mode, Behaviour::RateLimited(_)) {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    }
    assert_eq!(
        app.state().cache.stats().await.unwrap().namespaces["trending_movies"].entries,
        6,
        "no failure was stored"
    );
    app.stop().await;
}

#[tokio::test]
async fn expired_entries_are_served_at_once_while_one_refresh_runs() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    app.get("/api/movies/trending/?page=1").await;
    app.clock.advance(Duration::from_secs(3600 + 60));
    env.tmdb
        .set(DAY, Behaviour::Delay(Duration::from_millis(200)));
    let replies =
        futures_util::future::join_all((0..20).map(|_| app.get("/api/movies/trending/?page=1")))
            .await;
    assert!(
        replies
            .iter()
            .all(|r| r.status == 200 && r.x_cache() == "STALE")
    );
    eventually("the background refresh", || async {
        env.tmdb.count_page(DAY, 1) == 2
    })
    .await;
    eventually("the refreshed entry", || async {
        app.state().counters.snapshot().revalidations == 1
    })
    .await;
    // Once stored, the refreshed copy is a plain hit.
    becomes_a_hit(&app, "/api/movies/trending/?page=1").await;
    assert_eq!(
        env.tmdb.count_page(DAY, 1),
        2,
        "one refresh for twenty stale answers"
    );
    app.stop().await;
}

#[tokio::test]
async fn search_and_popular_fall_back_to_their_last_good_answer_only_when_tmdb_fails() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let popular = app.get("/api/movies/popular/?page=2").await;
    let search = app.get("/api/movies/search/?query=river").await;
    assert_eq!((popular.x_cache(), search.x_cache()), ("BYPASS", "BYPASS"));
    // While TMDB answers, it is asked every time.
    assert_eq!(
        app.get("/api/movies/popular/?page=2").await.x_cache(),
        "BYPASS"
    );
    env.tmdb.set("/movie/popular", Behaviour::Status(503));
    env.tmdb.set("/search/", Behaviour::Hang);
    let app_search_timeout = app.get("/api/movies/popular/?page=2").await;
    assert_eq!(
        (app_search_timeout.status, app_search_timeout.x_cache()),
        (200, "STALE")
    );
    assert_eq!(app_search_timeout.json()["data"], popular.json()["data"]);
    let never = app.get("/api/movies/popular/?page=3").await;
    assert_eq!(
        never.status, 502,
        "no last good answer for a page never fetched"
    );
    app.stop().await;

    let app = env
        .spawn_with(|s| s.tmdb.timeout = Duration::from_millis(200))
        .await;
    let fallback = app.get("/api/movies/search/?query=RIVER").await;
    assert_eq!(
        (fallback.status, fallback.x_cache()),
        (200, "STALE"),
        "case-folded key"
    );
    assert_eq!(fallback.json()["data"], search.json()["data"]);
    app.stop().await;
}

#[tokio::test]
async fn retries_hide_short_failures_within_the_deadline() {
    let env = TestEnv::new().await;
    env.tmdb.set_times(DAY, Behaviour::Status(502), 2);
    let app = env.spawn_with(|s| s.resilience.retries = 2).await;
    let r = app.get("/api/movies/trending/?page=1").await;
    assert_eq!((r.status, r.x_cache()), (200, "MISS"));
    assert_eq!(env.tmdb.count_page(DAY, 1), 3);
    assert_eq!(app.state().counters.snapshot().retries, 2);
    // A 404 is an answer, not a failure: never retried.
    let missing = app.get("/api/movies/999999/").await;
    assert_eq!(missing.status, 404);
    assert_eq!(env.tmdb.count("/movie/999999"), 1);
    app.stop().await;
}

#[tokio::test]
async fn the_circuit_breaker_opens_fails_fast_and_closes() {
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| {
            s.resilience.breaker_threshold = 3;
            s.resilience.breaker_cooldown = Duration::from_millis(500);
        })
        .await;
    let budget = || app.state().movies.tmdb().budget().breaker_state();
    app.get("/api/movies/trending/?page=1").await; // stored, for the stale case below
    app.clock.advance(Duration::from_secs(3600 + 700));
    env.tmdb.set(DAY, Behaviour::Status(500));
    for page in 2..=4 {
        assert_eq!(
            app.get(&format!("/api/movies/trending/?page={page}"))
                .await
                .status,
            502
        );
    }
    assert_eq!(budget(), BreakerState::Open);
    let asked = env.tmdb.total();
    let fast = app.get("/api/movies/trending/?page=5").await;
    assert_eq!(fast.status, 503);
    assert_eq!(fast.error_code(), "UPSTREAM_UNAVAILABLE");
    assert!(fast.header("retry-after").is_some());
    let stale = app.get("/api/movies/trending/?page=1").await;
    assert_eq!(
        (stale.status, stale.x_cache()),
        (200, "STALE"),
        "stale copies still answer"
    );
    assert_eq!(
        env.tmdb.total(),
        asked,
        "TMDB was not called while the breaker was open"
    );

    env.tmdb.reset();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let probe = app.get("/api/movies/trending/?page=5").await;
    assert_eq!(probe.status, 200);
    assert_eq!(budget(), BreakerState::Closed);
    app.stop().await;
}

#[tokio::test]
async fn a_429_pauses_every_upstream_call_for_its_retry_after() {
    let env = TestEnv::new().await;
    env.tmdb.set_times(DAY, Behaviour::RateLimited(Some(2)), 1);
    let app = env
        .spawn_with(|s| s.resilience.deadline = Duration::from_millis(500))
        .await;
    let limited = app.get("/api/movies/trending/?page=1").await;
    assert_eq!(limited.status, 503);
    assert_eq!(limited.header("retry-after"), Some("2"));
    // A different endpoint during the pause: refused without asking TMDB.
    let id = reelcache::dev::fake_tmdb::catalog::id_of(3);
    let during = app.get(&format!("/api/movies/{id}/")).await;
    assert_eq!(during.status, 503);
    assert!(during.header("retry-after").is_some());
    assert_eq!(env.tmdb.total(), 1, "nothing was sent during the pause");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(app.get(&format!("/api/movies/{id}/")).await.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn the_client_limiter_refuses_bursts_and_ignores_spoofed_forwarding() {
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| {
            s.clients.rps = 1;
            s.clients.burst = 3;
        })
        .await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        // A fresh X-Forwarded-For each time: not believed, the peer is not a trusted proxy.
        let xff = format!("203.0.113.{i}");
        let r = app
            .request(
                reqwest::Method::GET,
                "/api/movies/trending/",
                &[("x-forwarded-for", &xff)],
            )
            .await;
        if r.status == 429 {
            assert_eq!(r.error_code(), "RATE_LIMITED");
            assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
        }
        statuses.push(r.status);
    }
    // The first is a miss, the next two hot-tier hits: both paths take from the allowance, and
    // each refusal is counted once.
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    assert_eq!(app.state().counters.snapshot().client_rate_limited, 2);
    assert_eq!(app.state().counters.snapshot().hits, 2);
    app.stop().await;

    // Behind a trusted proxy, each forwarded client has its own allowance.
    let app = env
        .spawn_with(|s| {
            s.clients.rps = 1;
            s.clients.burst = 1;
            s.clients.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        })
        .await;
    for i in 0..3 {
        let xff = format!("198.51.100.{i}");
        let r = app
            .request(
                reqwest::Method::GET,
                "/api/movies/trending/",
                &[("x-forwarded-for", &xff)],
            )
            .await;
        assert_eq!(r.status, 200, "client {xff}");
    }
    let again = app
        .request(
            reqwest::Method::GET,
            "/api/movies/trending/",
            &[("x-forwarded-for", "198.51.100.0")],
        )
        .await;
    assert_eq!(again.status, 429);
    app.stop().await;
}

#[tokio::test]
async fn prefetch_makes_the_next_page_a_hit() {
    let env = TestEnv::new().await;
    let app = env.spawn_with(|s| s.resilience.prefetch = true).await;
    assert_eq!(
        app.get("/api/movies/trending/?page=1").await.x_cache(),
        "MISS"
    );
    eventually("page 2 prefetched", || async {
        env.tmdb.count_page(DAY, 2) == 1
    })
    .await;
    eventually("page 2 stored", || async {
        app.state().counters.snapshot().prefetches == 1
    })
    .await;
    becomes_a_hit(&app, "/api/movies/trending/?page=2").await;
    assert_eq!(env.tmdb.count_page(DAY, 2), 1);
    // The last page has no next page to fetch: recommendations stop at 2.
    let id = reelcache::dev::fake_tmdb::catalog::id_of(8);
    app.get(&format!("/api/movies/{id}/recommendations/?page=2"))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        env.tmdb
            .count_page(&format!("/movie/{id}/recommendations"), 3),
        0
    );
    app.stop().await;
}

/// Waits (bounded) until `path` is a cache hit: a background fetch has stored it.
async fn becomes_a_hit(app: &TestApp, path: &str) {
    for _ in 0..100 {
        if app.get(path).await.x_cache() == "HIT" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{path} never became a hit");
}

async fn entries(app: &TestApp) -> u64 {
    app.state().cache.stats().await.unwrap().entries
}

#[tokio::test]
async fn the_sweeper_removes_only_what_is_past_grace() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let sweeper = app.state().sweeper.clone().expect("online: a sweeper runs");
    app.get("/api/movies/trending/?page=1").await; // will be past grace
    app.clock.advance(Duration::from_secs(3600 + 20 * 3600));
    app.get("/api/movies/trending/?page=2").await; // will be stale, within grace
    app.clock.advance(Duration::from_secs(4 * 3600 + 1));
    app.get("/api/movies/trending/?page=3").await; // fresh
    assert_eq!(entries(&app).await, 3);

    let report = sweeper.run_once().await;
    assert_eq!(report.expired, 1);
    assert_eq!(entries(&app).await, 2);
    let asked = env.tmdb.total();
    assert_eq!(
        app.get("/api/movies/trending/?page=3").await.x_cache(),
        "HIT"
    );
    env.tmdb.set(DAY, Behaviour::Status(500));
    assert_eq!(
        app.get("/api/movies/trending/?page=2").await.x_cache(),
        "STALE",
        "kept for grace"
    );
    assert_eq!(
        app.get("/api/movies/trending/?page=1").await.status,
        502,
        "swept"
    );
    env.tmdb.reset();

    // Nothing fresh or within grace is ever swept.
    let again = sweeper.run_once().await;
    assert_eq!(again.expired, 0);
    assert!(env.tmdb.total() > asked);
    app.stop().await;
}

#[tokio::test]
async fn a_sweeper_told_to_stop_ends_its_pass_and_leaves_the_count_alone() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let sweeper = app.state().sweeper.clone().expect("online: a sweeper runs");
    app.get("/api/movies/trending/?page=1").await;
    app.clock.advance(Duration::from_secs(3600 + 24 * 3600 + 1)); // past grace
    let counted = app.state().cache.usage().stored_bytes();

    // What the server does when it stops, so that a pass over a large store does not hold up
    // the shutdown: the pass ends at its next entry.
    sweeper.stop();
    let report = sweeper.run_once().await;
    assert!(report.interrupted);
    assert_eq!(report.expired, 0);
    assert_eq!(entries(&app).await, 1, "left for the next start");
    assert_eq!(app.state().cache.usage().stored_bytes(), counted);
    app.stop().await;
}

/// `X-Cache` of one trending page.
async fn trending_x_cache(app: &TestApp, page: u32) -> String {
    app.get(&format!("/api/movies/trending/?page={page}"))
        .await
        .x_cache()
        .to_owned()
}

#[tokio::test]
async fn the_size_bound_evicts_the_least_recently_used_first() {
    let env = TestEnv::new().await;
    // Trending pages store ~4.6 KB each once re-encoded: room for about eight.
    let app = env.spawn_with(|s| s.cache.max_bytes = 40_000).await;
    let sweeper = app.state().sweeper.clone().unwrap();
    for page in 1..=10 {
        trending_x_cache_settled(&app, page).await;
        app.clock.advance(Duration::from_secs(1));
        if page == 5 {
            // Page 1 is read again: recently used, it must outlive pages 2..
            app.get("/api/movies/trending/?page=1").await;
        }
    }
    // The sweeper also runs by itself when a write crosses the bound; one more pass, on the
    // entries' final (re-encoded) sizes, settles it.
    assert!(app.state().cache.settle(Duration::from_secs(10)).await);
    let report = sweeper.run_once().await;
    assert!(app.state().counters.snapshot().evictions > 0);
    assert!(
        report.stored_bytes <= 40_000,
        "within the bound: {report:?}"
    );
    // Read newest first so the reads do not change what is evicted.
    assert_eq!(trending_x_cache(&app, 10).await, "HIT");
    assert_eq!(trending_x_cache(&app, 9).await, "HIT");
    assert_eq!(
        trending_x_cache(&app, 2).await,
        "MISS",
        "the least recently used went first"
    );
    app.stop().await;
}

/// A page's X-Cache, once its entry is re-encoded (so stored sizes are final).
async fn trending_x_cache_settled(app: &TestApp, page: u32) -> String {
    let x_cache = trending_x_cache(app, page).await;
    assert!(app.state().cache.settle(Duration::from_secs(10)).await);
    x_cache
}

#[tokio::test]
async fn a_page_served_from_the_hot_tier_counts_as_recently_used() {
    let env = TestEnv::new().await;
    // A page is stored at ~6.7 KB and re-encoded to ~4.6 KB: the bound holds four pages and a
    // new one, so each of pages 5-7 evicts one page, the least recently used.
    let app = env.spawn_with(|s| s.cache.max_bytes = 24_000).await;
    let sweeper = app.state().sweeper.clone().unwrap();
    for page in 1..=4 {
        trending_x_cache_settled(&app, page).await;
        app.clock.advance(Duration::from_secs(1));
    }
    // Served from memory: the store never sees this read, the size bound must.
    assert_eq!(trending_x_cache(&app, 1).await, "HIT");
    assert!(
        app.state()
            .cache
            .hot()
            .contains("trending_movies:day:page:1")
    );
    for page in 5..=7 {
        app.clock.advance(Duration::from_secs(1));
        trending_x_cache_settled(&app, page).await;
    }
    sweeper.run_once().await;
    assert!(app.state().counters.snapshot().evictions > 0);
    // Page 1 first: fetching page 2 again below makes room by evicting again.
    assert_eq!(trending_x_cache(&app, 1).await, "HIT");
    assert_eq!(
        trending_x_cache(&app, 2).await,
        "MISS",
        "stored after page 1, but used before it"
    );
    assert_eq!(env.tmdb.count_page(DAY, 1), 1);
    app.stop().await;
}

#[tokio::test]
async fn upstream_requests_in_flight_are_capped() {
    let env = TestEnv::new().await;
    env.tmdb
        .set(DAY, Behaviour::Delay(Duration::from_millis(100)));
    // One client here: no per-client share, so the cap under test is the global one.
    let app = env
        .spawn_with(|s| {
            s.resilience.max_concurrency = 3;
            s.resilience.client_share = 100;
        })
        .await;
    let requests = (1..=12).map(|page| app.get_owned(format!("/api/movies/trending/?page={page}")));
    let replies = futures_util::future::join_all(requests).await;
    assert!(replies.iter().all(|r| r.status == 200));
    assert_eq!(env.tmdb.total(), 12);
    assert!(
        env.tmdb.max_in_flight() <= 3,
        "{} at once",
        env.tmdb.max_in_flight()
    );
    assert!(env.tmdb.max_in_flight() >= 2, "requests did overlap");
    app.stop().await;
}
