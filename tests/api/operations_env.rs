//! What an operator reads before starting reelcache: `--help` (every flag explained, global flags
//! apart, every environment variable named) and the environment itself (the names derived from
//! the configuration keys, the older names, secrets read from `*_FILE`), checked through the
//! binary and `config check`.

use clap::CommandFactory;
use reelcache::config::SPECS;

use crate::helpers::cli;

fn run(command: &mut std::process::Command) -> (Option<i32>, String, String) {
    let output = command.output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The `config check` line of one setting.
fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no line for {key}: {out}"))
}

#[test]
fn help_names_every_environment_variable_and_sets_global_flags_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(&mut cli(dir.path(), &["--help"]));
    assert_eq!(code, Some(0), "{err}");
    for name in [
        "TMDB_API_KEY",
        "TMDB_API_KEY_FILE",
        "REELCACHE_JWT_SECRET_FILE",
    ] {
        assert!(out.contains(name), "--help names {name}: {out}");
    }
    for spec in SPECS {
        for name in std::iter::once(spec.env()).chain(spec.alias) {
            assert!(out.contains(name), "--help names {name}");
        }
    }
    assert!(
        out.contains("[env: REELCACHE_TMDB_BASE_URL, TMDB_BASE_URL]"),
        "a flag names its variables: {out}"
    );
    let (code, short, _) = run(&mut cli(dir.path(), &["-h"]));
    assert_eq!(code, Some(0));
    assert!(short.contains("TMDB_API_KEY"), "{short}");

    // A subcommand's own flags come first, under their own heading; the global ones after.
    let (code, out, err) = run(&mut cli(dir.path(), &["cache", "clear", "--help"]));
    assert_eq!(code, Some(0), "{err}");
    let at = |s: &str| out.find(s).unwrap_or_else(|| panic!("{s} missing: {out}"));
    assert!(at("--namespace") < at("Global options:"), "{out}");
    assert!(at("Global options:") < at("--data-dir"), "{out}");
}

/// Every argument of every command says what it is for.
#[test]
fn every_argument_has_help() {
    fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in command.get_arguments() {
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in command.get_subcommands() {
            if sub.get_about().is_none() {
                missing.push(format!("{path} {} (the command)", sub.get_name()));
            }
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut command = reelcache::app::cli::Cli::command();
    command.build();
    let mut missing = Vec::new();
    walk(&command, "reelcache", &mut missing);
    assert!(missing.is_empty(), "without help: {missing:?}");
}

#[test]
fn derived_names_and_the_older_ones_both_set_a_setting() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value) in [
        ("REELCACHE_RESILIENCE_STALE_GRACE", "2h"),
        ("REELCACHE_STALE_GRACE", "3h"),
        ("REELCACHE_TMDB_BASE_URL", "http://127.0.0.1:9/3"),
        ("TMDB_BASE_URL", "http://127.0.0.1:8/3"),
    ] {
        let (code, out, err) = run(cli(dir.path(), &["config", "check"]).env(name, value));
        assert_eq!(code, Some(0), "{name}: {err}");
        let key = SPECS
            .iter()
            .find(|s| s.env() == name || s.alias == Some(name))
            .unwrap()
            .key;
        let shown = line(&out, key);
        assert!(
            shown.contains(value) && shown.contains(&format!("environment {name}")),
            "{shown}"
        );
    }
    let (code, _, err) = run(cli(dir.path(), &["config", "check"])
        .env("REELCACHE_HTTP_WORKERS", "2")
        .env("REELCACHE_WORKERS", "3"));
    assert_eq!(code, Some(2), "two names for one setting: {err}");
    assert!(
        err.contains("REELCACHE_HTTP_WORKERS") && err.contains("REELCACHE_WORKERS"),
        "{err}"
    );
}

#[test]
fn secrets_are_read_from_files_named_by_file_variables() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let key = secrets.path().join("tmdb_api_key");
    std::fs::write(&key, "file-held-tmdb-key-0123\n").unwrap();
    let jwt = secrets.path().join("jwt");
    std::fs::write(&jwt, "file-held-signing-secret-0123456789abcdef").unwrap();
    let redis = secrets.path().join("redis");
    std::fs::write(&redis, "redis://:file-held-pass@cache.internal:6379/0\n").unwrap();
    let (code, out, err) = run(cli(dir.path(), &["config", "check"])
        .env("TMDB_API_KEY_FILE", &key)
        .env("REELCACHE_JWT_SECRET_FILE", &jwt)
        .env("REELCACHE_CACHE_URL_FILE", &redis));
    assert_eq!(code, Some(0), "{err}");
    assert!(!out.contains("file-held"), "{out}");
    assert!(
        line(&out, "tmdb.api_key").contains(&format!(
            "environment TMDB_API_KEY_FILE (file {})",
            key.display()
        )),
        "{out}"
    );
    assert!(line(&out, "auth.jwt_secret").contains("REELCACHE_JWT_SECRET_FILE"));
    assert!(
        line(&out, "cache.url").contains("redis://:REDACTED@cache.internal:6379/0"),
        "{out}"
    );

    // A variable and its file at once, or a file that cannot be read: a configuration error.
    let missing = secrets.path().join("missing");
    let conflicting = [
        ("TMDB_API_KEY", key.as_os_str()),
        ("TMDB_API_KEY_FILE", key.as_os_str()),
    ];
    let unreadable = [("REELCACHE_JWT_SECRET_FILE", missing.as_os_str())];
    for (vars, named) in [
        (&conflicting[..], "TMDB_API_KEY_FILE"),
        (&unreadable[..], "REELCACHE_JWT_SECRET_FILE"),
    ] {
        let mut command = cli(dir.path(), &["config", "check"]);
        command.envs(vars.iter().copied());
        let (code, out, err) = run(&mut command);
        assert_eq!(code, Some(2), "{named}: {out}{err}");
        assert!(err.contains(named) && !err.contains("file-held"), "{err}");
    }
}
