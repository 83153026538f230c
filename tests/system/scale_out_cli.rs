//! The real binary on Redis: the README's two-instance example, a Redis that is not there (the
//! service still answers, the log is rate-limited, the password never appears), and the
//! snapshot and cache commands against Redis.

use std::process::Child;
use std::time::Duration;

use reelcache::dev::fake_tmdb::FakeTmdb;

use crate::process::{command, listening_addr_async, signal, stderr_of, wait_exit};
use crate::redis_server::{PASSWORD, RedisServer};

const KEY: &str = "scale-out-test-key-0123456789abcdef";

async fn serve(dir: &std::path::Path, tmdb: &FakeTmdb, cache_url: &str) -> (Child, String) {
    let child = command(dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("TMDB_API_KEY", KEY)
        .env("TMDB_BASE_URL", tmdb.base_url())
        .env("REELCACHE_CACHE_URL", cache_url)
        .spawn()
        .unwrap();
    listening_addr_async(child).await
}

async fn stop(mut child: Child, dir: &std::path::Path) {
    signal(&child, "TERM");
    let status =
        tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(10)))
            .await
            .unwrap();
    assert!(status.success(), "{status:?}\n{}", stderr_of(dir));
}

async fn x_cache(addr: &str, path: &str) -> String {
    let reply = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    assert_eq!(reply.status(), 200);
    reply.headers()["x-cache"].to_str().unwrap().to_owned()
}

/// What "Scaling out" in the README shows, with port 0 instead of 8001 and 8002.
pub async fn the_readme_two_instance_example() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for line in [
        "REELCACHE_CACHE_URL=redis://127.0.0.1:6379/0",
        "reelcache --data-dir ./a --listen 127.0.0.1:8001 &",
        "reelcache --data-dir ./b --listen 127.0.0.1:8002 &",
        "--maxmemory-policy allkeys-lru",
    ] {
        assert!(readme.contains(line), "the README's example shows {line}");
    }
    let redis = RedisServer::start();
    let tmdb = FakeTmdb::start(Some(KEY)).await.unwrap();
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, a_addr) = serve(a_dir.path(), &tmdb, &redis.url()).await;
    let (b, b_addr) = serve(b_dir.path(), &tmdb, &redis.url()).await;
    let page = "/api/movies/trending/?page=2";
    assert_eq!(x_cache(&a_addr, page).await, "MISS");
    assert_eq!(x_cache(&b_addr, page).await, "HIT");
    assert_eq!(tmdb.count_page("/trending/movie/day", 2), 1);
    stop(a, a_dir.path()).await;
    stop(b, b_dir.path()).await;
    for dir in [a_dir.path(), b_dir.path()] {
        assert!(!stderr_of(dir).contains(PASSWORD), "{}", stderr_of(dir));
        assert!(!dir.join("data/cache").exists(), "no sled store with Redis");
    }
}

pub async fn without_redis_the_service_answers_and_logs_the_outage_with_a_rate_limit() {
    let tmdb = FakeTmdb::start(Some(KEY)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = crate::helpers::free_port();
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{port}/0");
    let (child, addr) = serve(dir.path(), &tmdb, &url).await;
    for page in 1..=30 {
        let path = format!("/api/movies/trending/?page={page}");
        // A miss, or (the page the previous one prefetched) the fetched copy the prefetch still
        // holds while its write to the missing Redis fails: never an error.
        let x_cache = x_cache(&addr, &path).await;
        assert!(["MISS", "HIT"].contains(&x_cache.as_str()), "{x_cache}");
    }
    let health = reqwest::get(format!("http://{addr}/health/"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let health: serde_json::Value = health.json().await.unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["checks"]["cache"]["status"], "degraded", "{health}");
    stop(child, dir.path()).await;
    let logs = stderr_of(dir.path());
    let outage_lines = logs
        .lines()
        .filter(|l| l.contains("the Redis cache is unavailable"))
        .count();
    // Dozens of failed commands (each request reads, locks and writes): one line per 10 s.
    assert!(
        (1..=2).contains(&outage_lines),
        "{outage_lines} lines:\n{logs}"
    );
    assert!(!logs.contains(PASSWORD), "{logs}");
    assert!(
        logs.contains("REDACTED"),
        "the URL is shown redacted:\n{logs}"
    );
}

pub fn snapshot_and_cache_commands_work_on_redis() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = crate::helpers::cli(dir.path(), args)
            .env("REELCACHE_CACHE_URL", redis.url())
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert!(!text(&output.stderr).contains(PASSWORD));
        text(&output.stdout)
    };
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo.rcsnap");
    run(&["snapshot", "import", demo]);
    let stats: serde_json::Value = serde_json::from_str(&run(&["cache", "stats"])).unwrap();
    assert_eq!(stats["backend"], "redis", "{stats}");
    let entries = stats["entries"].as_u64().unwrap();
    assert!(entries > 100, "{stats}");
    let keys: Vec<String> = redis.query(redis::cmd("KEYS").arg("reelcache:v1:movie:*"));
    assert_eq!(
        keys.len() as u64,
        stats["namespaces"]["movie"]["entries"].as_u64().unwrap()
    );

    let exported = dir.path().join("out.rcsnap");
    run(&["snapshot", "export", exported.to_str().unwrap()]);
    // The export from Redis holds what the demo holds: import it into a sled directory.
    let sled_dir = tempfile::tempdir().unwrap();
    let output = crate::helpers::cli(sled_dir.path(), &["snapshot", "import"])
        .arg(&exported)
        .output()
        .unwrap();
    assert!(output.status.success());
    let sled_stats = crate::helpers::cli(sled_dir.path(), &["cache", "stats"])
        .output()
        .unwrap();
    let sled_stats: serde_json::Value = serde_json::from_slice(&sled_stats.stdout).unwrap();
    assert_eq!(sled_stats["backend"], "sled");
    assert_eq!(sled_stats["entries"].as_u64().unwrap(), entries);
    assert_eq!(
        sled_stats["stored_bytes"], stats["stored_bytes"],
        "the same bytes"
    );

    let cleared = run(&["cache", "clear", "--namespace", "movie"]);
    let movies = &stats["namespaces"]["movie"]["entries"];
    assert!(
        cleared.contains(&format!("({movies} removed)")),
        "{cleared}"
    );
    let keys: Vec<String> = redis.query(redis::cmd("KEYS").arg("reelcache:v1:movie:*"));
    assert!(keys.is_empty());
}
