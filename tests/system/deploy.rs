//! `deploy/reelcache.service` and the steps of `deploy/README.md`: the steps install what the unit
//! names, the unit's `ExecStart` as written serves the demo from an empty environment, and
//! `systemd-analyze verify` finds nothing to say about the unit.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process;

fn read(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The values of `Key=` in the unit, in order (comments left out).
fn values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_owned)
        .collect()
}

fn one(unit: &str, key: &str) -> String {
    let found = values(unit, key);
    assert_eq!(found.len(), 1, "one {key}= in the unit: {found:?}");
    found.into_iter().next().unwrap()
}

pub fn the_install_steps_provide_everything_the_unit_names() {
    let unit = read("deploy/reelcache.service");
    let steps = read("deploy/README.md");
    let exec = one(&unit, "ExecStart");
    let binary = exec.split_whitespace().next().unwrap();
    assert!(
        steps.contains(&format!(
            "install -m 0755 target/release/reelcache {binary}"
        )),
        "the steps install the binary at {binary}"
    );
    let user = one(&unit, "User");
    assert!(
        steps
            .lines()
            .any(|l| l.contains("useradd --system") && l.trim_end().ends_with(&user)),
        "the steps create the user {user}"
    );
    let env_file = one(&unit, "EnvironmentFile");
    let env_file = env_file.trim_start_matches('-');
    assert!(
        steps.contains(&format!("install -m 0600 /dev/null {env_file}")),
        "the steps create {env_file} with mode 0600"
    );
    for doc in one(&unit, "Documentation").split_whitespace() {
        let path = doc
            .strip_prefix("file://")
            .unwrap_or_else(|| panic!("{doc}: a file the steps install"));
        assert!(
            steps
                .lines()
                .any(|l| l.contains("install -D -m 0644") && l.trim_end().ends_with(path)),
            "the steps install {path}, which Documentation= names"
        );
    }
    assert_eq!(one(&unit, "LimitNOFILE"), "65536");
    let state = one(&unit, "StateDirectory");
    assert!(
        exec.contains(&format!("--data-dir /var/lib/{state}")),
        "the data directory is the one systemd creates: {exec}"
    );
    assert!(
        !exec.contains("--config"),
        "no configuration file is required by the unit: {exec}"
    );
}

/// The unit's `ExecStart`, as written, with the binary this build made and the data directory in
/// a temporary directory (and a free port: the test must not need 8000).
pub async fn the_units_exec_start_serves_the_demo_from_an_empty_environment() {
    let unit = read("deploy/reelcache.service");
    let exec = one(&unit, "ExecStart");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("var-lib-reelcache");
    let args: Vec<String> = exec
        .split_whitespace()
        .skip(1)
        .map(|a| a.replace("/var/lib/reelcache", data.to_str().unwrap()))
        .collect();
    let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let child = Command::new(process::BIN)
        .args(&args)
        .args(["--listen", "127.0.0.1:0"])
        .env_clear()
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let (mut child, addr) = process::listening_addr_async(child).await;
    let reply = reqwest::get(format!("http://{addr}/api/movies/trending/?page=2"))
        .await
        .unwrap();
    let status = reply.status();
    let body: serde_json::Value = reply.json().await.unwrap();
    process::signal(&child, "TERM");
    let exit = child.wait().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pagination"]["current_page"], 2);
    assert!(!body["data"].as_array().unwrap().is_empty());
    assert!(exit.success(), "SIGTERM is a clean stop: {exit}");
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(log.contains("running OFFLINE"), "{log}");
}

pub fn installed() -> bool {
    Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `systemd-analyze verify` on the unit, the binary path pointed at this build's binary (it must
/// exist and be executable for verify to pass). Any warning fails: systemd ignores unknown keys
/// with only a warning, and exits 0.
pub fn the_unit_passes_systemd_analyze_verify() {
    let unit = read("deploy/reelcache.service");
    let exec = one(&unit, "ExecStart");
    let binary = exec.split_whitespace().next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("reelcache.service");
    std::fs::write(&path, unit.replace(&binary, process::BIN)).unwrap();
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.trim().is_empty(),
        "systemd-analyze has something to say: {stderr}"
    );

    // And it would say it: a misspelt key is reported.
    let bad = dir.path().join("bad.service");
    std::fs::write(
        &bad,
        unit.replace(&binary, process::BIN)
            .replace("LimitNOFILE=", "LimitNOFILES="),
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("LimitNOFILES"));
}
