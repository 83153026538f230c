//! The scale-out scenario, end to end on real servers: three reelcache binaries on one
//! PostgreSQL (accounts) and one Redis Cluster (pages). A user registers on one instance, logs
//! in on a second, adds favorites through all three at once, refreshes on the third; mid-load
//! one instance is killed with SIGKILL and one Redis primary is killed. Afterwards every
//! acknowledged favorite is there exactly once, the rotated refresh token is refused by every
//! instance still up, and the client errors during the failover are counted and reported.

use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reelcache::dev::fake_tmdb::FakeTmdb;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::process::{command, listening_addr_async, signal, wait_exit};
use crate::redis_cluster::RedisCluster;

const KEY: &str = "scenario-test-key-0123456789abcdef";
const SECRET: &str = "the-scenario's-shared-signing-secret-0123456789";

async fn serve(dir: &std::path::Path, tmdb: &FakeTmdb, db: &str, cache: &str) -> (Child, String) {
    let child = command(dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("TMDB_API_KEY", KEY)
        .env("TMDB_BASE_URL", tmdb.base_url())
        .env("REELCACHE_DATABASE_URL", db)
        .env("REELCACHE_CACHE_URL", cache)
        .env("REELCACHE_JWT_SECRET", SECRET)
        .env("REELCACHE_CLIENTS_RPS", "0")
        .spawn()
        .unwrap();
    listening_addr_async(child).await
}

async fn send(
    client: &reqwest::Client,
    addr: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (u16, Value) {
    let mut request = client.request(method, format!("http://{addr}{path}"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    match request.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        // A connection to the killed instance.
        Err(_) => (0, Value::Null),
    }
}

pub async fn three_instances_on_postgres_and_a_redis_cluster_lose_nothing() {
    let db = crate::postgres_server::shared().fresh_database();
    let mut cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    let cache = cluster.url();
    let tmdb = FakeTmdb::start(Some(KEY)).await.unwrap();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut children = Vec::new();
    let mut addrs = Vec::new();
    for dir in &dirs {
        let (child, addr) = serve(dir.path(), &tmdb, &db, &cache).await;
        children.push(Some(child));
        addrs.push(addr);
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;

    // Registered on the first, logged in on the second.
    let (status, _) = send(
        &client,
        &addrs[0],
        post.clone(),
        "/api/users/register/",
        Some(json!({"username": "nina", "password": "password123"})),
        None,
    )
    .await;
    assert_eq!(status, 201);
    let (status, tokens) = send(
        &client,
        &addrs[1],
        post.clone(),
        "/api/users/login/",
        Some(json!({"username": "nina", "password": "password123"})),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let access = tokens["access"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh"].as_str().unwrap().to_owned();

    // Load: favorites added through all three, and movie pages read, while the third
    // instance is SIGKILLed and a Redis primary dies. Bounded in count and in time.
    let acknowledged = Arc::new(Mutex::new(Vec::<i64>::new()));
    let (errors, requests) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..3usize {
        let (client, addrs, access) = (client.clone(), addrs.clone(), access.clone());
        let (acknowledged, errors, requests, killed, done) = (
            acknowledged.clone(),
            errors.clone(),
            requests.clone(),
            killed.clone(),
            done.clone(),
        );
        workers.push(tokio::spawn(async move {
            let started = Instant::now();
            // Until a second after the failover, and at most 1,000 rounds or 60 s.
            for i in 0..1_000usize {
                if done.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(60) {
                    break;
                }
                // After the kill, only the two instances still up are asked.
                let target = if killed.load(Ordering::Relaxed) {
                    (worker + i) % 2
                } else {
                    (worker + i) % 3
                };
                let tmdb_id = (1 + (worker * 1_000 + i) / 2) as i64; // each movie added twice
                let (status, body) = send(
                    &client,
                    &addrs[target],
                    reqwest::Method::POST,
                    "/api/users/favorites/add/",
                    Some(json!({"tmdb_id": tmdb_id, "title": format!("Movie {tmdb_id}")})),
                    Some(&access),
                )
                .await;
                if status == 200 || status == 201 {
                    assert_eq!(body["tmdb_id"], tmdb_id);
                    acknowledged.lock().await.push(tmdb_id);
                }
                let page = 1 + (worker * 7 + i) % 40;
                let (movies, _) = send(
                    &client,
                    &addrs[target],
                    reqwest::Method::GET,
                    &format!("/api/movies/trending/?page={page}"),
                    None,
                    None,
                )
                .await;
                requests.fetch_add(2, Ordering::Relaxed);
                // A connection refused by the instance just killed is the balancer's to
                // retry, not a client error of the survivors.
                if (status != 0 && !(200..300).contains(&status)) || (movies != 0 && movies != 200)
                {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut third = children[2].take().unwrap();
    signal(&third, "KILL");
    killed.store(true, Ordering::Relaxed);
    tokio::task::spawn_blocking(move || wait_exit(&mut third, Duration::from_secs(10)))
        .await
        .unwrap();
    let (took, cluster_back) = tokio::task::spawn_blocking(move || {
        let took = cluster.kill_a_primary();
        (took, cluster)
    })
    .await
    .unwrap();
    cluster = cluster_back;
    tokio::time::sleep(Duration::from_secs(1)).await;
    done.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }

    // The refresh rotated on the second instance (the third is gone) is refused on the first.
    let (status, _) = send(
        &client,
        &addrs[1],
        post.clone(),
        "/api/users/refresh/",
        Some(json!({"refresh": refresh})),
        None,
    )
    .await;
    assert_eq!(status, 200);
    for addr in &addrs[..2] {
        let (status, _) = send(
            &client,
            addr,
            post.clone(),
            "/api/users/refresh/",
            Some(json!({"refresh": refresh})),
            None,
        )
        .await;
        assert_eq!(
            status, 401,
            "the rotated refresh token is refused on {addr}"
        );
    }

    // Every acknowledged favorite is there, exactly once.
    let mut stored: Vec<i64> = Vec::new();
    for page in 1..=50 {
        let (status, list) = send(
            &client,
            &addrs[0],
            get.clone(),
            &format!("/api/users/favorites/?page_size=100&page={page}"),
            None,
            Some(&access),
        )
        .await;
        assert_eq!(status, 200);
        stored.extend(
            list["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["tmdb_id"].as_i64().unwrap()),
        );
        if list["pagination"]["next"].is_null() {
            break;
        }
    }
    stored.sort();
    let before_dedup = stored.len();
    stored.dedup();
    assert_eq!(before_dedup, stored.len(), "no favorite twice");
    let mut wanted = acknowledged.lock().await.clone();
    wanted.sort();
    wanted.dedup();
    assert!(!wanted.is_empty());
    for id in &wanted {
        assert!(stored.contains(id), "acknowledged favorite {id} is stored");
    }
    let (errors, requests) = (
        errors.load(Ordering::Relaxed),
        requests.load(Ordering::Relaxed),
    );
    eprintln!(
        "scale-out scenario: {requests} requests, {errors} client errors; one instance \
         SIGKILLed; a Redis primary killed, its replica promoted after {took:?}; {} favorites \
         acknowledged, all stored once",
        wanted.len()
    );
    assert_eq!(errors, 0, "no client error where TMDB could answer");

    for (i, child) in children.iter_mut().enumerate() {
        if let Some(mut child) = child.take() {
            signal(&child, "TERM");
            let status =
                tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(10)))
                    .await
                    .unwrap();
            assert!(status.success(), "instance {i} stopped cleanly");
        }
    }
    drop(cluster);
    tmdb.stop().await;
}

/// The README's recipe for the whole topology on one machine (`deploy/scale-out-local.sh`):
/// PostgreSQL, a Redis Cluster and three instances, checked across the instances, then stopped.
pub fn the_local_scale_out_recipe_passes_its_check() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/scale-out-local.sh");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains("sudo deploy/scale-out-local.sh --instances 3"),
        "the README shows the recipe"
    );
    let mut child = std::process::Command::new("bash")
        .arg(script)
        .args(["--instances", "3", "--check"])
        .env("REELCACHE_BIN", crate::process::BIN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(180));
    let mut out = String::new();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read>),
    ]
    .into_iter()
    .flatten()
    {
        let mut stream = stream;
        std::io::Read::read_to_string(&mut stream, &mut out).unwrap();
    }
    assert!(status.success(), "{out}");
    assert!(out.contains("check passed: 3 instances"), "{out}");
    assert!(
        !out.contains("local-scale-out-pass"),
        "the password is not shown: {out}"
    );
    // Everything it started is stopped: no process runs from its directory any more.
    let left = std::process::Command::new("pgrep")
        .args(["-af", "reelcache-scale-out\\."])
        .output()
        .unwrap();
    assert!(
        !left.status.success(),
        "processes left running: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}
