//! A real PostgreSQL server for the tests (Debian's `postgresql` package): `initdb` into a
//! temporary directory and `postgres` on a free loopback port, both run as the `postgres` user
//! (PostgreSQL refuses root) through `setpriv`, which execs, so the child is the postmaster and
//! is stopped by its PID. One server is shared by every test of a run ([`shared`]), each test
//! on a database of its own ([`PgServer::fresh_database`]); the harness stops it after the last
//! test ([`stop_shared`]). Where PostgreSQL is not installed the harness reports these tests as
//! ignored, except under `CI=true`, where they run and fail here (`.ci/run` installs it).
//! The server also speaks TLS, with a certificate for 127.0.0.1 from a certificate authority
//! made for the run ([`PgServer::tls_ca`]; `openssl` makes both); the tests' own URLs say
//! `sslmode=disable`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The superuser's password: the tests exercise the password path (and that it never reaches a
/// log or `config check`).
pub const PASSWORD: &str = "test-pg-pass-41c9e2";
const USER: &str = "reelcache";

pub struct PgServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Mutex<Option<Child>>,
    databases: AtomicU32,
}

/// The newest `/usr/lib/postgresql/<version>/bin`.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Why PostgreSQL cannot run here, or `None` when it can.
pub fn missing() -> Option<&'static str> {
    if bin_dir().is_none() {
        return Some("PostgreSQL not installed (apt-get install postgresql)");
    }
    let user_exists = Command::new("id")
        .arg("postgres")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !user_exists {
        return Some("no postgres user to run PostgreSQL as");
    }
    // As root, setpriv runs it as postgres; as anyone else it cannot.
    if unsafe { libc::geteuid() } != 0 {
        return Some("starting PostgreSQL as the postgres user needs root");
    }
    if Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        return Some("openssl not installed (apt-get install openssl)");
    }
    None
}

fn as_postgres(bin: &str) -> Command {
    let mut command = Command::new("setpriv");
    command
        .args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(bin_dir().expect("PostgreSQL is installed").join(bin));
    command
}

static SHARED: OnceLock<PgServer> = OnceLock::new();

/// The run's server, started on first use.
pub fn shared() -> &'static PgServer {
    SHARED.get_or_init(PgServer::start)
}

/// Stops the run's server, if one was started (the harness calls it after the last test).
pub fn stop_shared() {
    if let Some(server) = SHARED.get() {
        server.stop();
    }
}

impl PgServer {
    /// A running server. Panics when PostgreSQL cannot run here: outside CI the harness does
    /// not run these tests then.
    pub fn start() -> PgServer {
        if let Some(why) = missing() {
            panic!("{why}, and under CI=true the PostgreSQL tests must run");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let chown = Command::new("chown")
            .arg("postgres:postgres")
            .arg(dir.path())
            .status()
            .expect("chown runs");
        assert!(chown.success(), "chown the temporary directory to postgres");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).expect("password file");
        let initdb = as_postgres("initdb")
            .arg("-D")
            .arg(dir.path().join("data"))
            .args([
                "-U",
                USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .args([
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
                "--no-instructions",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("initdb runs");
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        make_certificates(dir.path());
        let server = PgServer {
            port: crate::helpers::free_port(),
            dir,
            child: Mutex::new(None),
            databases: AtomicU32::new(0),
        };
        server.restart();
        server
    }

    /// Starts (again) on the same port and data, and waits until it accepts connections.
    pub fn restart(&self) {
        let mut child = self.child.lock().unwrap();
        assert!(child.is_none(), "already running");
        let log = std::fs::File::create(self.dir.path().join("server.log")).expect("log file");
        *child = Some(
            as_postgres("postgres")
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-p", &self.port.to_string()])
                .arg("-k")
                .arg(self.dir.path())
                .args(["-c", "listen_addresses=127.0.0.1"])
                // Tests only: nothing here must survive the machine.
                .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
                .args(["-c", "max_connections=200"])
                .args(["-c", "ssl=on"])
                .arg("-c")
                .arg(format!(
                    "ssl_cert_file={}",
                    self.dir.path().join("server.pem").display()
                ))
                .arg("-c")
                .arg(format!(
                    "ssl_key_file={}",
                    self.dir.path().join("server.key").display()
                ))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("postgres starts"),
        );
        drop(child);
        let started = Instant::now();
        while !self.ready() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "PostgreSQL did not accept connections on port {}: {}",
                self.port,
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ready(&self) -> bool {
        self.psql("postgres", "SELECT 1").is_ok()
    }

    /// Runs one SQL statement with `psql` as another program would; its output, or its error.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(bin_dir().expect("installed").join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg(self.url_of(database))
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn url_of(&self, database: &str) -> String {
        format!(
            "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// The PEM certificate of the authority that signed the server's certificate.
    pub fn tls_ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A new, empty database, and its URL.
    pub fn fresh_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("reelcache_test_{n}");
        self.psql("postgres", &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        self.url_of(&name)
    }

    /// SIGKILL: gone at once, as when the host dies (what it acknowledged is in its WAL).
    pub fn kill(&self) {
        self.signal(libc::SIGKILL);
    }

    /// A fast shutdown (SIGINT), waited for.
    pub fn stop(&self) {
        self.signal(libc::SIGINT);
    }

    fn signal(&self, signal: libc::c_int) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A certificate authority (`ca.pem`) and, signed by it, the server's certificate for
/// 127.0.0.1 and localhost (`server.pem`, `server.key`, readable by the postgres user only, as
/// PostgreSQL insists), valid for two days.
fn make_certificates(dir: &std::path::Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
            &["-subj", "/CN=reelcache test CA"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &["-keyout", "server.key", "-out", "server.csr"],
            &["-subj", "/CN=127.0.0.1"],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions file");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    for file in ["server.pem", "server.key", "ca.pem"] {
        let path = dir.join(file);
        let chown = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&path)
            .status()
            .expect("chown runs");
        assert!(chown.success(), "chown {file}");
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod server.key");
    // Readable by the tests' instances whoever runs them.
    std::fs::set_permissions(dir.join("ca.pem"), std::fs::Permissions::from_mode(0o644))
        .expect("chmod ca.pem");
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}
