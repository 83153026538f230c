//! `spawn_app()` and friends: start the application in-process against a fake TMDB.

use std::num::NonZeroU32;
use std::path::Path;

use reelcache::app::startup::Application;
use reelcache::clock::Clock;
use reelcache::config::{Credential, Settings};
use reelcache::dev::fake_tmdb::FakeTmdb;
use reelcache::service::state::AppState;
use serde_json::Value;
use tokio::sync::oneshot;

pub const API_KEY: &str = "test-api-key-0123456789abcdef";

/// A running reelcache.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Clock,
    state: Option<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Whether each request waits for the cache writes it started (a miss is answered before its
    /// entry is written): on, so that a test's next request sees what is stored.
    settle: bool,
}

/// A fake TMDB and a data directory that outlive app restarts.
pub struct TestEnv {
    pub tmdb: FakeTmdb,
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    pub async fn new() -> TestEnv {
        TestEnv {
            tmdb: FakeTmdb::start(Some(API_KEY))
                .await
                .expect("fake TMDB starts"),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Settings pointing at this environment's fake and directory.
    pub fn settings(&self) -> Settings {
        test_settings(self.dir.path(), &self.tmdb.base_url())
    }

    pub async fn spawn(&self) -> TestApp {
        self.spawn_with(|_| {}).await
    }

    pub async fn spawn_with(&self, customize: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = self.settings();
        customize(&mut settings);
        start(settings).await
    }
}

pub fn test_settings(data_dir: &Path, tmdb_base_url: &str) -> Settings {
    let mut settings = Settings::defaults_in(data_dir);
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.tmdb.base_urls = vec![tmdb_base_url.to_owned()];
    settings.tmdb.credential = Some(Credential::from_shape(API_KEY));
    settings.tmdb.rps = NonZeroU32::new(10_000).unwrap();
    // Most tests count TMDB requests exactly and fail TMDB on purpose; prefetch, retries and the
    // circuit breaker have tests of their own.
    settings.resilience.prefetch = false;
    settings.resilience.retries = 0;
    // The change feed's first poll would be one more TMDB request in every test.
    settings.changes.every = std::time::Duration::ZERO;
    settings.resilience.breaker_threshold = 1_000;
    settings.clients.rps = 0;
    settings
}

pub async fn start(settings: Settings) -> TestApp {
    let clock = Clock::system();
    let app = Application::build_with_clock(settings, clock.clone())
        .await
        .expect("the application starts");
    let base = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        app.run_until_stopped(async {
            let _ = stopped.await;
        })
        .await
        .expect("runs until stopped");
    });
    TestApp {
        base,
        // No Accept-Encoding of its own: a test that wants a coding asks for it (and sees the
        // bytes as sent).
        client: reqwest::Client::builder()
            .no_gzip()
            .build()
            .expect("a client"),
        clock,
        state: Some(state),
        stop: Some(stop),
        task: Some(task),
        settle: true,
    }
}

/// A loopback port nothing listens on: bound, noted, closed.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits (bounded) until `done` holds: for background work whose end the test cannot await.
pub async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut done: impl FnMut() -> F,
) {
    let started = std::time::Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A response, read whole.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn x_cache(&self) -> &str {
        self.header("x-cache").unwrap_or("(none)")
    }

    /// Asserts the contract's error envelope and returns the error code.
    pub fn error_code(&self) -> String {
        let v = self.json();
        assert_eq!(v["success"], false, "{v}");
        assert_eq!(v["error"]["status_code"], self.status, "{v}");
        assert_eq!(v["detail"], v["error"]["message"], "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        v["error"]["code"].as_str().expect("code").to_owned()
    }
}

impl TestApp {
    pub fn state(&self) -> &AppState {
        self.state.as_ref().expect("running")
    }

    /// Requests stop waiting for the writes of the misses they caused: the next request may
    /// arrive while a write is still on the way, as a quick client's would.
    pub fn unsettled(mut self) -> TestApp {
        self.settle = false;
        self
    }

    /// Waits (bounded) for the cache writes on the way, unless `unsettled` (not for the
    /// re-encodings that may follow them: tests that look at sizes settle those themselves).
    async fn settled(&self, reply: Reply) -> Reply {
        if self.settle
            && let Some(state) = &self.state
        {
            assert!(
                state
                    .cache
                    .settle_writes(std::time::Duration::from_secs(10))
                    .await,
                "cache writes did not land within 10 s"
            );
        }
        reply
    }

    pub async fn get(&self, path_and_query: &str) -> Reply {
        self.request(reqwest::Method::GET, path_and_query, &[])
            .await
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.base, path_and_query));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request reaches the server");
        let reply = Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.expect("body").to_vec(),
        };
        self.settled(reply).await
    }

    /// `/health/` once it satisfies `wanted` (bounded): the server reuses one answer for a
    /// second, so a change shows in the next one, not at once.
    pub async fn health_when(&self, what: &str, wanted: impl Fn(&Reply) -> bool) -> Reply {
        let started = std::time::Instant::now();
        loop {
            let reply = self.get("/health/").await;
            if wanted(&reply) {
                return reply;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(15),
                "timed out waiting for /health/ to show {what}: {}",
                reply.json()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Stops the server gracefully and waits until every handle on the data directory is gone.
    pub async fn stop(mut self) {
        self.state.take();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task ends cleanly");
        }
    }
}

/// Opens a stopped server's sled directly. sled's background threads release its file lock a
/// moment after the last handle is dropped, so retry briefly.
pub fn open_sled(path: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match sled::open(path) {
            Ok(db) => return db,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("cannot open {}: {e}", path.display()),
        }
    }
}

/// Tokens of a signed-in test user.
pub struct Session {
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    /// Sends `body` as JSON with `method`, optionally as `token`.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> Reply {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer.as_str()));
        }
        let mut request = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("request reaches the server");
        let reply = Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.expect("body").to_vec(),
        };
        self.settled(reply).await
    }

    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> Reply {
        self.send_json(reqwest::Method::POST, path, body, token)
            .await
    }

    /// GET (or another bodiless method) with a bearer token.
    pub async fn authed(&self, method: reqwest::Method, path: &str, token: &str) -> Reply {
        let bearer = format!("Bearer {token}");
        self.request(method, path, &[("authorization", &bearer)])
            .await
    }

    /// Exchanges a refresh token for a new pair (`POST /api/users/refresh/`).
    pub async fn refresh(&self, refresh: &str) -> Reply {
        self.post(
            "/api/users/refresh/",
            &serde_json::json!({ "refresh": refresh }),
            None,
        )
        .await
    }

    /// Registers `username` (password `password123`) and logs in.
    pub async fn sign_up(&self, username: &str) -> Session {
        let r = self
            .post(
                "/api/users/register/",
                &serde_json::json!({"username": username, "password": "password123"}),
                None,
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        self.log_in(username, "password123").await
    }

    pub async fn log_in(&self, username: &str, password: &str) -> Session {
        let r = self
            .post(
                "/api/users/login/",
                &serde_json::json!({"username": username, "password": password}),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        Session {
            access: v["access"].as_str().unwrap().to_owned(),
            refresh: v["refresh"].as_str().unwrap().to_owned(),
        }
    }
}

/// The command-line tool on `data_dir`, with an empty environment.
pub fn cli(data_dir: &Path, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_reelcache"));
    crate::process::dies_with_its_test(&mut command);
    command
        .env_clear()
        .arg("--data-dir")
        .arg(data_dir)
        .args(args);
    command
}

/// Makes `username` staff through the command-line tool, as an operator would.
pub fn make_staff(data_dir: &Path, username: &str) {
    let output = cli(data_dir, &["user", "set-admin", username])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl TestApp {
    /// `get` with an owned path, for building many requests in an iterator.
    pub async fn get_owned(&self, path_and_query: String) -> Reply {
        self.get(&path_and_query).await
    }
}
