//! The real binary: the `listening on` line, clean stops on signals, configuration errors, and
//! secrets kept out of the logs.

use std::time::{Duration, Instant};

use reelcache::dev::fake_tmdb::{Behaviour, FakeTmdb};

use crate::helpers::eventually;

use crate::process::{
    command, listening_addr, listening_addr_async, signal, stderr_of, wait_exit, wait_exit_async,
};

const SECRET: &str = "s3cr3t-key-do-not-log-0123456789";

#[tokio::test]
async fn serves_on_port_zero_and_stops_on_sigterm_and_sigint() {
    let fake = FakeTmdb::start(Some(SECRET)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for sig in ["TERM", "INT"] {
        let child = command(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("TMDB_API_KEY", SECRET)
            .env("TMDB_BASE_URL", fake.base_url())
            .spawn()
            .unwrap();
        let (child, addr) = listening_addr_async(child).await;
        let body = reqwest::get(format!("http://{addr}/api/movies/trending/"))
            .await
            .unwrap();
        assert_eq!(body.status(), 200);
        signal(&child, sig);
        let status = wait_exit_async(child, Duration::from_secs(10)).await;
        assert!(
            status.success(),
            "SIG{sig}: {status:?}\n{}",
            stderr_of(dir.path())
        );
    }
    // The second run found the first run's entry.
    assert_eq!(fake.count_page("/trending/movie/day", 1), 1);
}

#[test]
fn no_subcommand_means_serve() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut child);
    assert!(addr.starts_with("127.0.0.1:"));
    signal(&child, "TERM");
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());
}

/// The server turns transparent huge pages off for itself: a 2 MiB page is resident whole, which
/// cost an idle server three times its memory (BENCHMARKS.md, "Scale").
#[cfg(target_os = "linux")]
#[test]
fn the_server_runs_without_transparent_huge_pages() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .spawn()
        .unwrap();
    listening_addr(&mut child);
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    signal(&child, "TERM");
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());
    // Kernels before 6.8 do not show the flag; there is nothing to read then.
    if let Some(line) = status.lines().find(|l| l.starts_with("THP_enabled:")) {
        assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
    }
}

/// `REELCACHE_WORKERS` sets the async runtime's threads; `/metrics` reports them.
#[tokio::test]
async fn the_runtime_has_the_configured_number_of_workers() {
    for (workers, expected) in [("3", 3), ("auto", auto_workers())] {
        let dir = tempfile::tempdir().unwrap();
        let child = command(dir.path())
            .args(["--listen", "127.0.0.1:0"])
            .env("REELCACHE_WORKERS", workers)
            .spawn()
            .unwrap();
        let (mut child, addr) = listening_addr_async(child).await;
        let metrics = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        signal(&child, "TERM");
        assert!(wait_exit(&mut child, Duration::from_secs(10)).success());
        let line = format!("reelcache_runtime_workers {expected}\n");
        assert!(metrics.contains(&line), "{workers}: {metrics}");
    }
}

/// Half the cores, at least one.
fn auto_workers() -> usize {
    (std::thread::available_parallelism().unwrap().get() / 2).max(1)
}

/// Environment variables, arguments.
type Env = &'static [(&'static str, &'static str)];
type Args = &'static [&'static str];

#[test]
fn bad_configuration_stops_start_up_with_one_line_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(Env, Args, &str); 5] = [
        (
            &[("REELCACHE_TTL_TRENDING", "forever")],
            &[],
            "REELCACHE_TTL_TRENDING",
        ),
        (&[], &["--listen", "not-an-address"], "--listen"),
        (
            &[("REELCACHE_LANGUAGE", "english")],
            &[],
            "REELCACHE_LANGUAGE",
        ),
        (&[("TMDB_BASE_URL", "ftp://x")], &[], "TMDB_BASE_URL"),
        (
            &[],
            &["--config", "/nonexistent/reelcache.toml"],
            "/nonexistent/reelcache.toml",
        ),
    ];
    for (env, args, named) in cases {
        let mut cmd = command(dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let output = cmd.args(args).output().unwrap();
        let stderr = stderr_of(dir.path());
        assert_eq!(output.status.code(), Some(2), "{named}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(named), "names {named}: {stderr}");
        assert!(!stderr.contains("panicked"));
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn a_busy_port_is_a_clear_runtime_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = command(dir.path())
        .args(["serve", "--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(dir.path());
    assert!(stderr.contains(&addr), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn the_credential_never_reaches_logs_or_responses() {
    let fake = FakeTmdb::start(Some(SECRET)).await.unwrap();
    fake.set("/movie/popular", Behaviour::Status(500));
    let dir = tempfile::tempdir().unwrap();
    let child = command(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TMDB_API_KEY", SECRET)
        .env("TMDB_BASE_URL", fake.base_url())
        .env("RUST_LOG", "trace")
        .spawn()
        .unwrap();
    let (child, addr) = listening_addr_async(child).await;
    let mut bodies = String::new();
    for path in [
        "/api/movies/trending/",
        "/api/movies/popular/",
        "/api/movies/search/?query=silent",
    ] {
        let r = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
        bodies.push_str(&r.text().await.unwrap());
    }
    // Stop the fake so the next call fails at the transport level, the likeliest place for a
    // URL (with its api_key) to end up in an error message.
    fake.stop().await;
    let r = reqwest::get(format!("http://{addr}/api/movies/trending/?page=9"))
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    bodies.push_str(&r.text().await.unwrap());
    signal(&child, "TERM");
    wait_exit_async(child, Duration::from_secs(10)).await;
    let logs = stderr_of(dir.path());
    assert!(logs.contains("tmdb"), "trace logs were captured: {logs}");
    assert!(
        !logs.contains(SECRET),
        "the key leaked into the logs:\n{logs}"
    );
    assert!(!bodies.contains(SECRET));
}

#[tokio::test]
async fn acknowledged_account_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        command(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .spawn()
            .unwrap()
    };
    let (child, addr) = listening_addr_async(start()).await;
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    let r = client
        .post(format!("{base}/api/users/register/"))
        .json(&serde_json::json!({"username": "uma", "password": "password123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let login: serde_json::Value = client
        .post(format!("{base}/api/users/login/"))
        .json(&serde_json::json!({"username": "uma", "password": "password123"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = login["access"].as_str().unwrap().to_owned();
    let r = client
        .post(format!("{base}/api/users/favorites/add/"))
        .bearer_auth(&access)
        .json(&serde_json::json!({"tmdb_id": 550, "title": "Fight Club"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "acknowledged");
    signal(&child, "KILL");
    let mut child = child;
    tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();

    let (child, addr) = listening_addr_async(start()).await;
    let favorites: serde_json::Value = client
        .get(format!("http://{addr}/api/users/favorites/"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(favorites["data"][0]["title"], "Fight Club");
    signal(&child, "TERM");
    let status = wait_exit_async(child, Duration::from_secs(10)).await;
    assert!(status.success());
}

#[tokio::test]
async fn a_server_killed_during_a_write_burst_restarts_with_a_readable_cache() {
    let fake = FakeTmdb::start(Some(SECRET)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        command(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("TMDB_API_KEY", SECRET)
            .env("TMDB_BASE_URL", fake.base_url())
            .env("REELCACHE_TMDB_RPS", "100000")
            .env("REELCACHE_CLIENT_RPS", "0")
            .env("REELCACHE_PREFETCH", "false")
            .spawn()
            .unwrap()
    };
    let paths: Vec<String> = (1..=150)
        .flat_map(|page| {
            ["day", "week"].map(|w| format!("/api/movies/trending/?time_window={w}&page={page}"))
        })
        .collect();
    let (child, addr) = listening_addr_async(start()).await;
    let client = reqwest::Client::new();
    let burst: Vec<_> = paths
        .iter()
        .map(|path| {
            let request = client.get(format!("http://{addr}{path}")).send();
            tokio::spawn(async move { request.await.map(|r| r.status().as_u16()) })
        })
        .collect();
    let started = Instant::now();
    while fake.total() < 100 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the burst never got going"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    signal(&child, "KILL");
    let mut child = child;
    tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    for request in burst {
        let _ = request.await;
    }

    let (child, addr) = listening_addr_async(start()).await;
    let mut hits = 0;
    for path in &paths {
        let r = client
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        if r.headers()["x-cache"] == "HIT" {
            hits += 1;
        }
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["data"].as_array().unwrap().len(), 20, "{path}");
    }
    eprintln!("{hits} of {} pages survived the kill", paths.len());
    signal(&child, "TERM");
    let status = wait_exit_async(child, Duration::from_secs(10)).await;
    assert!(status.success());
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish() {
    let fake = FakeTmdb::start(Some(SECRET)).await.unwrap();
    fake.set("/trending/", Behaviour::Delay(Duration::from_millis(700)));
    let dir = tempfile::tempdir().unwrap();
    let child = command(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TMDB_API_KEY", SECRET)
        .env("TMDB_BASE_URL", fake.base_url())
        .spawn()
        .unwrap();
    let (child, addr) = listening_addr_async(child).await;
    let in_flight = tokio::spawn(reqwest::get(format!("http://{addr}/api/movies/trending/")));
    // Let the request reach TMDB (not the change feed's first poll), then ask the server to
    // stop.
    let started = Instant::now();
    while fake.count("/trending/movie/day") == 0 {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    signal(&child, "TERM");
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200, "the request in flight was answered");
    let status = wait_exit_async(child, Duration::from_secs(10)).await;
    assert!(status.success());
    // And new connections are refused once it has stopped.
    assert!(
        reqwest::get(format!("http://{addr}/api/movies/trending/"))
            .await
            .is_err()
    );
}

/// With a shutdown delay, SIGTERM makes the server unready at once but it keeps answering new
/// connections for the delay (a load balancer stops sending meanwhile), then stops cleanly.
#[tokio::test]
async fn the_shutdown_delay_keeps_answering_while_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let child = command(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("REELCACHE_RESILIENCE_SHUTDOWN_DELAY", "1500ms")
        .spawn()
        .unwrap();
    let (child, addr) = listening_addr_async(child).await;
    // A fresh connection per request: a load balancer's next probe, a new client.
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    };
    let ready = fresh()
        .get(format!("http://{addr}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let signalled = Instant::now();
    signal(&child, "TERM");
    // The phase changes as soon as the signal is handled.
    let mut not_ready = None;
    while signalled.elapsed() < Duration::from_secs(1) {
        let reply = fresh()
            .get(format!("http://{addr}/health/ready"))
            .send()
            .await
            .unwrap();
        if reply.status() == 503 {
            not_ready = Some(reply.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let not_ready = not_ready.expect("/health/ready answers 503 within a second of SIGTERM");
    assert!(not_ready.contains("shutting down"), "{not_ready}");
    let page = fresh()
        .get(format!("http://{addr}/api/movies/trending/?page=2"))
        .send()
        .await
        .unwrap();
    assert!(
        signalled.elapsed() < Duration::from_millis(1500),
        "asked within the delay"
    );
    assert_eq!(
        page.status(),
        200,
        "a new connection is still answered during the delay"
    );
    let status = wait_exit_async(child, Duration::from_secs(10)).await;
    assert!(status.success());
    assert!(
        signalled.elapsed() >= Duration::from_millis(1500),
        "it stopped only after the delay"
    );
}

#[tokio::test]
async fn json_logs_have_one_line_per_request_with_its_id() {
    let fake = FakeTmdb::start(Some(SECRET)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let child = command(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TMDB_API_KEY", SECRET)
        .env("TMDB_BASE_URL", fake.base_url())
        .env("REELCACHE_LOG_FORMAT", "json")
        .spawn()
        .unwrap();
    let (child, addr) = listening_addr_async(child).await;
    let client = reqwest::Client::new();
    for round in 0..2 {
        if round == 1 {
            // The miss was answered before its write landed; the hit is the fast door's once
            // the hot tier holds the page.
            eventually("the miss's page in the hot tier", || async {
                let metrics = client.get(format!("http://{addr}/metrics")).send().await;
                let text = metrics.unwrap().text().await.unwrap();
                text.lines().any(|l| l == "reelcache_hot_tier_entries 1")
            })
            .await;
        }
        let r = client
            .get(format!("http://{addr}/api/movies/trending/?page=2"))
            .header("x-request-id", "req-42")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    signal(&child, "TERM");
    wait_exit_async(child, Duration::from_secs(10)).await;
    let logs = stderr_of(dir.path());
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let requests: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request" && l["span"]["path"] != "/metrics")
        .collect();
    assert_eq!(requests.len(), 2, "{logs}");
    for ((line, cache), door) in requests.iter().zip(["MISS", "HIT"]).zip(["full", "fast"]) {
        let (f, span) = (&line["fields"], &line["span"]);
        assert_eq!(span["method"], "GET");
        assert_eq!(span["path"], "/api/movies/trending/");
        assert_eq!(span["request_id"], "req-42");
        assert_eq!(span["cache"], cache);
        assert_eq!(f["route"], "/api/movies/trending/");
        assert_eq!(f["status"], 200);
        // The miss went through warp's filters; the hit was answered before them.
        assert_eq!(f["door"], door, "{line}");
        // Whole microseconds, not a float of milliseconds.
        assert!(f["latency_us"].is_u64(), "{line}");
        // Each field said once: in the span or in the line, and no list of spans repeating it.
        for name in span.as_object().unwrap().keys().filter(|k| *k != "name") {
            assert!(
                f.get(name).is_none(),
                "{name} is in the span and the line: {line}"
            );
        }
        assert!(line.get("spans").is_none(), "{line}");
    }
}

#[tokio::test]
async fn text_logs_say_each_field_once_without_float_noise() {
    let fake = FakeTmdb::start(Some(SECRET)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let child = command(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TMDB_API_KEY", SECRET)
        .env("TMDB_BASE_URL", fake.base_url())
        .spawn()
        .unwrap();
    let (child, addr) = listening_addr_async(child).await;
    for _ in 0..2 {
        let r = reqwest::get(format!("http://{addr}/api/movies/trending/?page=3"))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    signal(&child, "TERM");
    wait_exit_async(child, Duration::from_secs(10)).await;
    let logs = stderr_of(dir.path());
    let requests: Vec<&str> = logs.lines().filter(|l| l.contains(" request ")).collect();
    assert_eq!(requests.len(), 2, "{logs}");
    for (line, cache) in requests.iter().zip(["MISS", "HIT"]) {
        assert!(line.contains(&format!("cache={cache}")), "{line}");
        let names: Vec<&str> = line
            .split([' ', '{', '}'])
            .filter_map(|word| word.split_once('=').map(|(name, _)| name))
            .collect();
        for name in &names {
            assert_eq!(
                names.iter().filter(|n| *n == name).count(),
                1,
                "{name} twice: {line}"
            );
        }
        let latency = line
            .split(' ')
            .find_map(|w| w.strip_prefix("latency_us="))
            .unwrap_or_else(|| panic!("no latency_us: {line}"));
        assert!(latency.parse::<u64>().is_ok(), "{line}");
    }
}
