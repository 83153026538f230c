//! A real `redis-server` for the tests: started on a free loopback port with a temporary
//! directory and no persistence, killed on drop. Where the binary is not installed the harness
//! reports the Redis tests as ignored, except under `CI=true`, where they run and fail here
//! (`.ci/run` installs Debian's `redis-server`), so CI cannot pass without running them.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Every test server wants this password, so the password path is what the tests exercise (and
/// what they check never reaches a log).
pub const PASSWORD: &str = "test-redis-pass-7f3a9c";

pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

pub fn installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl RedisServer {
    /// A running server. Panics when `redis-server` is not installed: outside CI the harness
    /// does not run these tests then.
    pub fn start() -> RedisServer {
        assert!(
            installed(),
            "redis-server is not installed, and under CI=true the Redis tests must run \
             (apt-get install redis-server)"
        );
        let port = crate::helpers::free_port();
        let mut server = RedisServer {
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://:{PASSWORD}@127.0.0.1:{}/0", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--requirepass", PASSWORD])
            // As the README advises: Redis bounds the cache and evicts the least recently used.
            .args(["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let started = Instant::now();
        while self.connection().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not answer on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL: gone at once, as when the host dies.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A plain client, for looking at and planting keys as another program would.
    pub fn connection(&self) -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(self.url())?;
        let mut conn = client.get_connection_with_timeout(Duration::from_secs(1))?;
        redis::cmd("PING").query::<String>(&mut conn)?;
        Ok(conn)
    }

    /// Runs one command and returns its answer.
    pub fn query<T: redis::FromRedisValue>(&self, cmd: &mut redis::Cmd) -> T {
        let mut conn = self.connection().expect("redis answers");
        cmd.query(&mut conn).expect("the command succeeds")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
