//! Password guessing and password-hashing amplification: the login allowance holds however many
//! guesses arrive at once, and a burst of logins cannot take the process's memory or cores.

use std::process::Child;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestEnv, make_staff};
use crate::process::{command, listening_addr_async, signal, wait_exit};
use reelcache::service::auth::login_limiter::USERNAME_BURST;

const BURST: usize = USERNAME_BURST as usize;

async fn login(client: &reqwest::Client, base: &str, username: &str, password: &str) -> u16 {
    client
        .post(format!("{base}/api/users/login/"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Exactly the documented number of wrong passwords is evaluated one after another; the next
/// attempt, right password or not, is refused.
#[tokio::test]
async fn sequential_guesses_are_stopped_after_exactly_the_allowance() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    app.sign_up("erin").await;
    for i in 0..BURST {
        assert_eq!(
            login(&app.client, &app.base, "erin", "wrong-password").await,
            401,
            "failure {}",
            i + 1
        );
    }
    assert_eq!(
        login(&app.client, &app.base, "erin", "password123").await,
        429,
        "the attempt after the allowance is refused"
    );
    app.stop().await;
}

/// 41 logins at once for one username, 40 wrong and the right one among them: no more than
/// the allowance is evaluated, so the right one gets through only if it is among the first few.
#[tokio::test]
async fn concurrent_guesses_count_before_they_are_checked() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    app.sign_up("gina").await;
    let mut tasks = Vec::new();
    for i in 0..41 {
        let (client, base) = (app.client.clone(), app.base.clone());
        let password = if i == 20 {
            "password123"
        } else {
            "wrong-password"
        };
        tasks.push(tokio::spawn(async move {
            login(&client, &base, "gina", password).await
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let evaluated = statuses.iter().filter(|s| matches!(s, 200 | 401)).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(evaluated <= BURST, "{evaluated} evaluated: {statuses:?}");
    assert_eq!(evaluated + refused, 41, "{statuses:?}");
    app.stop().await;
}

/// `user set-admin` (and `--revoke`) shows in the profile at once, though the profile is cached.
#[tokio::test]
async fn a_staff_change_from_the_command_line_shows_in_the_cached_profile_at_once() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let s = app.sign_up("hal").await;
    let profile = || app.authed(Method::GET, "/api/users/profile/", &s.access);
    profile().await;
    let cached = profile().await.json();
    assert_eq!(
        (cached["cached"].clone(), cached["data"]["is_staff"].clone()),
        (json!(true), json!(false))
    );
    make_staff(env.dir.path(), "hal");
    assert_eq!(profile().await.json()["data"]["is_staff"], true);
    assert_eq!(profile().await.json()["data"]["is_staff"], true);
    let revoke = crate::helpers::cli(env.dir.path(), &["user", "set-admin", "hal", "--revoke"])
        .output()
        .unwrap();
    assert!(revoke.status.success());
    assert_eq!(profile().await.json()["data"]["is_staff"], false);
    app.stop().await;
}

fn resident_kb(child: &Child, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

/// 200 bad logins at once for distinct unknown usernames from distinct addresses (behind a
/// trusted proxy, so no per-address allowance stops them): hashing runs in its bounded slots,
/// the peak resident memory stays near idle (one Argon2id hash is ~19 MiB; 200 at once were
/// over a gigabyte), the excess is told to come back (503 with Retry-After), and cache hits
/// are still answered.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_login_burst_keeps_memory_near_idle_and_hits_answered() {
    let fake = reelcache::dev::fake_tmdb::FakeTmdb::start(Some(crate::helpers::API_KEY))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let child = command(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .env("TMDB_API_KEY", crate::helpers::API_KEY)
        .env("TMDB_BASE_URL", fake.base_url())
        .env("REELCACHE_TRUSTED_PROXIES", "127.0.0.1")
        .env("REELCACHE_CLIENT_RPS", "0")
        .env("REELCACHE_HASH_WAIT", "1s")
        .env("REELCACHE_HASH_CONCURRENCY", "2")
        .spawn()
        .unwrap();
    let (mut child, addr) = listening_addr_async(child).await;
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let hit = format!("{base}/api/movies/trending/?time_window=day&page=1");
    assert_eq!(client.get(&hit).send().await.unwrap().status(), 200);
    // One login first, so the dummy hash and the hashing code are in memory before "idle".
    login(&client, &base, "warm-up", "wrong-password").await;
    let idle_kb = resident_kb(&child, "VmRSS:");

    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let (client, base) = (client.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let reply = client
                .post(format!("{base}/api/users/login/"))
                .header(
                    "x-forwarded-for",
                    format!("10.1.{}.{}", i / 250, i % 250 + 1),
                )
                .json(&json!({"username": format!("nobody{i}"), "password": "wrong-password"}))
                .send()
                .await
                .unwrap();
            let retry_after = reply.headers().get("retry-after").is_some();
            (reply.status().as_u16(), retry_after)
        }));
    }
    let mut slowest_hit = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        let reply = client.get(&hit).send().await.unwrap();
        assert_eq!(reply.status(), 200);
        slowest_hit = slowest_hit.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let peak_kb = resident_kb(&child, "VmHWM:");
    signal(&child, "TERM");
    wait_exit(&mut child, Duration::from_secs(10));

    assert!(
        statuses
            .iter()
            .all(|(status, retry)| *status == 401 || (*status == 503 && *retry)),
        "{statuses:?}"
    );
    let growth_mb = peak_kb.saturating_sub(idle_kb) / 1024;
    let shed = statuses.iter().filter(|(status, _)| *status == 503).count();
    eprintln!(
        "login burst: peak +{growth_mb} MB over idle, {shed} of 200 shed, slowest hit {slowest_hit:?}"
    );
    assert!(
        growth_mb < 150,
        "peak resident grew by {growth_mb} MB over idle ({idle_kb} kB)"
    );
    assert!(
        slowest_hit < Duration::from_secs(1),
        "slowest hit during the burst: {slowest_hit:?}"
    );
}
