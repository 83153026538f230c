//! The shell examples of `README.md` and `deploy/README.md`, pasted as a reader would: every
//! fenced `sh` block runs, in order, in one scratch directory, with `reelcache` on `PATH` (this
//! build's binary), an empty environment and no network (no credential, so offline). A block the
//! tests cannot run says why, in a comment just above it:
//!
//! - `<!-- readme-test: server -->`: run against a server started offline on the bundled demo
//!   data, `127.0.0.1:8000` meaning that server (every `curl` must get a 2xx);
//! - `<!-- readme-test: skip: <reason> -->`: not run (it needs TMDB, root, systemd or a build),
//!   but every `reelcache ...` command in it is still parsed by the binary (`--help` appended:
//!   an unknown flag, a misspelled subcommand or a bad value fails), so it cannot drift either.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::process;

#[derive(Debug, PartialEq)]
enum Kind {
    Run,
    Server,
    Skip(String),
}

#[derive(Debug)]
struct Block {
    file: &'static str,
    line: usize,
    kind: Kind,
    script: String,
}

const MARKER: &str = "<!-- readme-test:";

/// The fenced `sh` blocks of one Markdown file, each with the marker above it (if any).
fn blocks(file: &'static str) -> Vec<Block> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "```sh" {
            i += 1;
            continue;
        }
        let start = i;
        let above = lines[..start]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map_or("", |l| l.trim());
        let kind = match above.strip_prefix(MARKER) {
            None => Kind::Run,
            Some(rest) => {
                let rest = rest.trim().trim_end_matches("-->").trim();
                if rest == "server" {
                    Kind::Server
                } else if let Some(reason) = rest.strip_prefix("skip:") {
                    assert!(
                        !reason.trim().is_empty(),
                        "{file}:{start}: a skipped block says why"
                    );
                    Kind::Skip(reason.trim().to_owned())
                } else {
                    panic!("{file}:{start}: unknown readme-test marker {above}")
                }
            }
        };
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && lines[i].trim() != "```" {
            // A block indented under a list item: the fence's indentation is not the command's.
            body.push(lines[i].trim_start());
            i += 1;
        }
        assert!(
            i < lines.len(),
            "{file}:{}: unclosed ```sh block",
            start + 1
        );
        found.push(Block {
            file,
            line: start + 1,
            kind,
            script: body.join("\n"),
        });
        i += 1;
    }
    found
}

/// The `reelcache ...` commands of a script, one per logical line, without a trailing comment or
/// `&`, and without what stands before `reelcache` (variables, `echo ... |`).
fn reelcache_commands(script: &str) -> Vec<String> {
    script
        .replace("\\\n", " ")
        .lines()
        .filter_map(|line| {
            let line = match line.find(" #") {
                Some(at) => &line[..at],
                None => line,
            };
            let line = line.trim().trim_end_matches('&').trim();
            if line.starts_with('#') {
                return None;
            }
            command_at(line).map(|at| line[at..].to_owned())
        })
        .collect()
}

/// Where `reelcache` is the command of a line: first, or after variable assignments, after a
/// pipe, or after `sudo [-u USER]`.
fn command_at(line: &str) -> Option<usize> {
    let words: Vec<(usize, &str)> = line
        .split_whitespace()
        .map(|w| (w.as_ptr() as usize - line.as_ptr() as usize, w))
        .collect();
    let assignment = |w: &str| w.contains('=') && !w.starts_with('-');
    words.iter().enumerate().find_map(|(i, &(at, word))| {
        let before: Vec<&str> = words[..i].iter().map(|&(_, w)| w).collect();
        let after_sudo = match before.as_slice() {
            ["sudo", "-u", _, rest @ ..] | ["sudo", rest @ ..] => {
                rest.iter().all(|w| assignment(w))
            }
            _ => false,
        };
        let is_command =
            before.iter().all(|w| assignment(w)) || before.last() == Some(&"|") || after_sudo;
        (word == "reelcache" && is_command).then_some(at)
    })
}

/// `reelcache` on PATH as an installed binary would be, and the scratch directory a reader pastes
/// into.
struct Shell {
    _dir: tempfile::TempDir,
    bin: PathBuf,
    work: PathBuf,
}

impl Shell {
    fn new() -> Shell {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        std::os::unix::fs::symlink(process::BIN, bin.join("reelcache")).unwrap();
        Shell {
            _dir: dir,
            bin,
            work,
        }
    }

    /// Runs `script` under `sh -eu`, `curl` failing on any status but 2xx, bounded in time.
    fn run(&self, script: &str) -> Output {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_owned())
        );
        let script = format!(
            "set -eu\ncurl() {{ command curl --silent --show-error --fail-with-body \
             --max-time 10 \"$@\"; }}\n{script}\n"
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(&self.work)
            .env_clear()
            .env("PATH", path)
            .env("HOME", &self.work)
            // Nothing here may reach TMDB: there is no credential, and this address refuses.
            .env("REELCACHE_TMDB_BASE_URL", "http://127.0.0.1:9/3")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a timeout kills whatever it started too (a server left
            // running would hold the pipes open).
            .process_group(0)
            .spawn()
            .expect("sh runs");
        // The pipes are drained while the script runs (a full pipe would stall it), and the
        // script is killed if it outlives the bound.
        let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let _ = pipe.read_to_end(&mut out);
                out
            })
        };
        let stdout = drain(Box::new(child.stdout.take().expect("piped")));
        let stderr = drain(Box::new(child.stderr.take().expect("piped")));
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(format!("-{}", child.id()))
                    .status();
                break child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Output {
            status,
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        }
    }
}

/// A server as the README's first command starts it: offline, on the built-in demo data.
struct DemoServer {
    child: std::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl DemoServer {
    fn start() -> DemoServer {
        let dir = tempfile::tempdir().unwrap();
        let mut child = process::command(dir.path())
            .args(["--listen", "127.0.0.1:0"])
            .spawn()
            .unwrap();
        let addr = process::listening_addr(&mut child);
        DemoServer {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn show(block: &Block, script: &str, output: &Output) -> String {
    let tail = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let cut = text.len().saturating_sub(2000);
        let cut = (cut..=text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text[cut..].to_owned()
    };
    format!(
        "{}:{} failed ({}):\n{script}\n--- stdout\n{}\n--- stderr\n{}",
        block.file,
        block.line,
        output.status,
        tail(&output.stdout),
        tail(&output.stderr)
    )
}

#[test]
fn every_shell_example_of_the_readmes_works_as_written() {
    let shell = Shell::new();
    let mut server: Option<DemoServer> = None;
    let (mut ran, mut served, mut parsed) = (0, 0, 0);
    for block in blocks("README.md")
        .into_iter()
        .chain(blocks("deploy/README.md"))
    {
        match &block.kind {
            Kind::Run => {
                let output = shell.run(&block.script);
                assert!(
                    output.status.success(),
                    "{}",
                    show(&block, &block.script, &output)
                );
                ran += 1;
            }
            Kind::Server => {
                let addr = &server.get_or_insert_with(DemoServer::start).addr;
                let script = block.script.replace("127.0.0.1:8000", addr);
                let output = shell.run(&script);
                assert!(
                    output.status.success(),
                    "{}",
                    show(&block, &script, &output)
                );
                served += 1;
            }
            Kind::Skip(_) => {
                for command in reelcache_commands(&block.script) {
                    let script = format!("{command} --help >/dev/null");
                    let output = shell.run(&script);
                    assert!(
                        output.status.success(),
                        "{}",
                        show(&block, &script, &output)
                    );
                    parsed += 1;
                }
            }
        }
    }
    // The parser found the examples (a broken fence must not turn this into a test of nothing).
    assert!(
        ran >= 3 && served >= 1 && parsed >= 5,
        "ran {ran}, served {served}, parsed {parsed}"
    );
}

#[test]
fn commands_are_found_where_reelcache_is_the_command() {
    let found = reelcache_commands(
        "echo 'pw' | reelcache user create alice --password-stdin\n\
         TMDB_API_KEY=... reelcache warm   # a comment\n\
         reelcache --data-dir ./a --listen 127.0.0.1:8001 &\n\
         # reelcache in a comment\n\
         sudo systemctl restart reelcache\n\
         sudo -u reelcache reelcache --data-dir /var/lib/reelcache db backup x.db\n\
         cargo run --release -- dev make-demo data/demo.rcsnap\n\
         reelcache\n",
    );
    assert_eq!(
        found,
        [
            "reelcache user create alice --password-stdin",
            "reelcache warm",
            "reelcache --data-dir ./a --listen 127.0.0.1:8001",
            "reelcache --data-dir /var/lib/reelcache db backup x.db",
            "reelcache",
        ]
    );
}

#[test]
fn a_broken_example_fails() {
    // What the test above relies on: a command the binary does not take fails its block.
    let shell = Shell::new();
    let output = shell.run("echo 'a-long-password' | reelcache user create alice --password-stdin --email-address a@example.org");
    assert!(!output.status.success());
    let output = shell.run("reelcache user set-admin nobody");
    assert!(!output.status.success(), "no such user is an error");
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn the_contents_list_every_section_and_every_anchor_lands_on_a_heading() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut in_fence = false;
    let mut headings = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if let Some(h) = line
            .strip_prefix("## ")
            .or_else(|| line.strip_prefix("### "))
            .filter(|_| !in_fence)
        {
            headings.push((line.starts_with("## "), h.to_owned()));
        }
    }
    let contents_start = text.find("## Contents\n").expect("a table of contents");
    let contents_end = contents_start + text[contents_start..].find("\n## ").unwrap();
    let contents = &text[contents_start..contents_end];
    for (top, heading) in headings.iter().filter(|(_, h)| h != "Contents") {
        let indent = if *top { "- " } else { "  - " };
        let entry = format!("{indent}[{heading}](#{})", anchor(heading));
        assert!(contents.contains(&entry), "the contents list {entry}");
    }
    let anchors: Vec<String> = headings.iter().map(|(_, h)| anchor(h)).collect();
    let mut checked = 0;
    for (at, _) in text.match_indices("](#") {
        let rest = &text[at + 3..];
        let target = &rest[..rest.find(')').unwrap()];
        assert!(
            anchors.iter().any(|a| a == target),
            "#{target} is a heading"
        );
        checked += 1;
    }
    assert!(checked > 20, "{checked} links");
    // The sections people need first come before the internals.
    let order = [
        "Run it",
        "Configure it",
        "Operate it",
        "How it works",
        "Development",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|h| {
            text.find(&format!("\n## {h}\n"))
                .unwrap_or_else(|| panic!("## {h}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "{order:?} in that order"
    );
}

/// A release the documents name ("added in 0.2", "since 0.3") is this crate's version or an
/// earlier one: documentation never speaks of a release that has not happened.
#[test]
fn documents_name_no_release_after_this_one() {
    let ours: Vec<u64> = env!("CARGO_PKG_VERSION")
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![
        root.join("README.md"),
        root.join("deploy/README.md"),
        root.join("config.example.toml"),
    ];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        // Text only (docs/screenshots/ holds pictures).
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut seen = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let words: Vec<&str> = text.split_whitespace().collect();
        for pair in words.windows(3) {
            let lead = pair[0].to_lowercase();
            if ![
                "in",
                "since",
                "from",
                "until",
                "before",
                "after",
                "while",
                "reelcache",
                "version",
            ]
            .contains(&lead.as_str())
            {
                continue;
            }
            // "in 0.1 s", "from 0.46 to": quantities, not releases.
            let unit = pair[2].trim_matches(|c: char| !c.is_alphanumeric());
            if ["s", "ms", "µs", "MB", "GB", "KB", "to", "of", "x", "×"].contains(&unit) {
                continue;
            }
            let word = pair[1].trim_matches(|c: char| !c.is_ascii_digit());
            let parts: Vec<u64> = word.split('.').filter_map(|n| n.parse().ok()).collect();
            if parts.len() < 2
                || parts.len() != word.split('.').count()
                || parts[0] != 0 && parts[0] > 9
            {
                continue;
            }
            seen += 1;
            let mut named = parts.clone();
            named.resize(3, 0);
            assert!(
                named <= ours,
                "{}: \"{} {}\" names a release after {}",
                file.display(),
                pair[0],
                pair[1],
                env!("CARGO_PKG_VERSION")
            );
        }
    }
    // "while 0.1.0 was being developed" (FORMATS.md): the check found what it looks for.
    assert!(
        seen >= 1,
        "no release named anywhere: the check looks at nothing"
    );
}
