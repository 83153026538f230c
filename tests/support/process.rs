//! The real binary as a child process: an empty environment, logs to a file, the `listening on`
//! line, signals and exits. Shared by the black-box and the system tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_reelcache");

/// The binary with an empty environment, its logs going to `<data_dir>/../stderr.log` (a file, not
/// a pipe: a pipe nobody drains would block a chatty server).
pub(crate) fn command(data_dir: &Path) -> Command {
    let log = std::fs::File::create(stderr_path(data_dir)).expect("log file");
    let mut cmd = Command::new(BIN);
    dies_with_its_test(&mut cmd);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .arg("--data-dir")
        .arg(data_dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log));
    cmd
}

/// The child is killed when the thread that started it ends (Linux's parent-death signal): a
/// test that fails an assertion before its own `kill` leaves no server running.
pub(crate) fn dies_with_its_test(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl(2) is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn stderr_path(dir: &Path) -> PathBuf {
    dir.join("stderr.log")
}

/// Waits for the `listening on http://...` line and returns the address. Blocking.
pub(crate) fn listening_addr(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let line = BufReader::new(stdout)
        .lines()
        .next()
        .expect("a line on stdout")
        .expect("readable stdout");
    let addr = line
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    assert!(!addr.ends_with(":0"), "the real port is shown: {line}");
    addr
}

/// `listening_addr` from async tests, off the runtime's threads.
pub(crate) async fn listening_addr_async(mut child: Child) -> (Child, String) {
    tokio::task::spawn_blocking(move || {
        let addr = listening_addr(&mut child);
        (child, addr)
    })
    .await
    .unwrap()
}

pub(crate) fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(status.success());
}

pub(crate) fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waitable") {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the server did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `wait_exit` from async tests, off the runtime's threads.
pub(crate) async fn wait_exit_async(mut child: Child, limit: Duration) -> std::process::ExitStatus {
    tokio::task::spawn_blocking(move || wait_exit(&mut child, limit))
        .await
        .unwrap()
}

pub(crate) fn stderr_of(dir: &Path) -> String {
    std::fs::read_to_string(stderr_path(dir)).unwrap_or_default()
}
