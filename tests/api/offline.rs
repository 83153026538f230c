//! The prepared data directory: warm, snapshots, offline serving, the shipped demo data.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reelcache::dev::fake_tmdb::{Behaviour, FakeTmdb, catalog};

use crate::helpers::{API_KEY, TestApp, start, test_settings};

const BIN: &str = env!("CARGO_BIN_EXE_reelcache");

fn reelcache(data_dir: &Path, tmdb: Option<&FakeTmdb>) -> Command {
    let mut cmd = Command::new(BIN);
    crate::process::dies_with_its_test(&mut cmd);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .arg("--data-dir")
        .arg(data_dir);
    if let Some(fake) = tmdb {
        cmd.env("TMDB_API_KEY", API_KEY)
            .env("TMDB_BASE_URL", fake.base_url())
            .env("REELCACHE_TMDB_RPS", "1000");
    }
    cmd
}

async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("the binary runs"))
        .await
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Starts an offline server on `data_dir` (TMDB base URL pointing nowhere useful).
async fn offline_app(data_dir: &Path) -> TestApp {
    let mut settings = test_settings(data_dir, "http://127.0.0.1:9/3");
    settings.offline = true;
    start(settings).await
}

/// The URLs a small warm (2 trending pages per window, 2 popular, 1 recommendation page) fills.
fn warmed_urls() -> Vec<(String, serde_json::Value)> {
    let mut urls = Vec::new();
    let mut ids = Vec::new();
    for page in 1..=2 {
        for window in ["day", "week"] {
            let doc = catalog::trending(window, page, "en-US");
            ids.extend(
                doc["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["id"].as_u64().unwrap()),
            );
            urls.push((
                format!("/api/movies/trending/?time_window={window}&page={page}"),
                doc["results"].clone(),
            ));
        }
        let doc = catalog::popular(page, "en-US");
        ids.extend(
            doc["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_u64().unwrap()),
        );
        urls.push((
            format!("/api/movies/popular/?page={page}"),
            doc["results"].clone(),
        ));
    }
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        let id32 = id as u32;
        urls.push((
            format!("/api/movies/{id}/"),
            catalog::details(id32, "en-US"),
        ));
        urls.push((
            format!("/api/movies/{id}/recommendations/?page=1"),
            catalog::recommendations(id32, 1, "en-US")["results"].clone(),
        ));
    }
    urls
}

fn small_warm(cmd: &mut Command) -> &mut Command {
    cmd.args([
        "warm",
        "--trending-pages",
        "2",
        "--popular-pages",
        "2",
        "--recommendation-pages",
        "1",
    ])
}

#[tokio::test]
async fn warm_then_serve_offline_with_tmdb_gone_then_snapshot_round_trip() {
    let fake = FakeTmdb::start(Some(API_KEY)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cmd = reelcache(&data, Some(&fake));
    small_warm(&mut cmd);
    let output = run(cmd).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let summary = stderr(&output);
    assert!(
        summary.contains("fetched") && summary.contains("ratio"),
        "{summary}"
    );
    let urls = warmed_urls();
    assert_eq!(fake.total(), urls.len(), "one TMDB request per warmed page");
    fake.stop().await;

    // Offline, with TMDB gone: every warmed URL answers with TMDB's documents.
    let app = offline_app(&data).await;
    let mut bodies = Vec::new();
    for (url, expected) in &urls {
        let r = app.get(url).await;
        assert_eq!(r.status, 200, "{url}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(&r.json()["data"], expected, "{url}");
        bodies.push((r.body.clone(), r.header("etag").map(str::to_owned)));
    }
    // Something never warmed is a clear 503, not an attempt to reach TMDB (that would be a 502).
    let missing = app.get("/api/movies/trending/?page=9").await;
    assert_eq!(missing.status, 503);
    assert_eq!(missing.error_code(), "UPSTREAM_UNAVAILABLE");
    assert!(String::from_utf8_lossy(&missing.body).contains("offline"));
    app.stop().await;

    // Export, import into a fresh directory, and get byte-identical answers.
    let file = dir.path().join("cache.rcsnap");
    let mut cmd = reelcache(&data, None);
    cmd.args(["snapshot", "export"]).arg(&file);
    let output = run(cmd).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let fresh = dir.path().join("fresh");
    let mut cmd = reelcache(&fresh, None);
    cmd.args(["snapshot", "import"]).arg(&file);
    let output = run(cmd).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains(&format!("imported {} entries", urls.len())));
    let app = offline_app(&fresh).await;
    for ((url, _), (body, etag)) in urls.iter().zip(&bodies) {
        let r = app.get(url).await;
        assert_eq!(&r.body, body, "{url}");
        assert_eq!(r.header("etag").map(str::to_owned), *etag, "{url}");
    }
    app.stop().await;

    // A namespace-only export holds just that namespace.
    let movies_only = dir.path().join("movies.rcsnap");
    let mut cmd = reelcache(&data, None);
    cmd.args(["snapshot", "export", "--namespace", "movie"])
        .arg(&movies_only);
    let output = run(cmd).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("movie "), "{}", stderr(&output));
    assert!(
        !stderr(&output).contains("trending_movies"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn damaged_snapshots_are_refused_and_the_store_is_unchanged() {
    let fake = FakeTmdb::start(Some(API_KEY)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let mut cmd = reelcache(&source, Some(&fake));
    cmd.args([
        "warm",
        "--trending-pages",
        "1",
        "--popular-pages",
        "0",
        "--recommendation-pages",
        "0",
        "--no-details",
    ]);
    assert!(run(cmd).await.status.success());
    let good = dir.path().join("good.rcsnap");
    let mut cmd = reelcache(&source, None);
    cmd.args(["snapshot", "export"]).arg(&good);
    assert!(run(cmd).await.status.success());
    let bytes = std::fs::read(&good).unwrap();

    // The target holds something already: one page from a different warm.
    let target = dir.path().join("target");
    let mut cmd = reelcache(&target, Some(&fake));
    cmd.args([
        "warm",
        "--trending-pages",
        "0",
        "--popular-pages",
        "1",
        "--recommendation-pages",
        "0",
        "--no-details",
    ]);
    assert!(run(cmd).await.status.success());
    let before = {
        let app = offline_app(&target).await;
        let body = app.get("/api/movies/popular/?page=1").await.body;
        let stats = app.state().cache.stats().await.unwrap();
        app.stop().await;
        (body, stats.entries, stats.namespaces)
    };

    let mut wrong_version = bytes.clone();
    wrong_version[8] = 9;
    let mut damaged: Vec<(String, Vec<u8>)> = vec![
        ("truncated".into(), bytes[..bytes.len() * 2 / 3].to_vec()),
        (
            "truncated before the end marker".into(),
            bytes[..bytes.len() - 17].to_vec(),
        ),
        ("wrong version".into(), wrong_version),
        ("not a snapshot".into(), b"hello, world".to_vec()),
        ("with trailing bytes".into(), [&bytes[..], b"x"].concat()),
    ];
    // Single bit flips spread over the whole file, the header and the end marker included.
    for i in (0..bytes.len())
        .step_by(bytes.len() / 40)
        .chain([bytes.len() - 1, 12, 20])
    {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x10;
        damaged.push((format!("bit flip at byte {i}"), flipped));
    }
    for (what, content) in damaged {
        let file = dir.path().join("damaged.rcsnap");
        std::fs::write(&file, &content).unwrap();
        let mut cmd = reelcache(&target, None);
        cmd.args(["snapshot", "import"]).arg(&file);
        let output = run(cmd).await;
        assert_eq!(output.status.code(), Some(1), "{what}: {}", stderr(&output));
        assert!(
            stderr(&output).contains("unchanged"),
            "{what}: {}",
            stderr(&output)
        );
    }
    let app = offline_app(&target).await;
    assert_eq!(app.get("/api/movies/popular/?page=1").await.body, before.0);
    let stats = app.state().cache.stats().await.unwrap();
    assert_eq!((stats.entries, stats.namespaces), (before.1, before.2));
    assert_eq!(
        app.get("/api/movies/trending/?page=1").await.status,
        503,
        "nothing was loaded"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_interrupted_warm_continues_without_refetching() {
    let fake = FakeTmdb::start(Some(API_KEY)).await.unwrap();
    fake.set("/", Behaviour::Delay(Duration::from_millis(40)));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cmd = reelcache(&data, Some(&fake));
    small_warm(&mut cmd).args(["--concurrency", "2"]);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let started = Instant::now();
    while fake.total() < 12 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "warm made no progress"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("warm interrupted"),
        "{}",
        stderr(&output)
    );
    let first_run = fake.total();
    assert!(
        first_run < warmed_urls().len(),
        "the warm was stopped half-way"
    );

    fake.reset();
    let mut cmd = reelcache(&data, Some(&fake));
    small_warm(&mut cmd);
    let output = run(cmd).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("skipped"));
    // Every page was fetched exactly once over the two runs.
    let mut seen = std::collections::HashMap::new();
    for r in fake.requests() {
        *seen
            .entry((r.path.clone(), r.param("page").map(str::to_owned)))
            .or_insert(0) += 1;
    }
    assert!(seen.values().all(|n| *n == 1), "refetched: {seen:?}");
    assert_eq!(fake.total(), warmed_urls().len());
}

#[tokio::test]
async fn warm_stops_at_once_when_the_credential_is_refused() {
    let fake = FakeTmdb::start(Some(API_KEY)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = reelcache(&dir.path().join("data"), Some(&fake));
    cmd.env("TMDB_API_KEY", "not-the-right-key");
    cmd.arg("warm");
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("refused the credential"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("not-the-right-key"));
    assert!(
        fake.total() <= 8,
        "it stopped at once ({} requests)",
        fake.total()
    );

    let mut cmd = reelcache(&dir.path().join("data"), None);
    cmd.arg("warm");
    let output = run(cmd).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("TMDB_API_KEY"),
        "{}",
        stderr(&output)
    );
}

/// A script can tell a warm that left the cache empty, or too full of holes, from one that worked.
#[tokio::test]
async fn warm_exits_1_when_it_got_nothing_or_failed_more_than_allowed() {
    let fake = FakeTmdb::start(Some(API_KEY)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let warm = |data: &str, extra: &[&str]| {
        let mut cmd = reelcache(&dir.path().join(data), Some(&fake));
        cmd.args(["warm", "--trending-pages", "1", "--popular-pages", "1"])
            .args(["--recommendation-pages", "0", "--no-details"])
            .args(extra);
        cmd
    };

    // TMDB answers nothing: the three pages fail, and so does the warm.
    fake.set("/", Behaviour::Status(404));
    let output = run(warm("empty", &[])).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("3 failed"), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("nothing fetched or fresh"),
        "{}",
        stderr(&output)
    );
    fake.reset();

    // Popular fails, trending (day and week) is fetched: 1 of 3 failed.
    fake.set("/movie/popular", Behaviour::Status(404));
    let output = run(warm("holes", &[])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("2 fetched"), "{}", stderr(&output));
    let output = run(warm("over-count", &["--max-failures", "0"])).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("1 of 3 failed"),
        "{}",
        stderr(&output)
    );
    let output = run(warm("within-share", &["--max-failures", "34%"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = run(warm("over-share", &["--max-failures", "33%"])).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    // A budget that is not one is a usage error, before any request.
    let before = fake.total();
    let output = run(warm("bad-budget", &["--max-failures", "lots"])).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_eq!(fake.total(), before);
}

fn shipped_snapshot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo.rcsnap")
}

/// The shipped demo data, imported the way a fresh clone's first start does.
async fn demo_app(dir: &Path) -> TestApp {
    let mut settings = test_settings(dir, "http://127.0.0.1:9/3");
    settings.tmdb.credential = None;
    settings.seed_snapshot = reelcache::config::SeedSnapshot::File(shipped_snapshot());
    start(settings).await
}

/// Offline, following `next` from page 1 visits every page the data holds and ends at its last:
/// no link points at a page that would be a 503, and `count` is what those pages hold.
#[tokio::test]
async fn offline_pagination_describes_the_pages_the_data_holds() {
    let dir = tempfile::tempdir().unwrap();
    let app = demo_app(dir.path()).await;
    let id = catalog::id_of(3);
    assert!(
        catalog::trending("week", 1, "en-US")["total_pages"]
            .as_u64()
            .unwrap()
            > 5,
        "TMDB's own lists are longer than the demo holds"
    );
    for (first, pages) in [
        (
            "/api/movies/trending/?time_window=week&page=1".to_owned(),
            5,
        ),
        ("/api/movies/popular/?page=1".to_owned(), 5),
        (format!("/api/movies/{id}/recommendations/?page=1"), 2),
    ] {
        let mut url = first.clone();
        let mut visited = 0;
        let mut items = 0;
        loop {
            let r = app.get(&url).await;
            assert_eq!(r.status, 200, "{url}: {}", r.json());
            let v = r.json();
            visited += 1;
            items += v["data"].as_array().unwrap().len() as u64;
            assert_eq!(v["pagination"]["total_pages"], pages, "{url}");
            match v["pagination"]["next"].as_str() {
                Some(next) => url = next.to_owned(),
                None => {
                    assert_eq!(v["pagination"]["count"], items, "{first}");
                    break;
                }
            }
            assert!(visited <= pages, "{first}: next goes past the last page");
        }
        assert_eq!(visited, pages, "{first}");
    }
    // A page the data does not hold is the offline 503, and no page links to it.
    let past = app
        .get("/api/movies/trending/?time_window=week&page=6")
        .await;
    assert_eq!(past.status, 503);
    app.stop().await;
}

#[tokio::test]
async fn the_shipped_demo_data_imports_and_serves_every_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let app = demo_app(dir.path()).await;
    for window in ["day", "week"] {
        for page in 1..=5 {
            let r = app
                .get(&format!(
                    "/api/movies/trending/?time_window={window}&page={page}"
                ))
                .await;
            assert_eq!((r.status, r.x_cache()), (200, "STALE"), "{window} {page}");
            assert!(r.header("age").is_some());
            assert_eq!(
                r.json()["data"],
                catalog::trending(window, page, "en-US")["results"]
            );
        }
    }
    for page in 1..=5 {
        let r = app.get(&format!("/api/movies/popular/?page={page}")).await;
        assert_eq!(r.status, 200);
        for movie in r.json()["data"].as_array().unwrap() {
            let id = movie["id"].as_u64().unwrap();
            assert_eq!(app.get(&format!("/api/movies/{id}/")).await.status, 200);
            for rec_page in 1..=2 {
                let recs = app
                    .get(&format!(
                        "/api/movies/{id}/recommendations/?page={rec_page}"
                    ))
                    .await;
                assert_eq!(recs.status, 200, "recommendations {rec_page} of {id}");
            }
        }
    }
    let search = app.get("/api/movies/search/?query=harbor").await;
    assert_eq!(search.status, 200);
    assert!(search.json()["pagination"]["count"].as_u64().unwrap() > 0);
    let stats = app.state().cache.stats().await.unwrap();
    app.stop().await;

    // Imported once: a restart does not import again (the store is no longer empty).
    let app = demo_app(dir.path()).await;
    assert_eq!(
        app.state().cache.stats().await.unwrap().entries,
        stats.entries
    );
    app.stop().await;
}

#[tokio::test]
async fn the_shipped_demo_data_is_what_the_generator_makes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.rcsnap");
    let mut cmd = reelcache(&dir.path().join("unused"), None);
    cmd.args(["dev", "make-demo"]).arg(&file);
    let output = run(cmd).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let made = std::fs::read(&file).unwrap();
    let shipped = std::fs::read(shipped_snapshot()).unwrap();
    assert!(
        shipped.len() < 5 * 1024 * 1024,
        "the demo data stays under 5 MB"
    );
    assert!(
        made == shipped,
        "data/demo.rcsnap is stale: run `cargo run --release -- dev make-demo data/demo.rcsnap`"
    );
    assert!(
        reelcache::cache::snapshot::DEMO == shipped.as_slice(),
        "the demo data compiled into the binary is data/demo.rcsnap"
    );
    let text = String::from_utf8_lossy(&shipped[..400]);
    assert!(text.contains("SYNTHETIC"), "the file says it is synthetic");
}

#[tokio::test]
async fn offline_search_ranks_and_paginates_local_titles() {
    let dir = tempfile::tempdir().unwrap();
    let app = demo_app(dir.path()).await;
    let first = app
        .get("/api/movies/search/?query=Harbor&page=1")
        .await
        .json();
    let p = &first["pagination"];
    let count = p["count"].as_u64().unwrap();
    assert!(count > 20, "enough results to paginate ({count})");
    assert_eq!(p["total_pages"].as_u64().unwrap(), count.div_ceil(20));
    assert_eq!(p["page_size"], 20);
    assert_eq!(p["next"], "/api/movies/search/?query=Harbor&page=2");
    let titles: Vec<String> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["title"].as_str().unwrap().to_lowercase())
        .collect();
    assert!(titles.iter().all(|t| t.contains("harbor")), "{titles:?}");
    // Titles starting with the query come before those that only contain it.
    let first_contains_only = titles.iter().position(|t| !t.starts_with("harbor"));
    if let Some(i) = first_contains_only {
        assert!(
            titles[i..].iter().all(|t| !t.starts_with("harbor")),
            "{titles:?}"
        );
    }
    let second = app
        .get("/api/movies/search/?query=harbor&page=2")
        .await
        .json();
    assert_ne!(second["data"], first["data"]);
    assert_eq!(
        second["pagination"]["previous"],
        "/api/movies/search/?query=harbor&page=1"
    );

    // An exact title comes first.
    let exact_title = first["data"][5]["title"].as_str().unwrap().to_owned();
    let exact = app
        .get(&format!(
            "/api/movies/search/?query={}",
            exact_title.replace(' ', "%20")
        ))
        .await
        .json();
    assert_eq!(exact["data"][0]["title"], exact_title);

    let none = app.get("/api/movies/search/?query=zzzzqqq").await.json();
    assert_eq!(none["pagination"]["count"], 0);
    assert_eq!(none["data"].as_array().unwrap().len(), 0);
    app.stop().await;
}

/// The binary is the whole product: started from any directory with no environment, no
/// arguments and no data directory prepared, it serves the demo data compiled into it.
#[tokio::test]
async fn the_binary_started_anywhere_serves_the_built_in_demo_offline() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let mut cmd = Command::new(BIN);
    crate::process::dies_with_its_test(&mut cmd);
    let mut child = cmd
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("REELCACHE_LISTEN", "127.0.0.1:0")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let addr = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let line = std::io::BufReader::new(stdout)
            .lines()
            .next()
            .unwrap()
            .unwrap();
        line.strip_prefix("listening on http://")
            .unwrap()
            .to_owned()
    })
    .await
    .unwrap();
    let trending = reqwest::get(format!("http://{addr}/api/movies/trending/?page=3"))
        .await
        .unwrap();
    assert_eq!(trending.status(), 200);
    assert_eq!(trending.headers()["x-cache"], "STALE");
    let search = reqwest::get(format!("http://{addr}/api/movies/search/?query=the"))
        .await
        .unwrap();
    assert_eq!(search.status(), 200);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
    let logs = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(logs.contains("OFFLINE"), "{logs}");
    assert!(logs.contains("imported the built-in demo data"), "{logs}");
}

/// A seed snapshot that is configured but missing is said loudly at start; the server still
/// starts (and serves what its cache holds: here nothing, so 503).
#[tokio::test]
async fn a_configured_seed_that_is_missing_is_reported_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let child = crate::process::command(dir.path())
        .env("REELCACHE_SEED_SNAPSHOT", "/nonexistent/seed.rcsnap")
        .env("REELCACHE_LISTEN", "127.0.0.1:0")
        .spawn()
        .unwrap();
    let (mut child, addr) = crate::process::listening_addr_async(child).await;
    let trending = reqwest::get(format!("http://{addr}/api/movies/trending/"))
        .await
        .unwrap();
    assert_eq!(trending.status(), 503);
    crate::process::signal(&child, "TERM");
    crate::process::wait_exit(&mut child, std::time::Duration::from_secs(10));
    let logs = crate::process::stderr_of(dir.path());
    assert!(
        logs.contains("ERROR") && logs.contains("/nonexistent/seed.rcsnap"),
        "{logs}"
    );
}
