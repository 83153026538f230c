//! `Settings`: every knob of reelcache, with defaults in code, then an optional TOML file, then the
//! environment, then command-line flags. Nothing else in the crate reads the environment.
//!
//! Each setting is declared once, in `config/table.rs` (`settings!`: the struct field, its dotted
//! name, default, older name and parser); its environment variable and flag follow from the name,
//! and [`SPECS`] lists them all. Loading resolves a raw string per setting, remembering which
//! layer it came from, and then parses it. A bad value stops start-up with one line naming the
//! setting and its source.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod database_url;
mod environment;
mod parse;
mod resolve;
mod secret;
mod specs;
mod table;
pub use database_url::{DatabaseTls, DatabaseUrl};
pub use environment::{environment_help, setting_of_flag};
pub use parse::{BURST_SECONDS, HASH_SLOTS_AUTO_MAX, parse_duration};
pub use resolve::Resolved;
pub use secret::{Credential, RedisUrl, Secret, redact_url};
pub use specs::{SPECS, Shown, Spec};
pub use table::{
    AuthSettings, CacheSettings, ChangeFeedSettings, ClientSettings, DatabaseSettings,
    HttpSettings, ImageSettings, ResilienceSettings, Settings, TmdbSettings, TtlSettings,
    WarmSettings,
};

/// What an offline server with an empty cache starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedSnapshot {
    /// The synthetic demo data compiled into the binary (`data/demo.rcsnap` when it was built).
    Builtin,
    /// A snapshot file (relative paths are in the data directory).
    File(PathBuf),
    /// Nothing: the cache starts empty.
    None,
}

/// Where a setting's value came from, for error messages and `config check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(&'static str),
    /// A file named by an environment variable (`TMDB_API_KEY_FILE=/run/secrets/tmdb`).
    EnvFile {
        var: &'static str,
        path: PathBuf,
    },
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(path) => write!(f, "file {}", path.display()),
            Origin::Env(var) => write!(f, "environment {var}"),
            Origin::EnvFile { var, path } => {
                write!(f, "environment {var} (file {})", path.display())
            }
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// How often a sled store that cannot write is looked at (and reopened once the disk takes
/// writes again): a few seconds, so `/health/` says so soon after space comes back.
pub const REOPEN_EVERY: Duration = Duration::from_secs(5);

impl HttpSettings {
    /// The async runtime's thread count: as configured, or half the cores (at least one).
    pub fn worker_threads(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |cores| (cores.get() / 2).max(1))
        })
    }
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAccess {
    Public,
    Staff,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Per-client limits.
impl AuthSettings {
    /// Hashes at once: as configured, or half the cores (at least one, at most
    /// `HASH_SLOTS_AUTO_MAX`), so a burst of logins leaves cores to the requests that need none
    /// and holds at most a few hashes' memory however large the machine.
    pub fn hash_slots(&self) -> usize {
        self.hash_concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |cores| (cores.get() / 2).clamp(1, HASH_SLOTS_AUTO_MAX))
        })
    }
}

/// Values given as command-line flags; `None` when the flag was not given.
/// Values given as command-line flags, by flag (`--listen`). A flag is named after its setting
/// as its variable is (`tmdb.base_url`: `--tmdb-base-url`), so the table needs no list of them.
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    values: BTreeMap<String, String>,
}

impl FlagOverrides {
    /// `flag` given as `--name`; an unknown flag is ignored when the settings are resolved.
    pub fn set(mut self, flag: &str, value: impl Into<String>) -> FlagOverrides {
        self.values.insert(flag.to_owned(), value.into());
        self
    }

    /// The flag's value for the setting `key`, and the flag's name.
    pub fn value_of(&self, key: &str) -> Option<(&str, &'static str)> {
        let flag = environment::names_of(key).flag;
        self.values.get(flag).map(|v| (v.as_str(), flag))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("config file {path} is not valid TOML: {reason}")]
    Syntax { path: PathBuf, reason: String },
    #[error("config file {path}: unknown setting '{key}' (see config.example.toml)")]
    UnknownKey { path: PathBuf, key: String },
    #[error("{setting} is set by both {first} and {second}: set only one of them")]
    EnvConflict {
        setting: &'static str,
        first: &'static str,
        second: &'static str,
    },
    #[error("cannot read {setting} from {} (named by {var}): {reason}", path.display())]
    SecretFile {
        setting: &'static str,
        var: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("invalid {setting} ({env}) from {origin}: {reason}")]
    Invalid {
        setting: &'static str,
        env: &'static str,
        origin: Origin,
        reason: String,
    },
}

impl Settings {
    /// Offline: asked for, or no credential to ask TMDB with. Offline, nothing opens a network
    /// connection and every cached entry is served whatever its age.
    pub fn is_offline(&self) -> bool {
        self.offline || self.tmdb.credential.is_none()
    }

    /// Why the server runs offline, or `None` when it asks TMDB: what start-up logs and
    /// `config check` shows, so the two never disagree.
    pub fn offline_reason(&self) -> Option<String> {
        if self.offline {
            let origin = self
                .origins
                .get("offline")
                .map_or_else(|| "the defaults".to_owned(), Origin::to_string);
            Some(format!("asked for (offline = true, from {origin})"))
        } else if self.tmdb.credential.is_none() {
            Some(
                "no TMDB credential is configured (set TMDB_API_KEY or TMDB_ACCESS_TOKEN, \
                 or TMDB_API_KEY_FILE / TMDB_ACCESS_TOKEN_FILE, to serve TMDB data)"
                    .to_owned(),
            )
        } else {
            None
        }
    }

    /// What this configuration runs, in a few lines for people: online or offline and why, what
    /// an offline server with an empty cache starts from, where the cache and accounts live.
    pub fn summary(&self) -> Vec<String> {
        let mut lines = Vec::new();
        match (self.offline_reason(), &self.tmdb.credential) {
            (Some(reason), _) => {
                lines.push(format!(
                    "mode: OFFLINE: {reason}; serves only what the data directory holds and never \
                     contacts TMDB"
                ));
                lines.push(format!(
                    "seed: an empty cache starts from {}",
                    match &self.seed_snapshot {
                        SeedSnapshot::Builtin =>
                            "the demo data compiled into this binary (synthetic, not TMDB data)"
                                .to_owned(),
                        SeedSnapshot::File(path) =>
                            format!("the snapshot {}", self.data_dir.join(path).display()),
                        SeedSnapshot::None => "nothing (seed_snapshot = none)".to_owned(),
                    }
                ));
            }
            (None, credential) => {
                let (kind, key) = match credential {
                    Some(Credential::Bearer(_)) => ("a v4 read access token", "tmdb.access_token"),
                    _ => ("a v3 API key", "tmdb.api_key"),
                };
                let origin = self
                    .origins
                    .get(key)
                    .map_or_else(String::new, |o| format!(" from {o}"));
                lines.push(format!(
                    "mode: online: asks TMDB at {} with {kind}{origin}",
                    self.tmdb.base_urls.join(", then ")
                ));
            }
        }
        lines.push(match &self.cache.url {
            Some(url) => format!("cache: Redis {} (prefix {})", url, self.cache.redis_prefix),
            None => format!(
                "cache: sled in {}",
                self.data_dir.join("cache").join("v1").display()
            ),
        });
        lines.push(match &self.database.url {
            Some(url) => format!(
                "accounts: PostgreSQL {url} (shared by every instance on it; needs \
                 auth.jwt_secret{})",
                if self.auth.jwt_secret.is_some() {
                    ", which is set"
                } else {
                    ", which is NOT set: the server will refuse to start"
                }
            ),
            None => format!(
                "accounts: SQLite {}",
                self.data_dir.join("reelcache.db").display()
            ),
        });
        lines
    }

    /// Loads the full layered configuration.
    pub fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &FlagOverrides,
    ) -> Result<Settings, ConfigError> {
        Resolved::collect(file, env, flags)?.into_settings()
    }

    /// Settings for tests and tools: every default, rooted in `data_dir`.
    pub fn defaults_in(data_dir: &Path) -> Settings {
        let flags = FlagOverrides::default().set("--data-dir", data_dir.to_string_lossy());
        Settings::load(None, &|_| None, &flags).expect("the built-in defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::parse::*;
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn zero_turns_the_thinking_ahead_loops_and_negative_entries_off() {
        let env = |k: &str| {
            [
                "REELCACHE_TTL_NEGATIVE",
                "REELCACHE_WARM_EVERY",
                "REELCACHE_CHANGES_EVERY",
            ]
            .contains(&k)
            .then(|| "0".to_owned())
        };
        let s = Settings::load(None, &env, &FlagOverrides::default()).unwrap();
        assert!(s.ttl.negative.is_zero() && s.warm.every.is_zero() && s.changes.every.is_zero());
    }

    #[test]
    fn tmdb_base_urls_are_a_list_in_order_of_preference() {
        let load = |raw: &str| {
            let raw = raw.to_owned();
            let env = move |k: &str| (k == "TMDB_BASE_URL").then(|| raw.clone());
            Settings::load(None, &env, &FlagOverrides::default())
        };
        let s = load("https://api.themoviedb.org/3/, https://api.tmdb.org/3").unwrap();
        assert_eq!(
            s.tmdb.base_urls,
            ["https://api.themoviedb.org/3", "https://api.tmdb.org/3"]
        );
        for bad in [",", "https://a/3,ftp://b/3", "https://a/3?x=1"] {
            assert!(load(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_match_the_documented_table() {
        let s = Settings::load(None, &|_| None, &FlagOverrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8000");
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert_eq!(s.language.as_str(), "en-US");
        assert_eq!(s.tmdb.base_urls, ["https://api.themoviedb.org/3"]);
        assert!(s.tmdb.credential.is_none());
        assert_eq!(s.ttl.trending, Duration::from_secs(3600));
        assert_eq!(s.ttl.recommendations, Duration::from_secs(3600));
        assert_eq!(s.ttl.details, Duration::from_secs(86400));
        assert_eq!(s.ttl.user, Duration::from_secs(900));
        assert_eq!(s.tmdb.connect_timeout, Duration::from_secs(3));
        assert_eq!(s.tmdb.timeout, Duration::from_secs(10));
        assert!(s.public_url.is_none());
        assert_eq!(s.http.header_timeout, Duration::from_secs(75));
        assert_eq!(s.http.workers, None);
        assert!(s.http.worker_threads() >= 1);
    }

    #[test]
    fn workers_are_auto_or_a_positive_count() {
        let load = |v: &'static str| {
            let pairs: &'static [(&str, &str)] = Box::leak(Box::new([("REELCACHE_WORKERS", v)]));
            Settings::load(None, &env_of(pairs), &FlagOverrides::default())
        };
        assert_eq!(load("3").unwrap().http.worker_threads(), 3);
        assert_eq!(load("auto").unwrap().http.workers, None);
        for bad in ["0", "-1", "many"] {
            let err = load(bad).unwrap_err().to_string();
            assert!(
                err.contains("REELCACHE_WORKERS") && err.contains("'auto'"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_client_rate_set_alone_brings_a_burst_in_proportion() {
        let load = |pairs: &'static [(&'static str, &'static str)]| {
            Settings::load(None, &env_of(pairs), &FlagOverrides::default())
                .unwrap()
                .clients
        };
        let default = load(&[]);
        assert_eq!((default.rps, default.burst), (100, 500));
        let rate_only = load(&[("REELCACHE_CLIENT_RPS", "5")]);
        assert_eq!((rate_only.rps, rate_only.burst), (5, 5 * BURST_SECONDS));
        let both = load(&[
            ("REELCACHE_CLIENT_RPS", "5"),
            ("REELCACHE_CLIENT_BURST", "7"),
        ]);
        assert_eq!((both.rps, both.burst), (5, 7));
    }

    #[test]
    fn layers_apply_in_order_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:1\"\nlanguage = \"de-DE\"\n[ttl]\ntrending = 60\n",
        )
        .unwrap();
        let env = env_of(&[
            ("REELCACHE_LISTEN", "127.0.0.1:2"),
            ("REELCACHE_TTL_USER", "30s"),
        ]);
        let flags = FlagOverrides::default().set("--listen", "127.0.0.1:3");
        let s = Settings::load(Some(&path), &env, &flags).unwrap();
        assert_eq!(s.listen.port(), 3);
        assert_eq!(s.origins["listen"], Origin::Flag("--listen"));
        assert_eq!(s.language.as_str(), "de-DE");
        assert_eq!(s.origins["language"], Origin::File(path.clone()));
        assert_eq!(s.ttl.trending, Duration::from_secs(60));
        assert_eq!(s.ttl.user, Duration::from_secs(30));
        assert_eq!(s.origins["ttl.user"], Origin::Env("REELCACHE_TTL_USER"));
    }

    #[test]
    fn bad_values_name_the_setting_and_never_echo_secrets() {
        let err = Settings::load(
            None,
            &env_of(&[("REELCACHE_TTL_TRENDING", "soon")]),
            &FlagOverrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("ttl.trending") && err.contains("REELCACHE_TTL_TRENDING"),
            "{err}"
        );
        assert!(!err.contains('\n'));

        let err = Settings::load(
            None,
            &env_of(&[("TMDB_API_KEY", "abc def-SECRET")]),
            &FlagOverrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("TMDB_API_KEY") && !err.contains("SECRET"),
            "{err}"
        );

        let flags = FlagOverrides::default().set("--listen", "localhost");
        let err = Settings::load(None, &|_| None, &flags)
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen") && err.contains("--listen"), "{err}");
    }

    #[test]
    fn the_shutdown_delay_may_be_zero_and_is_bounded() {
        let load = |v: &'static str| {
            Settings::load(
                None,
                &move |name| (name == "REELCACHE_RESILIENCE_SHUTDOWN_DELAY").then(|| v.to_owned()),
                &FlagOverrides::default(),
            )
        };
        assert_eq!(load("0").unwrap().resilience.shutdown_delay, Duration::ZERO);
        assert_eq!(
            load("5s").unwrap().resilience.shutdown_delay,
            Duration::from_secs(5)
        );
        let err = load("10m").unwrap_err().to_string();
        assert!(
            err.contains("REELCACHE_RESILIENCE_SHUTDOWN_DELAY") && err.contains("at most 5m"),
            "{err}"
        );
        assert!(load("soon").is_err());
    }

    #[test]
    fn file_errors_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.toml");
        assert!(matches!(
            Settings::load(Some(&missing), &|_| None, &FlagOverrides::default()),
            Err(ConfigError::Unreadable { .. })
        ));
        let typo = dir.path().join("typo.toml");
        std::fs::write(&typo, "[ttl]\ntrendng = \"1h\"\n").unwrap();
        assert!(matches!(
            Settings::load(Some(&typo), &|_| None, &FlagOverrides::default()),
            Err(ConfigError::UnknownKey { key, .. }) if key == "ttl.trendng"
        ));
    }

    #[test]
    fn credential_transport_is_chosen_by_shape() {
        let s = Settings::load(
            None,
            &env_of(&[("TMDB_API_KEY", "eyJhbGciOi.x.y")]),
            &FlagOverrides::default(),
        )
        .unwrap();
        assert!(matches!(s.tmdb.credential, Some(Credential::Bearer(_))));
        let s = Settings::load(
            None,
            &env_of(&[("TMDB_ACCESS_TOKEN", "0123456789abcdef")]),
            &FlagOverrides::default(),
        )
        .unwrap();
        assert!(matches!(s.tmdb.credential, Some(Credential::ApiKey(_))));
        assert_eq!(
            format!("{:?}", s.tmdb.credential),
            "Some(ApiKey([redacted]))"
        );
    }

    #[test]
    fn describe_redacts_secrets() {
        let r = Resolved::collect(
            None,
            &env_of(&[("TMDB_API_KEY", "topsecretvalue")]),
            &FlagOverrides::default(),
        )
        .unwrap();
        assert_eq!(r.raw_for_test("tmdb.api_key"), Some("topsecretvalue"));
        let shown = format!("{:?}", r.describe());
        assert!(!shown.contains("topsecretvalue"));
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn the_example_file_documents_every_setting_with_its_default() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        for spec in SPECS.iter() {
            let name = spec.key.rsplit('.').next().unwrap();
            assert!(
                text.contains(&format!("{name} =")),
                "{} is not in the example",
                spec.key
            );
            for env in std::iter::once(spec.env()).chain(spec.alias) {
                assert!(text.contains(env), "{env} is not in the example");
            }
        }
        let from_file = Resolved::collect(Some(&path), &|_| None, &FlagOverrides::default())
            .unwrap()
            .describe();
        let defaults = Resolved::collect(None, &|_| None, &FlagOverrides::default())
            .unwrap()
            .describe();
        for (file, default) in from_file.iter().zip(&defaults) {
            assert_eq!(file.2, default.2, "{} differs from its default", file.0);
        }
    }

    #[test]
    fn the_readme_documents_every_environment_variable() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
                .unwrap();
        for spec in SPECS.iter() {
            for env in std::iter::once(spec.env()).chain(spec.alias) {
                assert!(readme.contains(env), "{env} is not in the README");
            }
        }
    }

    #[test]
    fn database_urls_are_checked_and_never_show_their_password() {
        let url = DatabaseUrl::parse(
            "postgres://rc:hunter2pass@db.internal:6432/accounts?sslmode=require",
        )
        .unwrap();
        assert_eq!(url.target(), "db.internal:6432/accounts");
        for shown in [format!("{url}"), format!("{url:?}")] {
            assert!(!shown.contains("hunter2pass"), "{shown}");
        }
        for bad in [
            "mysql://rc:hunter2pass@h/db",
            "postgres://rc:hunter2pass@h",
            "postgres://rc:hunter2pass@h/",
            "postgres:///db",
            "not a url hunter2pass",
            "",
        ] {
            let err = DatabaseUrl::parse(bad).unwrap_err();
            assert!(
                err.contains("postgres://") && !err.contains("hunter2pass"),
                "{bad}: {err}"
            );
        }
        let s = Settings::load(
            None,
            &env_of(&[("REELCACHE_DATABASE_URL", "redis://h:1/0")]),
            &FlagOverrides::default(),
        );
        assert!(
            s.is_err(),
            "a URL that is not PostgreSQL's is refused at start"
        );
    }

    #[test]
    fn cluster_urls_list_their_seeds_and_never_show_their_password() {
        let url =
            RedisUrl::parse("redis+cluster://:hunter2pass@10.0.0.1:7000,10.0.0.2:7001/").unwrap();
        assert_eq!(
            url.cluster_seeds().unwrap(),
            [
                "redis://:hunter2pass@10.0.0.1:7000",
                "redis://:hunter2pass@10.0.0.2:7001"
            ]
        );
        assert_eq!(
            url.to_string(),
            "redis+cluster://:REDACTED@10.0.0.1:7000,10.0.0.2:7001"
        );
        assert!(!format!("{url:?}").contains("hunter2pass"));
        assert_eq!(redact_url(url.expose()), url.to_string());
        let tls = RedisUrl::parse("rediss+cluster://user:pw@a:1,b:2").unwrap();
        assert_eq!(tls.cluster_seeds().unwrap()[1], "rediss://user:pw@b:2");
        assert!(
            RedisUrl::parse("redis://h:1/0")
                .unwrap()
                .cluster_seeds()
                .is_none()
        );
        for bad in [
            "redis+cluster://",
            "redis+cluster://:secretpw@h1,h2:2",
            "redis+cluster://:secretpw@h:port",
        ] {
            let err = RedisUrl::parse(bad).unwrap_err();
            assert!(
                err.contains("host:port") && !err.contains("secretpw"),
                "{err}"
            );
        }
    }

    #[test]
    fn redis_urls_never_show_their_password() {
        let s = Settings::load(
            None,
            &env_of(&[(
                "REELCACHE_CACHE_URL",
                "rediss://:hunter2pass@cache.internal:6380/2",
            )]),
            &FlagOverrides::default(),
        )
        .unwrap();
        let url = s.cache.url.clone().expect("set");
        assert_eq!(url.expose(), "rediss://:hunter2pass@cache.internal:6380/2");
        for shown in [format!("{url}"), format!("{url:?}"), format!("{s:?}")] {
            assert!(!shown.contains("hunter2pass"), "{shown}");
        }
        assert_eq!(url.to_string(), "rediss://:REDACTED@cache.internal:6380/2");
        let r = Resolved::collect(
            None,
            &env_of(&[("REELCACHE_CACHE_URL", "redis://u:hunter2pass@h:1/0")]),
            &FlagOverrides::default(),
        )
        .unwrap();
        let shown = format!("{:?}", r.describe());
        assert!(
            !shown.contains("hunter2pass") && shown.contains("redis://u:REDACTED@h:1/0"),
            "{shown}"
        );
        let flags = FlagOverrides::default().set("--cache-url", "http://x:secretpw@h/");
        let err = Settings::load(None, &|_| None, &flags)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--cache-url") && !err.contains("secretpw"),
            "{err}"
        );
        assert!(Settings::defaults_in(Path::new("d")).cache.url.is_none());
    }

    #[test]
    fn urls_are_normalised() {
        assert_eq!(
            parse_base_url("http://127.0.0.1:9/3/").unwrap(),
            "http://127.0.0.1:9/3"
        );
        assert_eq!(parse_base_url("https://x.org").unwrap(), "https://x.org");
        assert!(parse_base_url("ftp://x").is_err());
        assert!(parse_base_url("http://x/?a=1").is_err());
    }
}
