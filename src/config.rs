//! `Settings`: every knob of reelcache, with defaults in code, then an optional TOML file, then the
//! environment, then command-line flags. Nothing else in the crate reads the environment.
//!
//! Each setting is described once in [`SPECS`] (its dotted name, its environment variable, its
//! default); loading resolves a raw string per setting, remembering which layer it came from, and
//! then parses it. A bad value stops start-up with one line naming the setting and its source.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

use crate::domain::Language;

mod environment;
pub use environment::{environment_help, setting_of_flag};

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

/// A value that must never be printed: Debug and Display redact it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A Redis URL (`redis://[:password@]host:port/db` or `rediss://...`) whose password never
/// appears in Debug, Display or logs: they show `redis://:REDACTED@host:port/db`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(Secret);

impl RedisUrl {
    /// Checks the scheme and the host; the driver parses the rest when it connects.
    pub fn parse(raw: &str) -> Result<RedisUrl, String> {
        let url = Url::parse(raw).map_err(|_| {
            format!(
                "'{}' is not a URL like redis://127.0.0.1:6379/0",
                redact_url(raw)
            )
        })?;
        if !matches!(url.scheme(), "redis" | "rediss") || url.host().is_none() {
            return Err(format!(
                "'{}' must be a redis:// or rediss:// URL with a host",
                redact_url(raw)
            ));
        }
        Ok(RedisUrl(Secret::new(raw)))
    }

    /// The full URL, password included: only for the Redis driver.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(self.0.expose()))
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(self.0.expose()))
    }
}

/// `raw` with the password of its userinfo replaced by `REDACTED` (or everything redacted when
/// it does not parse as a URL, since it may hold a password anyway).
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("REDACTED"));
            }
            url.to_string()
        }
        Err(_) => "[redacted]".to_owned(),
    }
}

/// How TMDB is told who we are. TMDB has two credentials that cannot be swapped: the short v3
/// key goes in `?api_key=`, the v4 read access token (a JWT, so it starts with `eyJ`) goes in
/// `Authorization: Bearer`. We pick the transport by shape, whichever variable held it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    ApiKey(Secret),
    Bearer(Secret),
}

impl Credential {
    pub fn from_shape(value: &str) -> Credential {
        if value.starts_with("eyJ") {
            Credential::Bearer(Secret::new(value))
        } else {
            Credential::ApiKey(Secret::new(value))
        }
    }

    pub fn secret(&self) -> &Secret {
        match self {
            Credential::ApiKey(s) | Credential::Bearer(s) => s,
        }
    }
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

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub language: Language,
    /// Absolute base for `next`/`previous` links, without a trailing slash.
    pub public_url: Option<String>,
    /// Asked for with `--offline` / `REELCACHE_OFFLINE`. The server is also offline whenever no
    /// TMDB credential is configured: see [`Settings::is_offline`].
    pub offline: bool,
    /// Snapshot imported at start-up into an empty cache when offline.
    pub seed_snapshot: SeedSnapshot,
    pub tmdb: TmdbSettings,
    pub ttl: TtlSettings,
    pub cache: CacheSettings,
    pub auth: AuthSettings,
    pub resilience: ResilienceSettings,
    pub clients: ClientSettings,
    pub http: HttpSettings,
    /// Which layer each setting came from, by dotted name.
    pub origins: BTreeMap<&'static str, Origin>,
}

#[derive(Debug, Clone)]
pub struct TmdbSettings {
    /// `https://api.themoviedb.org/3`, without a trailing slash.
    pub base_url: String,
    pub credential: Option<Credential>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Upstream requests per second, shared by every caller in this process.
    pub rps: NonZeroU32,
}

#[derive(Debug, Clone)]
pub struct TtlSettings {
    pub trending: Duration,
    pub recommendations: Duration,
    pub details: Duration,
    pub user: Duration,
}

/// How often a sled store that cannot write is looked at (and reopened once the disk takes
/// writes again): a few seconds, so `/health/` says so soon after space comes back.
pub const REOPEN_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// `Some`: the page cache lives in this Redis (shared by several instances) instead of sled.
    pub url: Option<RedisUrl>,
    /// Every Redis key reelcache writes starts with this.
    pub redis_prefix: String,
    /// Longest any Redis command may take; past it the cache counts as unavailable for the call.
    pub redis_timeout: Duration,
    /// How long a cross-instance fill lock lives, and so how long other instances wait for its
    /// holder before fetching themselves.
    pub redis_lock_ttl: Duration,
    /// sled's in-memory page cache. Real memory use is several times this (sled 0.34).
    pub memory_bytes: u64,
    /// How often sled flushes its write buffer to disk.
    pub flush_every: Duration,
    /// Upper bound on stored bytes; past it the least recently used entries are evicted.
    pub max_bytes: u64,
    /// How often the sweeper removes entries past expiry + stale grace.
    pub sweep_every: Duration,
    /// While sled cannot write (a full or read-only disk), how often to look whether it can
    /// again. Not a setting (`REOPEN_EVERY`): tests shorten it.
    pub reopen_every: Duration,
    /// Memory for finished response bodies of hot entries (0: off).
    pub hot_bytes: u64,
}

/// How reelcache behaves when TMDB is slow, failing or rate-limiting.
#[derive(Debug, Clone)]
pub struct ResilienceSettings {
    /// How long past its TTL an entry is kept to be served when TMDB fails.
    pub stale_grace: Duration,
    /// Past its TTL by less than this, an entry is served at once while one refresh runs.
    pub revalidate_window: Duration,
    /// Most TMDB requests in flight at once (TMDB allows 20 connections per address).
    pub max_concurrency: usize,
    /// Extra attempts for a GET that timed out, failed to connect, or got a 5xx.
    pub retries: u32,
    /// Overall time one client request may spend on TMDB, retries included.
    pub deadline: Duration,
    /// Consecutive failures that open the circuit breaker, and how long it stays open.
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
    /// Fetch page N+1 in the background after a miss on page N.
    pub prefetch: bool,
    /// Longest pause a TMDB 429 may impose (its `Retry-After`, in seconds or as an HTTP-date,
    /// is clamped to this): an upstream value is data, not a promise.
    pub max_retry_after: Duration,
    /// With a stale copy at hand, how long a client waits for TMDB before the stale copy answers
    /// (the fetch goes on in the background, within `deadline`, and refreshes the entry).
    pub stale_after: Duration,
    /// The share (percent) of TMDB's request rate and in-flight slots one client's misses may
    /// take, so one client cannot starve the others (100: no per-client cap).
    pub client_share: u32,
    /// How long in-flight requests may take to finish at shutdown.
    pub shutdown_grace: Duration,
    /// At shutdown, how long the server goes on accepting and answering while `/health/ready`
    /// already says 503, so that load balancers stop sending before connections are refused.
    pub shutdown_delay: Duration,
}

/// How the HTTP surface presents itself.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Origins allowed by CORS; `None` = any origin (without credentials).
    pub cors_origins: Option<Vec<String>>,
    pub log_format: LogFormat,
    pub metrics: MetricsAccess,
    /// How long a client may take to send a request's headers, and how long an idle keep-alive
    /// connection stays open.
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body, from the end of its headers.
    pub body_timeout: Duration,
    /// Open client connections at most, over all clients; more are answered 503 and closed.
    pub max_connections: usize,
    /// Open connections at most from one client address (trusted proxies exempt); more are
    /// answered 429 and closed.
    pub max_connections_per_client: usize,
    /// Threads of the async runtime (requests, TMDB calls); `None`: half the cores, at least
    /// one. Blocking work (stores, SQLite, password hashing) has its own threads.
    pub workers: Option<usize>,
}

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
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Requests per second per client address; 0 turns the limiter off.
    pub rps: u32,
    pub burst: u32,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// HS256 signing secret; `None`: generated into the data directory on first start.
    pub jwt_secret: Option<Secret>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Password hashes (login, registration) computed at once; `None`: half the cores, at least
    /// one. Each takes ~19 MiB and a core for tens of milliseconds.
    pub hash_concurrency: Option<usize>,
    /// How long a login or registration waits for a hashing slot before it is answered 503.
    pub hash_wait: Duration,
}

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
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    pub offline: bool,
    pub listen: Option<String>,
    pub data_dir: Option<String>,
    pub tmdb_base_url: Option<String>,
    pub cache_url: Option<String>,
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

/// How a setting's value may be shown (`config check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Plain,
    /// Never shown.
    Secret,
    /// A URL shown with its password redacted.
    UrlPassword,
}

/// One setting: its dotted name (the TOML key), its default, and how it may be shown. Its
/// environment variable is derived from the key (`environment::var_of`); `alias` is the name it
/// had before that rule, still read so existing deployments keep working.
pub struct Spec {
    pub key: &'static str,
    pub alias: Option<&'static str>,
    pub default: Option<&'static str>,
    pub shown: Shown,
}

const fn spec(key: &'static str, default: Option<&'static str>) -> Spec {
    Spec {
        key,
        alias: None,
        default,
        shown: Shown::Plain,
    }
}

impl Spec {
    const fn alias(self, alias: &'static str) -> Spec {
        Spec {
            alias: Some(alias),
            ..self
        }
    }

    const fn secret(self) -> Spec {
        Spec {
            shown: Shown::Secret,
            ..self
        }
    }

    const fn url_with_password(self) -> Spec {
        Spec {
            shown: Shown::UrlPassword,
            ..self
        }
    }

    /// The setting's environment variable: `REELCACHE_` and the key in capitals, dots as
    /// underscores (`tmdb.base_url` → `REELCACHE_TMDB_BASE_URL`).
    pub fn env(&self) -> &'static str {
        environment::names_of(self.key).var
    }

    /// Secrets (and URLs that may hold a password) may also be read from a file named by
    /// `<variable>_FILE`, as container secrets and systemd credentials deliver them.
    pub fn has_file_variant(&self) -> bool {
        self.shown != Shown::Plain
    }
}

pub const SPECS: &[Spec] = &[
    spec("listen", Some("127.0.0.1:8000")),
    spec("data_dir", Some("./data")),
    spec("language", Some("en-US")),
    spec("public_url", None),
    spec("offline", Some("false")),
    spec("seed_snapshot", Some("builtin")),
    spec("tmdb.base_url", Some("https://api.themoviedb.org/3")).alias("TMDB_BASE_URL"),
    spec("tmdb.api_key", None).alias("TMDB_API_KEY").secret(),
    spec("tmdb.access_token", None)
        .alias("TMDB_ACCESS_TOKEN")
        .secret(),
    spec("tmdb.connect_timeout", Some("3s")),
    spec("tmdb.timeout", Some("10s")),
    spec("tmdb.rps", Some("40")),
    spec("ttl.trending", Some("1h")),
    spec("ttl.recommendations", Some("1h")),
    spec("ttl.details", Some("24h")),
    spec("ttl.user", Some("15m")),
    spec("auth.jwt_secret", None)
        .alias("REELCACHE_JWT_SECRET")
        .secret(),
    spec("auth.access_ttl", Some("60m")).alias("REELCACHE_ACCESS_TTL"),
    spec("auth.refresh_ttl", Some("7d")).alias("REELCACHE_REFRESH_TTL"),
    spec("auth.hash_concurrency", Some("auto")).alias("REELCACHE_HASH_CONCURRENCY"),
    spec("auth.hash_wait", Some("2s")).alias("REELCACHE_HASH_WAIT"),
    spec("cache.memory", Some("32MiB")),
    spec("cache.max_bytes", Some("1GiB")),
    spec("cache.hot_bytes", Some("32MiB")),
    spec("cache.sweep_every", Some("5m")),
    spec("resilience.stale_grace", Some("24h")).alias("REELCACHE_STALE_GRACE"),
    spec("resilience.revalidate_window", Some("10m")).alias("REELCACHE_REVALIDATE_WINDOW"),
    spec("resilience.max_concurrency", Some("20")).alias("REELCACHE_TMDB_MAX_CONCURRENCY"),
    spec("resilience.retries", Some("2")).alias("REELCACHE_TMDB_RETRIES"),
    spec("resilience.deadline", Some("15s")).alias("REELCACHE_TMDB_DEADLINE"),
    spec("resilience.breaker_threshold", Some("5")).alias("REELCACHE_BREAKER_THRESHOLD"),
    spec("resilience.breaker_cooldown", Some("30s")).alias("REELCACHE_BREAKER_COOLDOWN"),
    spec("resilience.prefetch", Some("true")).alias("REELCACHE_PREFETCH"),
    spec("resilience.max_retry_after", Some("60s")).alias("REELCACHE_TMDB_MAX_RETRY_AFTER"),
    spec("resilience.stale_after", Some("1s")).alias("REELCACHE_STALE_AFTER"),
    spec("resilience.client_share", Some("50")).alias("REELCACHE_TMDB_CLIENT_SHARE"),
    spec("resilience.shutdown_grace", Some("10s")).alias("REELCACHE_SHUTDOWN_GRACE"),
    spec("resilience.shutdown_delay", Some("0s")),
    spec("http.cors_origins", Some("*")).alias("REELCACHE_CORS_ORIGINS"),
    spec("http.log_format", Some("text")).alias("REELCACHE_LOG_FORMAT"),
    spec("http.metrics", Some("public")).alias("REELCACHE_METRICS"),
    spec("http.header_timeout", Some("75s")).alias("REELCACHE_HEADER_TIMEOUT"),
    spec("http.body_timeout", Some("10s")).alias("REELCACHE_BODY_TIMEOUT"),
    spec("http.max_connections", Some("4096")).alias("REELCACHE_MAX_CONNECTIONS"),
    spec("http.max_connections_per_client", Some("256"))
        .alias("REELCACHE_MAX_CONNECTIONS_PER_CLIENT"),
    spec("http.workers", Some("auto")).alias("REELCACHE_WORKERS"),
    spec("clients.rps", Some("100")).alias("REELCACHE_CLIENT_RPS"),
    spec("clients.burst", Some("auto")).alias("REELCACHE_CLIENT_BURST"),
    spec("clients.trusted_proxies", Some("")).alias("REELCACHE_TRUSTED_PROXIES"),
    spec("cache.flush_every", Some("500ms")),
    spec("cache.url", None).url_with_password(),
    spec("cache.redis_prefix", Some("reelcache:v1:")).alias("REELCACHE_REDIS_PREFIX"),
    spec("cache.redis_timeout", Some("250ms")).alias("REELCACHE_REDIS_TIMEOUT"),
    spec("cache.redis_lock_ttl", Some("5s")).alias("REELCACHE_REDIS_LOCK_TTL"),
];

fn flag_for(key: &str, flags: &FlagOverrides) -> Option<(String, &'static str)> {
    match key {
        "listen" => flags.listen.clone().map(|v| (v, "--listen")),
        "data_dir" => flags.data_dir.clone().map(|v| (v, "--data-dir")),
        "offline" => flags.offline.then(|| ("true".to_owned(), "--offline")),
        "tmdb.base_url" => flags.tmdb_base_url.clone().map(|v| (v, "--tmdb-base-url")),
        "cache.url" => flags.cache_url.clone().map(|v| (v, "--cache-url")),
        _ => None,
    }
}

/// The raw layered values, before parsing: what `config check` reports.
pub struct Resolved {
    values: BTreeMap<&'static str, (Option<String>, Origin)>,
}

impl Resolved {
    /// Defaults, then the file, then the environment, then flags. Empty environment values count
    /// as unset, as they do in most container tooling; how a setting is found in the environment
    /// (its variable, the older alias, a secret's `_FILE`) is `environment::read`.
    pub fn collect(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &FlagOverrides,
    ) -> Result<Resolved, ConfigError> {
        let file_values = match file {
            Some(path) => read_file(path)?,
            None => BTreeMap::new(),
        };
        let mut values = BTreeMap::new();
        for spec in SPECS {
            let mut value = (spec.default.map(str::to_owned), Origin::Default);
            if let (Some(v), Some(path)) = (file_values.get(spec.key), file) {
                value = (Some(v.clone()), Origin::File(path.to_owned()));
            }
            if let Some(found) = environment::read(spec, env)? {
                value = (Some(found.0), found.1);
            }
            if let Some((v, flag)) = flag_for(spec.key, flags) {
                value = (Some(v), Origin::Flag(flag));
            }
            values.insert(spec.key, value);
        }
        Ok(Resolved { values })
    }

    /// Each setting with its value (secrets redacted) and origin, in `SPECS` order.
    pub fn describe(&self) -> Vec<(&'static str, &'static str, String, Origin)> {
        SPECS
            .iter()
            .map(|spec| {
                let (value, origin) = &self.values[spec.key];
                let shown = match value {
                    None => "(not set)".to_owned(),
                    Some(v) => match spec.shown {
                        Shown::Plain => v.clone(),
                        Shown::Secret => "[redacted]".to_owned(),
                        Shown::UrlPassword => redact_url(v),
                    },
                };
                (spec.key, spec.env(), shown, origin.clone())
            })
            .collect()
    }

    fn parse<T>(
        &self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let (value, origin) = &self.values[key];
        match value {
            None => Ok(None),
            Some(raw) => parse(raw).map(Some).map_err(|reason| ConfigError::Invalid {
                setting: key,
                env: SPECS.iter().find(|s| s.key == key).map_or("", Spec::env),
                origin: origin.clone(),
                reason,
            }),
        }
    }

    /// Like `parse`, for settings that always have a default.
    fn required<T>(
        &self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        Ok(self
            .parse(key, parse)?
            .expect("every required setting has a default in SPECS"))
    }

    pub fn into_settings(self) -> Result<Settings, ConfigError> {
        let ttl = |key| self.required(key, parse_ttl);
        let data_dir: PathBuf = self.required("data_dir", |v| Ok(PathBuf::from(v)))?;
        let settings = Settings {
            offline: self.required("offline", parse_bool)?,
            seed_snapshot: self.required("seed_snapshot", |v| {
                Ok(match v.trim() {
                    "builtin" => SeedSnapshot::Builtin,
                    "none" => SeedSnapshot::None,
                    path => SeedSnapshot::File(data_dir.join(path)),
                })
            })?,
            listen: self.required("listen", |v| {
                v.parse::<SocketAddr>()
                    .map_err(|_| format!("'{v}' is not an address like 127.0.0.1:8000"))
            })?,
            data_dir,
            language: self.required("language", |v| {
                Language::parse(v).ok_or_else(|| format!("'{v}' is not a language like en-US"))
            })?,
            public_url: self.parse("public_url", parse_base_url)?,
            tmdb: TmdbSettings {
                base_url: self.required("tmdb.base_url", parse_base_url)?,
                credential: self.credential()?,
                connect_timeout: self.required("tmdb.connect_timeout", parse_duration)?,
                timeout: self.required("tmdb.timeout", parse_duration)?,
                rps: self.required("tmdb.rps", |v| {
                    v.parse::<NonZeroU32>()
                        .map_err(|_| format!("'{v}' is not a whole number of at least 1"))
                })?,
            },
            ttl: TtlSettings {
                trending: ttl("ttl.trending")?,
                recommendations: ttl("ttl.recommendations")?,
                details: ttl("ttl.details")?,
                user: ttl("ttl.user")?,
            },
            cache: CacheSettings {
                memory_bytes: self.required("cache.memory", |v| {
                    v.parse::<bytesize::ByteSize>()
                        .map(|b| b.as_u64())
                        .map_err(|_| format!("'{v}' is not a size like 64MiB"))
                })?,
                flush_every: self.required("cache.flush_every", parse_duration)?,
                max_bytes: self.required("cache.max_bytes", |v| {
                    v.parse::<bytesize::ByteSize>()
                        .map(|b| b.as_u64())
                        .map_err(|_| format!("'{v}' is not a size like 1GiB"))
                })?,
                sweep_every: self.required("cache.sweep_every", parse_duration)?,
                reopen_every: REOPEN_EVERY,
                hot_bytes: self.required("cache.hot_bytes", |v| {
                    v.parse::<bytesize::ByteSize>()
                        .map(|b| b.as_u64())
                        .map_err(|_| format!("'{v}' is not a size like 32MiB"))
                })?,
                url: self.parse("cache.url", RedisUrl::parse)?,
                redis_prefix: self.required("cache.redis_prefix", |v| {
                    if v.is_empty() || v.contains(['*', '?', '[', ']', '\\']) {
                        Err(format!(
                            "'{v}' must be non-empty and free of the glob characters *?[]\\"
                        ))
                    } else {
                        Ok(v.to_owned())
                    }
                })?,
                redis_timeout: self.required("cache.redis_timeout", parse_duration)?,
                redis_lock_ttl: self.required("cache.redis_lock_ttl", parse_duration)?,
            },
            resilience: ResilienceSettings {
                stale_grace: self.required("resilience.stale_grace", parse_duration)?,
                revalidate_window: self.required("resilience.revalidate_window", parse_duration)?,
                max_concurrency: self.required("resilience.max_concurrency", |v| {
                    parse_count(v, 1).map(|n| n as usize)
                })?,
                retries: self.required("resilience.retries", |v| parse_count(v, 0))?,
                deadline: self.required("resilience.deadline", parse_duration)?,
                breaker_threshold: self
                    .required("resilience.breaker_threshold", |v| parse_count(v, 1))?,
                breaker_cooldown: self.required("resilience.breaker_cooldown", parse_duration)?,
                prefetch: self.required("resilience.prefetch", parse_bool)?,
                max_retry_after: self.required("resilience.max_retry_after", parse_duration)?,
                stale_after: self.required("resilience.stale_after", parse_duration)?,
                client_share: self.required("resilience.client_share", |v| {
                    parse_count(v, 1).and_then(|n| {
                        (n <= 100)
                            .then_some(n)
                            .ok_or_else(|| format!("'{v}' is not a percentage from 1 to 100"))
                    })
                })?,
                shutdown_grace: self.required("resilience.shutdown_grace", parse_duration)?,
                shutdown_delay: self.required("resilience.shutdown_delay", parse_shutdown_delay)?,
            },
            http: HttpSettings {
                cors_origins: self.required("http.cors_origins", parse_origins)?,
                log_format: self.required("http.log_format", |v| match v {
                    "text" => Ok(LogFormat::Text),
                    "json" => Ok(LogFormat::Json),
                    _ => Err(format!("'{v}' is not one of: text, json")),
                })?,
                metrics: self.required("http.metrics", |v| match v {
                    "public" => Ok(MetricsAccess::Public),
                    "staff" => Ok(MetricsAccess::Staff),
                    "off" => Ok(MetricsAccess::Off),
                    _ => Err(format!("'{v}' is not one of: public, staff, off")),
                })?,
                header_timeout: self.required("http.header_timeout", parse_duration)?,
                body_timeout: self.required("http.body_timeout", parse_duration)?,
                max_connections: self.required("http.max_connections", |v| parse_count(v, 1))?
                    as usize,
                max_connections_per_client: self
                    .required("http.max_connections_per_client", |v| parse_count(v, 1))?
                    as usize,
                workers: self.required("http.workers", parse_auto_count)?,
            },
            clients: {
                let rps = self.required("clients.rps", |v| parse_count(v, 0))?;
                ClientSettings {
                    rps,
                    // A rate set alone brings its own burst: a few seconds' worth, never the
                    // default rate's.
                    burst: self
                        .required("clients.burst", |v| match v.trim() {
                            "auto" => Ok(None),
                            n => parse_count(n, 1)
                                .map(Some)
                                .map_err(|e| format!("{e}, or 'auto'")),
                        })?
                        .unwrap_or(rps.saturating_mul(BURST_SECONDS)),
                    trusted_proxies: self.required("clients.trusted_proxies", |v| {
                        v.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(|s| {
                                s.parse::<std::net::IpAddr>()
                                    .map_err(|_| format!("'{s}' is not an IP address"))
                            })
                            .collect()
                    })?,
                }
            },
            auth: AuthSettings {
                jwt_secret: self.parse("auth.jwt_secret", |v| {
                    if v.len() < 32 {
                        Err("a signing secret needs at least 32 characters".to_owned())
                    } else {
                        Ok(Secret::new(v))
                    }
                })?,
                access_ttl: self.required("auth.access_ttl", parse_ttl)?,
                refresh_ttl: self.required("auth.refresh_ttl", parse_ttl)?,
                hash_concurrency: self.required("auth.hash_concurrency", parse_auto_count)?,
                hash_wait: self.required("auth.hash_wait", parse_duration)?,
            },
            origins: self
                .values
                .iter()
                .map(|(key, (_, origin))| (*key, origin.clone()))
                .collect(),
        };
        Ok(settings)
    }

    /// The access token wins when both are set: it is TMDB's recommended credential.
    fn credential(&self) -> Result<Option<Credential>, ConfigError> {
        let check = |v: &str| {
            if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Err("the credential contains whitespace or control characters".to_owned())
            } else {
                Ok(Credential::from_shape(v))
            }
        };
        let token = self.parse("tmdb.access_token", check)?;
        let key = self.parse("tmdb.api_key", check)?;
        Ok(token.or(key))
    }

    #[cfg(test)]
    fn raw_for_test(&self, key: &'static str) -> Option<&str> {
        self.values[key].0.as_deref()
    }
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
                    self.tmdb.base_url
                ));
            }
        }
        lines.push(match &self.cache.url {
            Some(url) => format!(
                "cache: Redis {} (prefix {})",
                redact_url(url.expose()),
                self.cache.redis_prefix
            ),
            None => format!(
                "cache: sled in {}",
                self.data_dir.join("cache").join("v1").display()
            ),
        });
        lines.push(format!(
            "accounts: SQLite {}",
            self.data_dir.join("reelcache.db").display()
        ));
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
        let flags = FlagOverrides {
            data_dir: Some(data_dir.to_string_lossy().into_owned()),
            ..FlagOverrides::default()
        };
        Settings::load(None, &|_| None, &flags).expect("the built-in defaults are valid")
    }
}

/// Reads a TOML file into dotted keys (`[tmdb] timeout = "5s"` → `tmdb.timeout`). Numbers and
/// booleans become their text; unknown keys are refused so typos do not pass silently.
fn read_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
        path: path.to_owned(),
        reason: e.kind().to_string(),
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: path.to_owned(),
            reason: e.message().to_owned(),
        })?;
    let mut out = BTreeMap::new();
    flatten("", &table, &mut out);
    if let Some(key) = out
        .keys()
        .find(|k| !SPECS.iter().any(|s| s.key == k.as_str()))
    {
        return Err(ConfigError::UnknownKey {
            path: path.to_owned(),
            key: key.clone(),
        });
    }
    Ok(out)
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

/// `*` (any origin) or comma-separated origins like `https://app.example.org`.
fn parse_origins(raw: &str) -> Result<Option<Vec<String>>, String> {
    if raw.trim() == "*" {
        return Ok(None);
    }
    let origins: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            let url = parse_base_url(o)?;
            Ok(url)
        })
        .collect::<Result<_, String>>()?;
    if origins.is_empty() {
        return Err("give '*' or at least one origin".to_owned());
    }
    Ok(Some(origins))
}

/// A whole number of at least `min`.
/// `auto` (`None`) or a whole number of at least one.
fn parse_auto_count(raw: &str) -> Result<Option<usize>, String> {
    match raw.trim() {
        "auto" => Ok(None),
        n => parse_count(n, 1)
            .map(|n| Some(n as usize))
            .map_err(|e| format!("{e}, or 'auto'")),
    }
}

/// `auth.hash_concurrency = "auto"` never takes more slots than this (~19 MiB each).
pub const HASH_SLOTS_AUTO_MAX: usize = 4;

/// `clients.burst = "auto"`: this many seconds of `clients.rps`.
pub const BURST_SECONDS: u32 = 5;

fn parse_count(raw: &str, min: u32) -> Result<u32, String> {
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n >= min)
        .ok_or_else(|| format!("'{raw}' is not a whole number of at least {min}"))
}

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!(
            "'{raw}' is not one of 1/0, true/false, yes/no, on/off"
        )),
    }
}

/// Seconds (`3600`) or a human duration (`30s`, `15m`, `1h`, `1h30m`, `500ms`).
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let parsed = match raw.parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(raw),
    };
    match parsed {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be greater than zero".to_owned()),
        Err(_) => Err(format!(
            "'{raw}' is not a duration (seconds, or like 30s, 15m, 1h)"
        )),
    }
}

/// A delay that may be zero (off), bounded so a typo cannot keep a stopping server up for hours.
fn parse_shutdown_delay(raw: &str) -> Result<Duration, String> {
    const MAX: Duration = Duration::from_secs(300);
    let delay = match raw.trim() {
        "0" | "0s" | "0ms" => Duration::ZERO,
        other => parse_duration(other)?,
    };
    if delay > MAX {
        return Err("must be at most 5m".to_owned());
    }
    Ok(delay)
}

/// TTLs are whole seconds on the wire (`max-age`), so anything under a second is refused.
fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let d = parse_duration(raw)?;
    if d < Duration::from_secs(1) {
        return Err("a TTL must be at least 1s".to_owned());
    }
    Ok(d)
}

/// An http(s) URL without query or fragment, returned without a trailing slash so paths can be
/// appended to it.
fn parse_base_url(raw: &str) -> Result<String, String> {
    let url = Url::parse(raw.trim_end_matches('/'))
        .map_err(|_| format!("'{raw}' is not an absolute URL like https://example.com"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("'{raw}' must be an http:// or https:// URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("'{raw}' must not have a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
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
    fn defaults_match_the_documented_table() {
        let s = Settings::load(None, &|_| None, &FlagOverrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8000");
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert_eq!(s.language.as_str(), "en-US");
        assert_eq!(s.tmdb.base_url, "https://api.themoviedb.org/3");
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
        let flags = FlagOverrides {
            listen: Some("127.0.0.1:3".into()),
            ..Default::default()
        };
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

        let flags = FlagOverrides {
            listen: Some("localhost".into()),
            ..Default::default()
        };
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
        for spec in SPECS {
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
        for spec in SPECS {
            for env in std::iter::once(spec.env()).chain(spec.alias) {
                assert!(readme.contains(env), "{env} is not in the README");
            }
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
        let flags = FlagOverrides {
            cache_url: Some("http://x:secretpw@h/".into()),
            ..Default::default()
        };
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
