//! The table of settings: every key, its default, its older name and how it may be shown; the
//! flags that set some of them.

use super::{FlagOverrides, environment};

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

pub(super) fn flag_for(key: &str, flags: &FlagOverrides) -> Option<(String, &'static str)> {
    match key {
        "listen" => flags.listen.clone().map(|v| (v, "--listen")),
        "data_dir" => flags.data_dir.clone().map(|v| (v, "--data-dir")),
        "offline" => flags.offline.then(|| ("true".to_owned(), "--offline")),
        "tmdb.base_url" => flags.tmdb_base_url.clone().map(|v| (v, "--tmdb-base-url")),
        "cache.url" => flags.cache_url.clone().map(|v| (v, "--cache-url")),
        _ => None,
    }
}
