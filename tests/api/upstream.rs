//! Upstream answers are data, not trust: a `Retry-After` of any size or form, a component that
//! dies, identical searches in flight, one client's flood against another's cold page, and a
//! stale copy that answers fast while TMDB hangs.

use std::time::{Duration, Instant, SystemTime};

use reelcache::dev::fake_tmdb::Behaviour;
use reelcache::dev::fake_tmdb::catalog;

use crate::helpers::{TestApp, TestEnv, eventually};

const DAY: &str = "/trending/movie/day";

/// GETs `path` as the client at `ip` (through a trusted proxy on 127.0.0.1).
async fn get_as(app: &TestApp, ip: &str, path: &str) -> crate::helpers::Reply {
    app.request(reqwest::Method::GET, path, &[("x-forwarded-for", ip)])
        .await
}

#[tokio::test]
async fn a_retry_after_of_any_size_or_form_pauses_at_most_the_ceiling_and_never_breaks_the_server()
{
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| s.resilience.max_retry_after = Duration::from_secs(1))
        .await;
    let in_an_hour = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3600));
    let values = [
        "18446744073709551615".to_owned(),
        "99999999999999999999999999999".to_owned(),
        in_an_hour,
        "garbage".to_owned(),
    ];
    for (i, value) in values.iter().enumerate() {
        let page = 10 + i as u32 * 3;
        env.tmdb
            .set_times(DAY, Behaviour::RateLimitedWith(value.clone()), 1);
        let limited = app.get(&format!("/api/movies/trending/?page={page}")).await;
        assert_eq!(limited.status, 503, "{value}: the 429's bounded error");
        assert_eq!(limited.error_code(), "UPSTREAM_UNAVAILABLE", "{value}");
        let retry_after: u64 = limited
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{value}: a Retry-After in seconds"));
        assert!(
            retry_after <= 1,
            "{value}: Retry-After {retry_after} past the ceiling"
        );
        // The pause holds every call, search and popular included, and lasts at most the ceiling:
        // nothing is dropped, nothing is a 500.
        let started = Instant::now();
        let (cold, search, popular) = tokio::join!(
            app.get_owned(format!("/api/movies/trending/?page={}", page + 1)),
            app.get_owned(format!("/api/movies/search/?query=river&page={}", i + 1)),
            app.get_owned(format!("/api/movies/popular/?page={}", i + 1)),
        );
        for (what, reply) in [("cold", &cold), ("search", &search), ("popular", &popular)] {
            assert_eq!(reply.status, 200, "{value}: {what} after the pause");
        }
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{value}: paused {:?}, ceiling 1 s",
            started.elapsed()
        );
        let health = app.get("/health/").await;
        assert_eq!(health.status, 200, "{value}");
        assert_eq!(health.json()["status"], "healthy", "{value}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_component_that_stopped_working_shows_in_health() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    assert_eq!(app.get("/health/").await.json()["status"], "healthy");
    let ended = app
        .state()
        .components
        .spawn("test_task", async { panic!("the task broke") })
        .await
        .expect("the supervisor itself does not panic");
    assert_eq!(ended, None::<()>);
    let health = app
        .health_when("the stopped task", |r| r.json()["status"] != "healthy")
        .await;
    assert_eq!(health.status, 200, "the service still answers");
    let v = health.json();
    assert_eq!(v["status"], "degraded", "{v}");
    let failing = &v["checks"]["components"]["failing"][0];
    assert_eq!(failing["name"], "test_task", "{v}");
    assert_eq!(failing["status"], "stopped", "{v}");
    assert_eq!(failing["error"], "the task broke", "{v}");
    // Pages are still served.
    assert_eq!(app.get("/api/movies/trending/").await.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn identical_concurrent_searches_and_populars_share_one_tmdb_call() {
    let env = TestEnv::new().await;
    env.tmdb
        .set("/search/", Behaviour::Delay(Duration::from_secs(2)));
    // Long enough that all 100 requests are in flight before the first answer, even on a
    // loaded machine.
    env.tmdb
        .set("/movie/popular", Behaviour::Delay(Duration::from_secs(2)));
    let app = env.spawn().await;
    let searches = (0..50).map(|_| app.get("/api/movies/search/?query=river&page=2"));
    let populars = (0..50).map(|_| app.get("/api/movies/popular/?page=3&region=FR"));
    let other = app.get("/api/movies/search/?query=lake&page=2");
    let (searches, populars, other) = tokio::join!(
        futures_util::future::join_all(searches),
        futures_util::future::join_all(populars),
        other
    );
    for replies in [&searches, &populars] {
        assert!(
            replies
                .iter()
                .all(|r| r.status == 200 && r.x_cache() == "BYPASS")
        );
        assert!(replies.iter().all(|r| r.body == replies[0].body));
    }
    let expected = catalog::search("river", 2, "en-US");
    assert_eq!(searches[0].json()["data"], expected["results"]);
    assert_eq!(other.status, 200);
    let asked = |query: &str| {
        env.tmdb
            .requests()
            .iter()
            .filter(|r| r.path == "/search/movie" && r.param("query") == Some(query))
            .count()
    };
    assert_eq!(asked("river"), 1, "one TMDB call for 50 identical searches");
    assert_eq!(asked("lake"), 1, "a different query is its own call");
    assert_eq!(env.tmdb.count_page("/movie/popular", 3), 1);
    // Once answered, the next search goes to TMDB again: nothing is served from cache.
    app.get("/api/movies/search/?query=river&page=2").await;
    assert_eq!(asked("river"), 2);
    app.stop().await;
}

/// Client A asks for distinct cold pages as fast as it can; client B's single cold page still
/// goes out at once, within B's share of the upstream budget.
#[tokio::test]
async fn one_clients_flood_of_misses_leaves_room_for_another_clients_cold_page() {
    for kind in ["details", "search"] {
        let env = TestEnv::new().await;
        let server = env
            .spawn_with(|s| {
                s.tmdb.rps = std::num::NonZeroU32::new(5).unwrap();
                s.resilience.deadline = Duration::from_secs(3);
                s.clients.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
            })
            .await;
        let app = &server;
        let path = |n: u32| match kind {
            "details" => format!("/api/movies/{}/", catalog::id_of(n)),
            _ => format!("/api/movies/search/?query=flood{n}"),
        };
        let path = &path;
        let flood = futures_util::future::join_all(
            (0..100).map(|n| async move { get_as(app, "10.0.0.1", &path(n)).await.status }),
        );
        let other = async {
            // Let the flood fill the queue first.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let started = Instant::now();
            let reply = get_as(app, "10.0.0.2", &path(500)).await;
            (reply.status, started.elapsed())
        };
        let (flood, (status, waited)) = tokio::join!(flood, other);
        assert_eq!(status, 200, "{kind}: B's cold page");
        assert!(
            waited < Duration::from_millis(2500),
            "{kind}: B waited {waited:?} behind A's flood"
        );
        assert!(
            flood.iter().all(|s| [200, 503, 504].contains(s)),
            "{kind}: A gets answers or bounded errors: {flood:?}"
        );
        let asked = env.tmdb.requests();
        let b_asked = asked.iter().any(|r| match kind {
            "details" => r.path == format!("/movie/{}", catalog::id_of(500)),
            _ => r.param("query") == Some("flood500"),
        });
        assert!(b_asked, "{kind}: TMDB was asked for B's page");
        assert!(
            asked.len() < 40,
            "{kind}: {} TMDB calls: more than the rate allows",
            asked.len()
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn a_stale_copy_answers_within_the_soft_deadline_and_the_entry_is_refreshed() {
    let env = TestEnv::new().await;
    // The hanging fetch below ends at the HTTP timeout; the 3 s delay passes it.
    let app = env
        .spawn_with(|s| s.tmdb.timeout = Duration::from_secs(5))
        .await;
    let original = app.get("/api/movies/trending/?page=1").await;
    assert_eq!(original.status, 200);
    app.get("/api/movies/trending/?page=2").await;
    // Past the revalidate window, within the stale grace: TMDB is asked before the copy answers.
    app.clock.advance(Duration::from_secs(3600 + 700));

    // TMDB slow (3 s): the copy answers after about a second, and the fetch refreshes the entry.
    env.tmdb.set(DAY, Behaviour::Delay(Duration::from_secs(3)));
    let started = Instant::now();
    let stale = app.get("/api/movies/trending/?page=1").await;
    assert_eq!((stale.status, stale.x_cache()), (200, "STALE"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(stale.body, original.body);
    eventually("the refreshed entry", || async {
        app.get("/api/movies/trending/?page=1").await.x_cache() == "HIT"
    })
    .await;
    assert_eq!(env.tmdb.count_page(DAY, 1), 2, "one fetch refreshed it");

    // TMDB hanging: every client gets the copy fast; the one fetch in flight is shared.
    env.tmdb.set(DAY, Behaviour::Hang);
    for _ in 0..3 {
        let started = Instant::now();
        let stale = app.get("/api/movies/trending/?page=2").await;
        assert_eq!((stale.status, stale.x_cache()), (200, "STALE"));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(
        env.tmdb.count_page(DAY, 2),
        2,
        "one background fetch, not one per client"
    );
    app.stop().await;

    // Without a stale copy: today's bounded 504.
    let app = env
        .spawn_with(|s| s.tmdb.timeout = Duration::from_millis(300))
        .await;
    let cold = app.get("/api/movies/trending/?page=7").await;
    assert_eq!(cold.status, 504);
    assert_eq!(cold.error_code(), "UPSTREAM_TIMEOUT");
    app.stop().await;
}
