//! Redis as the shared cache of several instances, against a real `redis-server` the tests start
//! themselves: the key layout and TTLs, clears that leave foreign keys alone, two instances
//! sharing pages and TMDB fetches, the shared TMDB rate, a dead lock holder, and Redis killed and
//! restarted under traffic.

use std::time::{Duration, Instant};

use reelcache::cache::envelope;
use reelcache::config::{RedisUrl, Settings};
use reelcache::dev::fake_tmdb::Behaviour;

use crate::helpers::{TestApp, TestEnv, eventually, make_staff, start, test_settings};
use crate::redis_server::RedisServer;

const DAY: &str = "/trending/movie/day";
const PREFIX: &str = "reelcache:v1:";

fn use_redis(settings: &mut Settings, redis: &RedisServer) {
    settings.cache.url = Some(RedisUrl::parse(&redis.url()).unwrap());
    // Generous for a loaded CI machine; the outage test sets its own.
    settings.cache.redis_timeout = Duration::from_secs(2);
}

/// One instance on `redis`, with its own fake TMDB and data directory.
async fn instance(
    redis: &RedisServer,
    customize: impl FnOnce(&mut Settings),
) -> (TestEnv, TestApp) {
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| {
            use_redis(s, redis);
            customize(s);
        })
        .await;
    (env, app)
}

/// Two instances with data directories (and so SQLite databases) of their own, one fake TMDB
/// and one Redis.
struct Pair {
    env: TestEnv,
    _other_dir: tempfile::TempDir,
    a: TestApp,
    b: TestApp,
}

async fn pair(redis: &RedisServer, customize: impl Fn(&mut Settings)) -> Pair {
    let (env, a) = instance(redis, &customize).await;
    let other_dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(other_dir.path(), &env.tmdb.base_url());
    use_redis(&mut settings, redis);
    customize(&mut settings);
    let b = start(settings).await;
    Pair {
        env,
        _other_dir: other_dir,
        a,
        b,
    }
}

pub async fn entries_are_the_same_envelopes_under_the_prefix_with_a_ttl_of_expiry_plus_grace() {
    let redis = RedisServer::start();
    let (env, app) = instance(&redis, |_| {}).await;
    let first = app.get("/api/movies/trending/?page=2").await;
    assert_eq!((first.status, first.x_cache()), (200, "MISS"));
    let key = format!("{PREFIX}trending_movies:day:page:2");
    let bytes: Vec<u8> = redis.query(redis::cmd("GET").arg(&key));
    let decoded = envelope::decode(&bytes).expect("a cache envelope");
    let expected = reelcache::dev::fake_tmdb::catalog::trending("day", 2, "en-US");
    let payload: serde_json::Value = serde_json::from_slice(&decoded.payload().unwrap()).unwrap();
    assert_eq!(payload, expected["results"]);
    // TTL = the 1 h TTL + the 24 h stale grace: Redis drops what nothing may serve any more.
    let pttl: i64 = redis.query(redis::cmd("PTTL").arg(&key));
    let want = (3600 + 24 * 3600) * 1000;
    assert!(pttl <= want && pttl > want - 60_000, "PTTL {pttl}");
    assert_eq!(
        app.get("/api/movies/trending/?page=2").await.x_cache(),
        "HIT"
    );
    assert_eq!(env.tmdb.count_page(DAY, 2), 1);
    // Stats and metrics report Redis's numbers.
    let stats = reelcache::service::cache_admin::stats(app.state())
        .await
        .unwrap();
    assert_eq!(stats["backend"], "redis");
    assert_eq!(stats["entries"], 1);
    assert!(
        stats["redis"]["used_memory"].as_u64().unwrap() > 0,
        "{stats}"
    );
    let metrics = String::from_utf8(app.get("/metrics").await.body).unwrap();
    assert!(
        metrics.contains("reelcache_redis_used_memory_bytes"),
        "{metrics}"
    );
    app.stop().await;
}

/// Whatever another program (or a bad write) leaves under a cache key is a miss, replaced by
/// the next fetch; never a 500.
pub async fn a_damaged_value_in_redis_is_a_miss_and_is_replaced() {
    let redis = RedisServer::start();
    let (env, app) = instance(&redis, |_| {}).await;
    let id = reelcache::dev::fake_tmdb::catalog::id_of(8);
    let key = format!("{PREFIX}movie:{id}");
    let () = redis.query(redis::cmd("SET").arg(&key).arg("not an envelope"));
    let reply = app.get(&format!("/api/movies/{id}/")).await;
    assert_eq!((reply.status, reply.x_cache()), (200, "MISS"));
    let bytes: Vec<u8> = redis.query(redis::cmd("GET").arg(&key));
    assert!(envelope::decode(&bytes).is_ok(), "replaced by a good entry");
    assert_eq!(
        app.get(&format!("/api/movies/{id}/")).await.x_cache(),
        "HIT"
    );
    assert_eq!(env.tmdb.count(&format!("/movie/{id}")), 1);
    assert_eq!(app.state().counters.snapshot().corrupt_entries, 1);
    app.stop().await;
}

pub async fn clears_use_the_prefix_and_leave_foreign_keys_alone() {
    let redis = RedisServer::start();
    let foreign = [
        "sessions:42",
        "reelcache:v2:movie:550",
        "reelcachexv1:movie:550",
        "movie:550",
    ];
    for key in foreign {
        let () = redis.query(redis::cmd("SET").arg(key).arg("not ours"));
    }
    let (env, app) = instance(&redis, |_| {}).await;
    let id = reelcache::dev::fake_tmdb::catalog::id_of(3);
    app.get("/api/movies/trending/?page=1").await;
    app.get(&format!("/api/movies/{id}/")).await;
    app.sign_up("root").await;
    make_staff(env.dir.path(), "root");
    let staff = app.log_in("root", "password123").await;

    let cleared = app
        .authed(
            reqwest::Method::DELETE,
            "/api/utils/cache/?namespace=movie",
            &staff.access,
        )
        .await;
    assert_eq!(cleared.json()["removed"], 1, "{}", cleared.json());
    assert_eq!(
        app.get(&format!("/api/movies/{id}/")).await.x_cache(),
        "MISS"
    );
    assert_eq!(
        app.get("/api/movies/trending/?page=1").await.x_cache(),
        "HIT"
    );

    let all = app
        .authed(reqwest::Method::DELETE, "/api/utils/cache/", &staff.access)
        .await;
    assert!(
        all.json()["removed"].as_u64().unwrap() >= 2,
        "{}",
        all.json()
    );
    let ours: Vec<String> = redis.query(redis::cmd("KEYS").arg(format!("{PREFIX}*")));
    assert!(
        ours.iter().all(|k| k.starts_with(&format!("{PREFIX}@"))),
        "only control keys may remain: {ours:?}"
    );
    for key in foreign {
        let value: Option<String> = redis.query(redis::cmd("GET").arg(key));
        assert_eq!(value.as_deref(), Some("not ours"), "{key} survived");
    }
    app.stop().await;
}

pub async fn a_page_fetched_by_one_instance_is_a_hit_on_the_other() {
    let redis = RedisServer::start();
    let p = pair(&redis, |_| {}).await;
    let id = reelcache::dev::fake_tmdb::catalog::id_of(5);
    let via_a = p.a.get(&format!("/api/movies/{id}/")).await;
    assert_eq!((via_a.status, via_a.x_cache()), (200, "MISS"));
    let via_b = p.b.get(&format!("/api/movies/{id}/")).await;
    assert_eq!((via_b.status, via_b.x_cache()), (200, "HIT"));
    assert_eq!(via_a.json(), via_b.json());
    assert_eq!(p.env.tmdb.count(&format!("/movie/{id}")), 1);
    // Profiles are per database: the same user id on the other instance is another user.
    p.a.sign_up("ann").await;
    let bob = p.b.sign_up("bob").await;
    let ann = p.a.log_in("ann", "password123").await;
    let profile_a =
        p.a.authed(reqwest::Method::GET, "/api/users/profile/", &ann.access)
            .await;
    let profile_b =
        p.b.authed(reqwest::Method::GET, "/api/users/profile/", &bob.access)
            .await;
    assert_eq!(profile_a.json()["data"]["username"], "ann");
    assert_eq!(profile_b.json()["data"]["username"], "bob");
    let again_b =
        p.b.authed(reqwest::Method::GET, "/api/users/profile/", &bob.access)
            .await;
    assert_eq!(again_b.json()["data"]["username"], "bob");
    assert_eq!(again_b.json()["cached"], true);
    p.a.stop().await;
    p.b.stop().await;
}

/// Makes Redis full, and configured to refuse writes rather than evict: every SET is then an
/// OOM error reply, while reads go on.
fn refuse_writes(redis: &RedisServer) {
    let () = redis.query(
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory-policy")
            .arg("noeviction"),
    );
    let () = redis.query(redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("1"));
}

pub async fn a_full_redis_refuses_writes_but_still_serves_what_it_holds() {
    let redis = RedisServer::start();
    let (env, app) = instance(&redis, |s| s.cache.hot_bytes = 0).await;
    app.get("/api/movies/trending/?page=1").await;
    assert_eq!(
        app.get("/api/movies/trending/?page=1").await.x_cache(),
        "HIT"
    );
    refuse_writes(&redis);
    let refused = app.get("/api/movies/trending/?page=2").await;
    assert_eq!((refused.status, refused.x_cache()), (200, "MISS"));
    // The refusal is that write's failure, not an outage: reads still come from Redis.
    assert_eq!(
        app.get("/api/movies/trending/?page=1").await.x_cache(),
        "HIT"
    );
    // Degraded (the cache cannot take writes), not down.
    let health = app
        .health_when("the refused writes", |r| r.json()["status"] != "healthy")
        .await;
    assert_eq!(
        (health.status, health.json()["status"].as_str()),
        (200, Some("degraded")),
        "{}",
        health.json()
    );
    assert_eq!(
        app.get("/api/movies/trending/?page=1").await.x_cache(),
        "HIT"
    );
    assert_eq!(env.tmdb.count_page(DAY, 1), 1);
    app.stop().await;
}

pub async fn a_page_redis_refused_to_store_is_not_kept_in_memory_either() {
    let redis = RedisServer::start();
    let (env, app) = instance(&redis, |_| {}).await;
    refuse_writes(&redis);
    assert_eq!(
        app.get("/api/movies/trending/?page=3").await.x_cache(),
        "MISS"
    );
    // Not stored, so not a hit: neither from Redis nor from the hot tier.
    assert_eq!(
        app.get("/api/movies/trending/?page=3").await.x_cache(),
        "MISS"
    );
    assert_eq!(env.tmdb.count_page(DAY, 3), 2);
    app.stop().await;
}

pub async fn a_hot_copy_outlives_a_clear_elsewhere_by_at_most_a_second() {
    let redis = RedisServer::start();
    let p = pair(&redis, |_| {}).await;
    assert_eq!(
        p.a.get("/api/movies/trending/?page=1").await.x_cache(),
        "MISS"
    );
    assert_eq!(
        p.a.get("/api/movies/trending/?page=1").await.x_cache(),
        "HIT"
    );
    // Cleared through the other instance: this one's hot tier does not hear of it, and asks
    // Redis again once its copy is a second old.
    p.b.state().cache.clear_prefix("").await.unwrap();
    p.a.clock.advance(Duration::from_millis(1001));
    assert_eq!(
        p.a.get("/api/movies/trending/?page=1").await.x_cache(),
        "MISS"
    );
    assert_eq!(p.env.tmdb.count_page(DAY, 1), 2);
    p.a.stop().await;
    p.b.stop().await;
}

pub async fn a_hundred_concurrent_misses_over_two_instances_make_one_tmdb_request() {
    let redis = RedisServer::start();
    // A lock that outlives the fetch even on a starved machine: this is about coalescing, the
    // lock's expiry has a test of its own.
    let p = pair(&redis, |s| s.cache.redis_lock_ttl = Duration::from_secs(60)).await;
    p.env
        .tmdb
        .set(DAY, Behaviour::Delay(Duration::from_secs(1)));
    let requests = (0..100).map(|i| {
        let app = if i % 2 == 0 { &p.a } else { &p.b };
        app.get("/api/movies/trending/?page=7")
    });
    let replies = futures_util::future::join_all(requests).await;
    assert!(replies.iter().all(|r| r.status == 200));
    assert!(replies.iter().all(|r| r.json() == replies[0].json()));
    assert_eq!(
        p.env.tmdb.count_page(DAY, 7),
        1,
        "one TMDB request for 100 clients on two instances"
    );
    let fills =
        p.a.state().counters.snapshot().shared_fills + p.b.state().counters.snapshot().shared_fills;
    assert_eq!(fills, 1, "one instance waited for the other's fetch");
    p.a.stop().await;
    p.b.stop().await;
}

pub async fn an_instance_fetches_itself_when_the_lock_holder_dies() {
    let redis = RedisServer::start();
    let (env, app) = instance(&redis, |s| {
        s.cache.redis_lock_ttl = Duration::from_millis(600);
    })
    .await;
    // A crashed instance's lock: never released, it only expires.
    let () = redis.query(
        redis::cmd("SET")
            .arg(format!("{PREFIX}@lock:trending_movies:day:page:4"))
            .arg("dead-instance")
            .arg("PX")
            .arg(400),
    );
    let started = Instant::now();
    let reply = app.get("/api/movies/trending/?page=4").await;
    assert_eq!((reply.status, reply.x_cache()), (200, "MISS"));
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "it waited for the holder first"
    );
    assert_eq!(env.tmdb.count_page(DAY, 4), 1);
    // A holder that never lets go costs at most the lock's lifetime.
    let () = redis.query(
        redis::cmd("SET")
            .arg(format!("{PREFIX}@lock:trending_movies:day:page:5"))
            .arg("stuck-instance")
            .arg("PX")
            .arg(60_000),
    );
    let started = Instant::now();
    assert_eq!(app.get("/api/movies/trending/?page=5").await.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(env.tmdb.count_page(DAY, 5), 1);
    app.stop().await;
}

pub async fn the_tmdb_rate_is_shared_by_the_instances() {
    let redis = RedisServer::start();
    // 5 requests a second, for both together: 20 cold pages take at least 3 s (a burst of 5,
    // then 15 at 200 ms), where two separate limits would let them through in about 1 s.
    let p = pair(&redis, |s| {
        s.tmdb.rps = std::num::NonZeroU32::new(5).unwrap();
        // Only a lower bound on the time is asserted: a starved CI machine may take longer.
        s.resilience.deadline = Duration::from_secs(120);
        s.cache.redis_timeout = Duration::from_secs(10);
    })
    .await;
    let started = Instant::now();
    let requests = (1..=20).map(|page| {
        let app = if page % 2 == 0 { &p.a } else { &p.b };
        app.get_owned(format!("/api/movies/trending/?page={page}"))
    });
    let replies = futures_util::future::join_all(requests).await;
    let failed: Vec<String> = replies
        .iter()
        .filter(|r| r.status != 200)
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert!(
        failed.is_empty(),
        "after {:?}: {failed:?}",
        started.elapsed()
    );
    assert_eq!(p.env.tmdb.count(DAY), 20);
    assert!(
        started.elapsed() >= Duration::from_millis(2_500),
        "the instances together stayed under 5 requests a second: {:?}",
        started.elapsed()
    );
    p.a.stop().await;
    p.b.stop().await;
}

/// With the cache in Redis, `warm` can run from a data directory of its own while a server runs:
/// what it fetches is a hit on the server.
pub async fn warm_from_another_data_directory_fills_the_shared_cache() {
    let redis = RedisServer::start();
    let (env, app) = instance(&redis, |_| {}).await;
    let warm_dir = tempfile::tempdir().unwrap();
    let mut warm = crate::helpers::cli(warm_dir.path(), &["warm"]);
    warm.args(["--trending-pages", "1", "--popular-pages", "0"])
        .args(["--recommendation-pages", "0", "--no-details"])
        .env("REELCACHE_CACHE_URL", redis.url())
        .env("TMDB_API_KEY", crate::helpers::API_KEY)
        .env("TMDB_BASE_URL", env.tmdb.base_url());
    let output = tokio::task::spawn_blocking(move || warm.output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(env.tmdb.count_page(DAY, 1), 1);
    let reply = app.get("/api/movies/trending/?page=1").await;
    assert_eq!((reply.status, reply.x_cache()), (200, "HIT"));
    assert_eq!(env.tmdb.count_page(DAY, 1), 1);
    app.stop().await;
}

/// `rediss://` builds its TLS configuration (rustls, bundled roots) without panicking, and a peer
/// that is not a TLS Redis is only an unavailable cache.
pub async fn a_tls_url_that_cannot_connect_is_an_unavailable_cache() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), "http://127.0.0.1:9/3");
    settings.cache.url =
        Some(RedisUrl::parse(&format!("rediss://:pw@127.0.0.1:{port}/0")).unwrap());
    let store = reelcache::cache::RedisStore::open(
        &settings.cache,
        settings.resilience.stale_grace,
        reelcache::clock::Clock::system(),
        false,
    )
    .unwrap();
    let started = Instant::now();
    assert!(matches!(
        store.health().await,
        Err(reelcache::cache::CacheError::Unavailable(_))
    ));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "bounded by the timeout"
    );
}

/// Offline, the configured store is the data: the seed goes into an empty prefix, without TTLs
/// (nothing expires offline), and is served from there.
pub async fn offline_on_redis_seeds_an_empty_prefix_and_serves_it() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), "http://127.0.0.1:9/3");
    settings.tmdb.credential = None;
    settings.seed_snapshot = reelcache::config::SeedSnapshot::Builtin;
    use_redis(&mut settings, &redis);
    let app = start(settings).await;
    let reply = app.get("/api/movies/trending/?page=2").await;
    assert_eq!((reply.status, reply.x_cache()), (200, "STALE"));
    let pttl: i64 =
        redis.query(redis::cmd("PTTL").arg(format!("{PREFIX}trending_movies:day:page:2")));
    assert_eq!(pttl, -1, "no TTL offline");
    let search = app.get("/api/movies/search/?query=a").await;
    assert_eq!(
        search.status, 200,
        "offline search reads the titles from Redis"
    );
    app.stop().await;
}

pub async fn redis_killed_and_restarted_under_traffic_fails_no_request() {
    let mut redis = RedisServer::start();
    let (_env, app) = instance(&redis, |s| {
        s.cache.redis_timeout = Duration::from_millis(300);
    })
    .await;
    let health = async |app: &TestApp| app.get("/health/").await.json();
    assert_eq!(health(&app).await["checks"]["cache"]["status"], "ok");
    let id = reelcache::dev::fake_tmdb::catalog::id_of(1);
    assert_eq!(
        app.get(&format!("/api/movies/{id}/")).await.x_cache(),
        "MISS"
    );

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let client = app.client.clone();
        let base = app.base.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let paths = [
                    format!("/api/movies/{id}/"),
                    format!("/api/movies/trending/?page={}", 1 + n % 20),
                    format!("/api/movies/search/?query=harbor&page={}", 1 + n % 3),
                ];
                for path in paths {
                    let r = client.get(format!("{base}{path}")).send().await;
                    statuses.push(r.map(|r| r.status().as_u16()).unwrap_or(0));
                }
                n += 1;
            }
            statuses
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.kill();
    // Bounded waits, not sleeps for a TTL: long enough for traffic to hit the dead Redis.
    eventually("the cache to be reported degraded", || async {
        health(&app).await["checks"]["cache"]["status"] == "degraded"
    })
    .await;
    let v = health(&app).await;
    assert_eq!(v["status"], "degraded", "{v}");
    assert_eq!(
        app.get("/health/").await.status,
        200,
        "degraded is still in service"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::task::block_in_place(|| redis.restart());
    eventually("the cache to answer again", || async {
        health(&app).await["checks"]["cache"]["status"] == "ok"
    })
    .await;
    // Reconnected by itself: new entries are stored and served from Redis again.
    eventually("a page stored after the restart to be a hit", || async {
        app.get("/api/movies/trending/?page=33").await;
        app.get("/api/movies/trending/?page=33").await.x_cache() == "HIT"
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let statuses = traffic.await.unwrap();
    assert!(statuses.len() > 20, "traffic ran: {}", statuses.len());
    assert!(
        statuses.iter().all(|s| *s == 200),
        "no failed request: {:?}",
        statuses.iter().filter(|s| **s != 200).collect::<Vec<_>>()
    );
    app.stop().await;
}

/// Failed logins are counted in Redis by every instance: guesses spread over two instances use
/// up one allowance (per username, and per address across usernames), and a refused attempt
/// names when to come back.
pub async fn failed_logins_are_counted_across_instances() {
    let redis = RedisServer::start();
    let p = pair(&redis, |_| {}).await;
    let guess = |app: &crate::helpers::TestApp, username: &'static str| {
        let (base, client) = (app.base.clone(), app.client.clone());
        async move {
            let r = client
                .post(format!("{base}/api/users/login/"))
                .header("content-type", "application/json")
                .body(
                    serde_json::json!({"username": username, "password": "wrong-guess"})
                        .to_string(),
                )
                .send()
                .await
                .expect("answered");
            let retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), retry_after)
        }
    };
    // The allowance of one username (5) used up alternately through both instances.
    for i in 0..reelcache::service::auth::login_limiter::USERNAME_BURST {
        let app = if i % 2 == 0 { &p.a } else { &p.b };
        assert_eq!(guess(app, "mallory").await.0, 401, "guess {i}");
    }
    for app in [&p.a, &p.b] {
        let (status, retry_after) = guess(app, "Mallory").await;
        assert_eq!(status, 429, "the allowance is used up on every instance");
        let seconds: u64 = retry_after.expect("Retry-After").parse().unwrap();
        assert!((1..=30).contains(&seconds), "{seconds}");
    }
    assert_eq!(guess(&p.b, "someone-else").await.0, 401, "per username");
    p.a.stop().await;
    p.b.stop().await;
}

/// A client's requests are counted across instances: spread over two instances, it gets the
/// allowance of one (each instance alone would still admit it), and both refuse it with
/// `Retry-After` until its window ends.
pub async fn a_clients_requests_are_counted_across_instances() {
    let redis = RedisServer::start();
    // 20 requests per 20 s window (1 per second, bursts of 20).
    let p = pair(&redis, |s| {
        s.clients.rps = 1;
        s.clients.burst = 20;
    })
    .await;
    for i in 0..12 {
        for app in [&p.a, &p.b] {
            let r = app.get("/api/movies/trending/").await;
            assert_eq!(
                r.status, 200,
                "request {i}: within each instance's own burst"
            );
        }
    }
    // 24 in all, over the 20 of one window, once both instances have added their counts.
    let key = "reelcache:v1:@window:client:127.0.0.1";
    crate::helpers::eventually("both instances' counts in Redis", || async {
        redis
            .query::<Option<u64>>(redis::cmd("GET").arg(key))
            .is_some_and(|n| n >= 24)
    })
    .await;
    // An instance learns the total when it next adds its own counts: one more request to each
    // (13 and 13: each alone would still admit many more), one sync later both refuse.
    for app in [&p.a, &p.b] {
        app.get("/api/movies/trending/").await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    for app in [&p.a, &p.b] {
        assert_eq!(
            app.get("/api/movies/trending/").await.status,
            429,
            "refused by every instance"
        );
    }
    let refused = p.b.get("/api/movies/trending/").await;
    assert_eq!(refused.error_code(), "RATE_LIMITED");
    let seconds: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=20).contains(&seconds),
        "until the window ends: {seconds}"
    );
    p.a.stop().await;
    p.b.stop().await;
}
