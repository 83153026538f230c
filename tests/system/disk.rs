//! The disk under the data directory: full, read-only, and what a local user may read. The
//! full and read-only cases mount a small tmpfs, so they need root (`Need::Root`: the harness
//! reports them as ignored without it, except under `CI=true`, where they fail).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, start, test_settings};
use reelcache::config::Settings;
use reelcache::dev::fake_tmdb::FakeTmdb;

/// A tmpfs of its own on a temporary directory, unmounted on drop.
pub struct Tmpfs {
    dir: tempfile::TempDir,
    mounted: bool,
}

impl Tmpfs {
    /// `size` like "8m". Panics where it cannot be mounted (the harness checked first).
    pub fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("temp dir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "cannot mount a tmpfs (needs root)"
        );
        Tmpfs { dir, mounted: true }
    }

    /// Whether this machine lets the tests mount one: root, and a kernel that agrees.
    pub fn mountable() -> bool {
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if mounted {
            let _ = Command::new("umount").arg(dir.path()).status();
        }
        mounted
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system with `<mount>/filler` until it is full.
    pub fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.filler()).expect("filler");
        let chunk = vec![0xA5u8; 64 * 1024];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                    break;
                }
            }
        }
        // The last partial pages too.
        while file.write(&[0xA5]).is_ok_and(|n| n == 1) {}
    }

    pub fn free(&self) {
        std::fs::remove_file(self.filler()).expect("filler removed");
    }

    fn filler(&self) -> PathBuf {
        self.path().join("filler")
    }

    /// Remounts the file system read-only (`true`) or read-write.
    pub fn remount(&self, read_only: bool) {
        let options = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        let status = Command::new("mount")
            .args(["-o", options])
            .arg(self.path())
            .status()
            .expect("mount runs");
        assert!(status.success(), "mount -o {options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

fn settings_on(data_dir: &Path, tmdb: &FakeTmdb) -> Settings {
    let mut settings = test_settings(data_dir, &tmdb.base_url());
    settings.cache.reopen_every = Duration::from_millis(100);
    settings.cache.flush_every = Duration::from_millis(10);
    // The demo seed is for offline servers; keep these stores small and predictable.
    settings.seed_snapshot = reelcache::config::SeedSnapshot::None;
    settings
}

/// The id of the `n`th movie of the fake's catalogue.
fn movie_id(n: usize) -> u32 {
    reelcache::dev::fake_tmdb::catalog::all_ids()
        .nth(n)
        .unwrap()
}

fn movie(n: usize) -> String {
    format!("/api/movies/{}/", movie_id(n))
}

fn corrupt_copies(data_dir: &Path) -> Vec<String> {
    std::fs::read_dir(data_dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with("cache.corrupt-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `/health/` (bounded) until the cache check reports `status`.
async fn wait_cache_status(app: &TestApp, status: &str, within: Duration) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let v = app.get("/health/").await.json();
        if v["checks"]["cache"]["status"] == status {
            return v;
        }
        assert!(
            started.elapsed() < within,
            "/health/ did not report the cache {status} within {within:?}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `w342` poster of the catalogue's movie `n`, through reelcache.
fn poster(n: u32) -> String {
    let id = reelcache::dev::fake_tmdb::catalog::id_of(n);
    format!(
        "/api/images/w342{}",
        reelcache::dev::fake_tmdb::catalog::poster_path(id)
    )
}

pub async fn a_full_disk_answers_writes_with_503_keeps_reading_restarts_and_recovers() {
    let fs = Tmpfs::mount("16m");
    let tmdb = FakeTmdb::start(Some(crate::helpers::API_KEY))
        .await
        .unwrap();
    let data_dir = fs.path().join("data");
    let app = start(settings_on(&data_dir, &tmdb)).await;
    let session = app.sign_up("dora").await;
    assert_eq!(app.get("/api/movies/trending/").await.status, 200);
    let favorite = json!({"tmdb_id": 550, "title": "Fight Club"});

    fs.fill();
    // Writes: 503 with a clear message and a Retry-After, never a 500.
    let register = app
        .post(
            "/api/users/register/",
            &json!({"username": "eve", "password": "password123"}),
            None,
        )
        .await;
    let login = app
        .post(
            "/api/users/login/",
            &json!({"username": "dora", "password": "password123"}),
            None,
        )
        .await;
    let add = app
        .post(
            "/api/users/favorites/add/",
            &favorite,
            Some(&session.access),
        )
        .await;
    for (what, reply) in [("register", &register), ("login", &login), ("add", &add)] {
        assert_eq!(
            reply.status,
            503,
            "{what}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.error_code(), "SERVICE_UNAVAILABLE", "{what}");
        assert!(reply.header("retry-after").is_some(), "{what}");
        assert!(
            reply.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("storage refuses writes"),
            "{what}: {}",
            reply.json()
        );
    }
    // Reads keep working: a hit, misses (from TMDB, not stored), the user's favorites, an
    // image (served, not kept: the refused write is counted). A dozen misses, so that their
    // writes need more than the space sled's files already hold.
    assert_eq!(app.get("/api/movies/trending/").await.status, 200);
    for n in 20..32 {
        assert_eq!(app.get(&movie(n)).await.status, 200);
    }
    let image = app.get(&poster(1)).await;
    assert_eq!((image.status, image.x_cache()), (200, "MISS"));
    assert!(app.state().images.stats().write_errors >= 1);
    let list = app
        .authed(Method::GET, "/api/users/favorites/", &session.access)
        .await;
    assert_eq!(list.status, 200);
    let health = wait_cache_status(&app, "degraded", Duration::from_secs(5)).await;
    assert_eq!(health["status"], "degraded");
    app.stop().await;

    // Restarts with the disk still full: each one starts and serves, nothing is moved aside.
    for round in 0..3 {
        let app = start(settings_on(&data_dir, &tmdb)).await;
        let miss = app.get(&movie(2 + round)).await;
        assert_eq!(miss.status, 200);
        let health = app.get("/health/").await;
        assert_eq!(health.status, 200, "{}", health.json());
        assert_eq!(health.json()["status"], "degraded");
        app.stop().await;
    }
    assert_eq!(corrupt_copies(&data_dir), Vec::<String>::new());

    // Space comes back: the store writes again without a restart, and /health/ says so.
    let app = start(settings_on(&data_dir, &tmdb)).await;
    fs.free();
    let health = wait_cache_status(&app, "ok", Duration::from_secs(5)).await;
    assert_eq!(health["status"], "healthy");
    assert_eq!(app.get(&movie(9)).await.status, 200);
    assert_eq!(app.get(&movie(9)).await.status, 200);
    assert_eq!(
        tmdb.count(&format!("/movie/{}", movie_id(9))),
        1,
        "the second request is served from the cache again"
    );
    // Images are kept again too, without a restart.
    assert_eq!(app.get(&poster(9)).await.status, 200);
    let stats = app.state().images.stats();
    assert_eq!((stats.entries, stats.write_errors), (1, 0), "{stats:?}");
    let add = app
        .post(
            "/api/users/favorites/add/",
            &favorite,
            Some(&session.access),
        )
        .await;
    assert_eq!(add.status, 201);
    app.stop().await;
    assert_eq!(corrupt_copies(&data_dir), Vec::<String>::new());
}

pub async fn a_read_only_cache_directory_serves_from_tmdb_and_reports_degraded() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("data");
    std::fs::create_dir_all(data_dir.join("cache")).unwrap();
    // The cache directory is a mount of its own, so it alone can be made read-only.
    let fs = Tmpfs::mount("8m");
    let status = Command::new("mount")
        .arg("--bind")
        .arg(fs.path())
        .arg(data_dir.join("cache"))
        .status()
        .expect("mount runs");
    assert!(status.success());
    let _bind = Unmount(data_dir.join("cache"));
    let tmdb = FakeTmdb::start(Some(crate::helpers::API_KEY))
        .await
        .unwrap();
    let app = start(settings_on(&data_dir, &tmdb)).await;
    assert_eq!(app.get("/api/movies/trending/").await.status, 200);
    app.stop().await;

    fs.remount(true);
    let app = start(settings_on(&data_dir, &tmdb)).await;
    assert_eq!(app.get(&movie(9)).await.status, 200);
    assert_eq!(app.get(&movie(9)).await.status, 200);
    assert_eq!(
        tmdb.count(&format!("/movie/{}", movie_id(9))),
        2,
        "misses are answered from TMDB, not stored"
    );
    let health = app.get("/health/").await;
    assert_eq!(health.status, 200, "{}", health.json());
    assert_eq!(health.json()["status"], "degraded");
    assert_eq!(health.json()["checks"]["cache"]["status"], "degraded");
    // Accounts live outside the cache directory: unaffected.
    app.sign_up("fred").await;
    app.stop().await;
    assert_eq!(corrupt_copies(&data_dir), Vec::<String>::new());
}

/// Unmounts a bind mount on drop.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

pub async fn the_data_directory_is_owner_only_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let tmdb = FakeTmdb::start(Some(crate::helpers::API_KEY))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The umask is set by sh, not by a pre_exec hook: that would fork this whole test process,
    // whose child briefly holds every descriptor of it (other tests' data-directory locks).
    let child = std::process::Command::new("sh")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TMDB_API_KEY", crate::helpers::API_KEY)
        .env("TMDB_BASE_URL", tmdb.base_url())
        .args([
            "-c",
            "umask 022 && exec \"$0\" \"$@\"",
            env!("CARGO_BIN_EXE_reelcache"),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (mut child, addr) = crate::process::listening_addr_async(child).await;
    let client = reqwest::Client::new();
    let registered = client
        .post(format!("http://{addr}/api/users/register/"))
        .json(&json!({"username": "gina", "password": "password123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let movie = client
        .get(format!("http://{addr}{}", movie(3)))
        .send()
        .await
        .unwrap();
    assert_eq!(movie.status(), 200);

    // While it runs, so that SQLite's -wal and -shm exist.
    let data = dir.path().join("data");
    let mode = |name: &str| {
        let meta = std::fs::metadata(data.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        meta.permissions().mode() & 0o777
    };
    let modes: Vec<(&str, u32)> = [
        "",
        "reelcache.db",
        "reelcache.db-wal",
        "reelcache.db-shm",
        "cache",
    ]
    .into_iter()
    .map(|name| (name, mode(name)))
    .collect();
    crate::process::signal(&child, "TERM");
    let status = tokio::task::spawn_blocking(move || {
        crate::process::wait_exit(&mut child, Duration::from_secs(10))
    })
    .await
    .unwrap();
    assert!(status.success());
    assert_eq!(
        modes,
        vec![
            ("", 0o700),
            ("reelcache.db", 0o600),
            ("reelcache.db-wal", 0o600),
            ("reelcache.db-shm", 0o600),
            ("cache", 0o700),
        ]
    );
}
