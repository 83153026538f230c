//! The command line: exit statuses, `config check`, `cache stats|clear` with and without a
//! running server.

use crate::helpers::{TestEnv, cli};

fn run(data_dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = cli(data_dir, args).output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn config_check_shows_sources_and_never_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let output = cli(
        dir.path(),
        &["--listen", "127.0.0.1:9999", "config", "check"],
    )
    .env("TMDB_API_KEY", "very-secret-key-123")
    .env(
        "REELCACHE_JWT_SECRET",
        "another-very-secret-signing-key-0123456789",
    )
    .env("REELCACHE_TTL_TRENDING", "30m")
    .env(
        "REELCACHE_CACHE_URL",
        "rediss://:redis-pass-42@cache.internal:6380/1",
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        !out.contains("very-secret-key-123")
            && !out.contains("another-very-secret")
            && !out.contains("redis-pass-42"),
        "{out}"
    );
    let line = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(key))
            .unwrap_or("")
            .to_owned()
    };
    assert!(line("listen").contains("127.0.0.1:9999") && line("listen").contains("flag --listen"));
    assert!(
        line("ttl.trending").contains("30m")
            && line("ttl.trending").contains("REELCACHE_TTL_TRENDING")
    );
    assert!(line("ttl.details").contains("default"));
    assert!(line("tmdb.api_key").contains("[redacted]"));
    assert!(
        line("cache.url").contains("rediss://:REDACTED@cache.internal:6380/1")
            && line("cache.url").contains("REELCACHE_CACHE_URL"),
        "{out}"
    );
    assert!(out.contains("configuration is valid"));

    let bad = cli(dir.path(), &["config", "check"])
        .env("REELCACHE_TMDB_RPS", "0")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("REELCACHE_TMDB_RPS"));
}

#[test]
fn config_check_says_whether_the_server_runs_offline_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let mode = |out: &str| {
        out.lines()
            .find(|l| l.starts_with("mode: "))
            .unwrap_or_else(|| panic!("a mode line: {out}"))
            .to_owned()
    };
    let (code, out, _) = run(dir.path(), &["config", "check"]);
    assert_eq!(code, Some(0));
    let line = mode(&out);
    assert!(
        line.contains("OFFLINE")
            && line.contains("no TMDB credential")
            && line.contains("TMDB_API_KEY"),
        "{line}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("seed: ") && l.contains("demo data compiled into this binary")),
        "{out}"
    );

    let asked = cli(dir.path(), &["--offline", "config", "check"])
        .env("TMDB_API_KEY", "0123456789abcdef0123456789abcdef")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&asked.stdout);
    let line = mode(&out);
    assert!(
        line.contains("OFFLINE") && line.contains("asked for") && line.contains("flag --offline"),
        "{line}"
    );

    let online = cli(dir.path(), &["config", "check"])
        .env("TMDB_API_KEY_FILE", {
            let key = dir.path().join("key");
            std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").unwrap();
            key
        })
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&online.stdout);
    let line = mode(&out);
    assert!(
        line.starts_with("mode: online")
            && line.contains("https://api.themoviedb.org/3")
            && line.contains("a v3 API key from environment TMDB_API_KEY_FILE"),
        "{line}"
    );
    assert!(!out.contains("0123456789abcdef"), "{out}");
    assert!(!out.lines().any(|l| l.starts_with("seed: ")), "{out}");
}

#[test]
fn config_check_columns_stay_aligned_for_the_longest_names() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run(dir.path(), &["config", "check"]);
    assert_eq!(code, Some(0));
    let header = out.lines().next().unwrap();
    let columns = ["environment", "value", "source"].map(|c| header.find(c).unwrap());
    let mut rows = 0;
    for spec in reelcache::config::SPECS {
        let row = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(spec.key))
            .unwrap_or_else(|| panic!("a row for {}: {out}", spec.key));
        assert_eq!(row.find(spec.env()), Some(columns[0]), "{row}\n{header}");
        // Two spaces at least between columns, so a long name never runs into its value.
        assert!(row[..columns[1]].ends_with("  "), "{row}\n{header}");
        assert!(row[..columns[2]].ends_with("  "), "{row}\n{header}");
        rows += 1;
    }
    assert!(rows > 40, "{rows} settings");
}

#[test]
fn version_help_and_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run(dir.path(), &["--version"]);
    assert_eq!(code, Some(0));
    assert!(out.contains(env!("CARGO_PKG_VERSION")));
    let (code, out, _) = run(dir.path(), &["--help"]);
    assert_eq!(code, Some(0));
    for sub in ["serve", "warm", "snapshot", "cache", "config", "user"] {
        assert!(out.contains(sub), "--help lists {sub}");
    }
    let (code, _, err) = run(dir.path(), &["frobnicate"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = run(dir.path(), &["cache", "clear", "--namespace", "bogus"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("namespace"));
}

#[tokio::test]
async fn cache_commands_work_with_and_without_a_running_server() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    app.get("/api/movies/trending/?page=1").await;
    app.get("/api/movies/trending/?page=2").await;
    let id = reelcache::dev::fake_tmdb::catalog::id_of(4);
    app.get(&format!("/api/movies/{id}/")).await;

    // While the server runs, through its admin socket.
    let dir = env.dir.path().to_owned();
    let (code, out, err) = tokio::task::spawn_blocking(move || run(&dir, &["cache", "stats"]))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{err}");
    let stats: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stats["namespaces"]["trending_movies"]["entries"], 2);
    assert_eq!(stats["misses"], 3, "the running server's own counters");
    let dir = env.dir.path().to_owned();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run(&dir, &["cache", "clear", "--namespace", "trending_movies"])
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("2 removed"), "{out}");
    // A key no namespace holds is the caller's mistake, through the server as directly: 2.
    let dir = env.dir.path().to_owned();
    let (code, _, err) =
        tokio::task::spawn_blocking(move || run(&dir, &["cache", "clear", "--key", "moive:550"]))
            .await
            .unwrap();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("namespace"), "{err}");
    assert_eq!(
        app.get("/api/movies/trending/?page=1").await.x_cache(),
        "MISS"
    );
    assert_eq!(
        app.get(&format!("/api/movies/{id}/")).await.x_cache(),
        "HIT"
    );
    app.stop().await;

    // Stopped: directly on the store.
    let (code, out, err) = run(
        env.dir.path(),
        &["cache", "clear", "--key", &format!("movie:{id}")],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("1 removed"), "{out}");
    let (code, out, _) = run(env.dir.path(), &["cache", "stats"]);
    assert_eq!(code, Some(0));
    let stats: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stats["namespaces"]["movie"]["entries"], 0);
    assert_eq!(stats["namespaces"]["trending_movies"]["entries"], 1);
    for bad in ["moive:550", "movie:", "movie", ""] {
        let (code, _, err) = run(env.dir.path(), &["cache", "clear", "--key", bad]);
        assert_eq!(code, Some(2), "{bad:?}: {err}");
    }
    let (code, out, _) = run(env.dir.path(), &["cache", "clear"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("1 removed"), "{out}");
}

/// The LSN (a byte position in sled's log) of the newest snapshot sled keeps in `cache/v1`.
fn newest_snapshot_lsn(data_dir: &std::path::Path) -> u64 {
    std::fs::read_dir(data_dir.join("cache/v1"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            let hex = name.strip_prefix("snap.")?;
            u64::from_str_radix(hex, 16).ok()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_bulk_fill_leaves_a_snapshot_so_the_next_start_does_not_replay_it() {
    let env = TestEnv::new().await;
    let (status, _, stderr) = run(
        env.dir.path(),
        &["dev", "fill", "--entries", "2000", "--shape", "page"],
    );
    assert_eq!(status, Some(0), "{stderr}");
    // sled 0.34 folds its log into a snapshot only when it opens: the fill reopens it, so the
    // snapshot already covers the ~10 MB the fill wrote (at least 1 KB an entry).
    let lsn = newest_snapshot_lsn(env.dir.path());
    assert!(
        lsn >= 2000 * 1024,
        "the newest snapshot is at log byte {lsn}"
    );
}

#[tokio::test]
async fn a_server_stopped_gracefully_leaves_a_snapshot_of_what_it_wrote() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    for page in 1..=5 {
        let reply = app
            .get(&format!(
                "/api/movies/trending/?time_window=day&page={page}"
            ))
            .await;
        assert_eq!((reply.status, reply.x_cache()), (200, "MISS"));
    }
    let before = newest_snapshot_lsn(env.dir.path());
    app.stop().await;
    let after = newest_snapshot_lsn(env.dir.path());
    assert!(
        after >= before + 5 * 1024,
        "the newest snapshot moved from log byte {before} to {after}"
    );
    // And the entries are still there for the next start.
    let app = env.spawn().await;
    let reply = app
        .get("/api/movies/trending/?time_window=day&page=3")
        .await;
    assert_eq!((reply.status, reply.x_cache()), (200, "HIT"));
    app.stop().await;
}

#[tokio::test]
async fn dev_fill_stores_entries_the_server_answers_as_hits() {
    let env = TestEnv::new().await;
    let (status, _, stderr) = run(
        env.dir.path(),
        &["dev", "fill", "--entries", "30", "--shape", "movie"],
    );
    assert_eq!(status, Some(0), "{stderr}");
    let (status, _, stderr) = run(
        env.dir.path(),
        &["dev", "fill", "--entries", "5", "--shape", "page"],
    );
    assert_eq!(status, Some(0), "{stderr}");
    let app = env.spawn().await;
    for path in [
        "/api/movies/1/",
        "/api/movies/30/",
        "/api/movies/5/recommendations/",
    ] {
        let reply = app.get(path).await;
        assert_eq!((reply.status, reply.x_cache()), (200, "HIT"), "{path}");
    }
    // Beyond the filled ids: asked of TMDB.
    let unfilled = reelcache::dev::fake_tmdb::catalog::all_ids()
        .find(|id| *id > 30)
        .expect("the catalogue has ids past 30");
    let reply = app.get(&format!("/api/movies/{unfilled}/")).await;
    assert_eq!((reply.status, reply.x_cache()), (200, "MISS"));
    assert_eq!(
        env.tmdb.total(),
        1,
        "only the entry that was not filled was fetched"
    );
    app.stop().await;
}

/// `db backup` takes a consistent copy while the server runs; `db restore` refuses while it
/// runs, refuses a file that is not an account database, and otherwise puts the backup back,
/// keeping the database it replaces.
#[tokio::test]
async fn the_account_database_is_backed_up_online_and_restored_offline() {
    let env = TestEnv::new().await;
    let dir = env.dir.path();
    let app = env.spawn().await;
    let ivan = app.sign_up("ivan").await;
    let add = app
        .post(
            "/api/users/favorites/add/",
            &serde_json::json!({"tmdb_id": 550, "title": "Fight Club"}),
            Some(&ivan.access),
        )
        .await;
    assert_eq!(add.status, 201);
    let backups = tempfile::tempdir().unwrap();
    let backup = backups.path().join("accounts.db");
    let made = cli(dir, &["db", "backup", backup.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the backup holds password hashes");
    }
    let again = cli(dir, &["db", "backup", backup.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing file is never overwritten"
    );

    app.sign_up("judy").await;
    let while_running = cli(dir, &["db", "restore", backup.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(while_running.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&while_running.stderr).contains("stop the server"),
        "{}",
        String::from_utf8_lossy(&while_running.stderr)
    );
    app.stop().await;

    let not_a_backup = backups.path().join("notes.txt");
    std::fs::write(&not_a_backup, "not a database").unwrap();
    let refused = cli(dir, &["db", "restore", not_a_backup.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let restored = cli(dir, &["db", "restore", backup.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert!(dir.join("reelcache.db.before-restore").exists());

    let app = env.spawn().await;
    let ivan = app.log_in("ivan", "password123").await;
    let favorites = app
        .authed(reqwest::Method::GET, "/api/users/favorites/", &ivan.access)
        .await;
    assert_eq!(favorites.json()["data"][0]["title"], "Fight Club");
    let judy = app
        .post(
            "/api/users/login/",
            &serde_json::json!({"username": "judy", "password": "password123"}),
            None,
        )
        .await;
    assert_eq!(judy.status, 401, "judy registered after the backup");
    app.stop().await;
}
