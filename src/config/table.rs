//! Every setting of reelcache, each declared once: the struct field it fills, its dotted name
//! (the TOML key; the environment variable and flag follow from it), its default, its older
//! name, and the parser of its value. `config.example.toml` and the README's table are checked
//! against this by tests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use super::parse::*;
use super::specs::{Spec, derived, optional, required, section, settings, spec};
use super::{
    Credential, DatabaseUrl, LogFormat, MetricsAccess, Origin, REOPEN_EVERY, RedisUrl, Secret,
    SeedSnapshot,
};
use crate::domain::Language;

const DATA_DIR: super::specs::Required = required("data_dir", "./data");
const SEED_SNAPSHOT: Spec = spec("seed_snapshot", Some("builtin"));
const API_KEY: Spec = spec("tmdb.api_key", None).alias("TMDB_API_KEY").secret();
const ACCESS_TOKEN: Spec = spec("tmdb.access_token", None)
    .alias("TMDB_ACCESS_TOKEN")
    .secret();
const CLIENT_RPS: super::specs::Required =
    required("clients.rps", "100").alias("REELCACHE_CLIENT_RPS");
const CLIENT_BURST: Spec = spec("clients.burst", Some("auto")).alias("REELCACHE_CLIENT_BURST");

settings! {
    pub struct Settings {
        /// Address to listen on (port 0 picks a free port).
        listen: SocketAddr = required("listen", "127.0.0.1:8000") => parse_listen,
        data_dir: PathBuf = DATA_DIR => parse_path,
        language: Language = required("language", "en-US") => parse_language,
        /// Absolute base for `next`/`previous` links, without a trailing slash.
        public_url: Option<String> = optional("public_url") => parse_base_url,
        /// Asked for with `--offline` / `REELCACHE_OFFLINE`. The server is also offline whenever
        /// no TMDB credential is configured: see [`Settings::is_offline`].
        offline: bool = required("offline", "false") => parse_bool,
        /// Snapshot imported at start-up into an empty cache when offline (a relative path is in
        /// the data directory).
        seed_snapshot: SeedSnapshot = derived(&[SEED_SNAPSHOT]) => |r| {
            let data_dir = DATA_DIR.value(r, parse_path)?;
            r.required(SEED_SNAPSHOT.key, |v| Ok(parse_seed_snapshot(v, &data_dir)))
        },
        tmdb: TmdbSettings = section(TmdbSettings::declare) => TmdbSettings::resolve,
        ttl: TtlSettings = section(TtlSettings::declare) => TtlSettings::resolve,
        cache: CacheSettings = section(CacheSettings::declare) => CacheSettings::resolve,
        auth: AuthSettings = section(AuthSettings::declare) => AuthSettings::resolve,
        database: DatabaseSettings = section(DatabaseSettings::declare) => DatabaseSettings::resolve,
        resilience: ResilienceSettings =
            section(ResilienceSettings::declare) => ResilienceSettings::resolve,
        clients: ClientSettings = section(ClientSettings::declare) => ClientSettings::resolve,
        http: HttpSettings = section(HttpSettings::declare) => HttpSettings::resolve,
        warm: WarmSettings = section(WarmSettings::declare) => WarmSettings::resolve,
        changes: ChangeFeedSettings =
            section(ChangeFeedSettings::declare) => ChangeFeedSettings::resolve,
        images: ImageSettings = section(ImageSettings::declare) => ImageSettings::resolve,
        /// Which layer each setting came from, by dotted name.
        origins: BTreeMap<&'static str, Origin> = derived(&[]) => |r| Ok(r.origins()),
    }

    pub struct TmdbSettings {
        /// `https://api.themoviedb.org/3`, without a trailing slash; several, comma-separated,
        /// are hosts to fail over to, in order of preference (`tmdb/hosts.rs`).
        base_urls: Vec<String> = required("tmdb.base_url", "https://api.themoviedb.org/3")
            .alias("TMDB_BASE_URL") => parse_base_urls,
        /// The access token wins when both are set: it is TMDB's recommended credential.
        credential: Option<Credential> = derived(&[API_KEY, ACCESS_TOKEN]) => |r| {
            let token = r.optional(ACCESS_TOKEN.key, parse_credential)?;
            let key = r.optional(API_KEY.key, parse_credential)?;
            Ok(token.or(key))
        },
        connect_timeout: Duration = required("tmdb.connect_timeout", "3s") => parse_duration,
        timeout: Duration = required("tmdb.timeout", "10s") => parse_duration,
        /// Upstream requests per second, shared by every caller in this process.
        rps: NonZeroU32 = required("tmdb.rps", "40") => parse_non_zero,
    }

    pub struct TtlSettings {
        trending: Duration = required("ttl.trending", "1h") => parse_ttl,
        recommendations: Duration = required("ttl.recommendations", "1h") => parse_ttl,
        details: Duration = required("ttl.details", "24h") => parse_ttl,
        user: Duration = required("ttl.user", "15m") => parse_ttl,
        /// Details' TTL while the change feed works (it drops what TMDB edits).
        details_with_feed: Duration = required("ttl.details_with_feed", "7d") => parse_ttl,
        /// How long TMDB's 404 for a movie id is remembered (a negative entry); 0: never.
        negative: Duration = required("ttl.negative", "10m") => parse_duration_or_off,
        /// Lengthen the TTL of what comes back unchanged from a refresh, shorten what changed.
        dynamic: bool = required("ttl.dynamic", "true") => parse_bool,
        /// The longest dynamic TTL, as a multiple of the configured one.
        dynamic_max: u32 = required("ttl.dynamic_max", "4") => parse_factor,
        /// The shortest dynamic TTL, as a percentage of the configured one.
        dynamic_min_percent: u32 = required("ttl.dynamic_min_percent", "50") => parse_percent,
    }

    pub struct CacheSettings {
        /// sled's in-memory page cache. Real memory use is several times this (sled 0.34).
        memory_bytes: u64 = required("cache.memory", "16MiB") => size_like("64MiB"),
        /// Upper bound on stored bytes; past it the least recently used entries are evicted.
        max_bytes: u64 = required("cache.max_bytes", "1GiB") => size_like("1GiB"),
        /// Memory for finished response bodies of hot entries (0: off).
        hot_bytes: u64 = required("cache.hot_bytes", "16MiB") => size_like("32MiB"),
        /// How often the sweeper removes entries past expiry + stale grace.
        sweep_every: Duration = required("cache.sweep_every", "5m") => parse_duration,
        /// How often sled flushes its write buffer to disk.
        flush_every: Duration = required("cache.flush_every", "500ms") => parse_duration,
        /// While sled cannot write (a full or read-only disk), how often to look whether it can
        /// again. Not a setting (`REOPEN_EVERY`): tests shorten it.
        reopen_every: Duration = derived(&[]) => |_| Ok(REOPEN_EVERY),
        /// `Some`: the page cache lives in this Redis (shared by several instances) instead of
        /// sled.
        url: Option<RedisUrl> = optional("cache.url").url_with_password() => RedisUrl::parse,
        /// Every Redis key reelcache writes starts with this.
        redis_prefix: String = required("cache.redis_prefix", "reelcache:v1:")
            .alias("REELCACHE_REDIS_PREFIX") => parse_redis_prefix,
        /// Longest any Redis command may take; past it the cache counts as unavailable for the
        /// call.
        redis_timeout: Duration = required("cache.redis_timeout", "250ms")
            .alias("REELCACHE_REDIS_TIMEOUT") => parse_duration,
        /// How long a cross-instance fill lock lives, and so how long other instances wait for
        /// its holder before fetching themselves.
        redis_lock_ttl: Duration = required("cache.redis_lock_ttl", "5s")
            .alias("REELCACHE_REDIS_LOCK_TTL") => parse_duration,
    }

    pub struct AuthSettings {
        jwt_secret: Option<Secret> = optional("auth.jwt_secret")
            .alias("REELCACHE_JWT_SECRET")
            .secret() => parse_jwt_secret,
        access_ttl: Duration = required("auth.access_ttl", "60m")
            .alias("REELCACHE_ACCESS_TTL") => parse_ttl,
        refresh_ttl: Duration = required("auth.refresh_ttl", "7d")
            .alias("REELCACHE_REFRESH_TTL") => parse_ttl,
        hash_concurrency: Option<usize> = required("auth.hash_concurrency", "auto")
            .alias("REELCACHE_HASH_CONCURRENCY") => parse_auto_count,
        hash_wait: Duration = required("auth.hash_wait", "2s")
            .alias("REELCACHE_HASH_WAIT") => parse_duration,
    }

    /// Where the accounts live: SQLite in the data directory, or PostgreSQL.
    pub struct DatabaseSettings {
        /// `Some`: users, refresh tokens, favorites and settings live in this PostgreSQL
        /// database (shared by several instances) instead of SQLite.
        url: Option<DatabaseUrl> = optional("database.url").url_with_password()
            => DatabaseUrl::parse,
        /// Most connections this instance opens to PostgreSQL.
        pool_size: usize = required("database.pool_size", "8")
            => |raw| parse_count(raw, 1).map(|n| n as usize),
        /// Longest wait for a PostgreSQL connection, for connecting, and for one statement.
        timeout: Duration = required("database.timeout", "5s") => parse_duration,
    }

    /// How reelcache behaves when TMDB is slow, failing or rate-limiting.
    pub struct ResilienceSettings {
        /// How long past its TTL an entry is kept to be served when TMDB fails.
        stale_grace: Duration = required("resilience.stale_grace", "24h")
            .alias("REELCACHE_STALE_GRACE") => parse_duration,
        /// Past its TTL by less than this, an entry is served at once while one refresh runs.
        revalidate_window: Duration = required("resilience.revalidate_window", "10m")
            .alias("REELCACHE_REVALIDATE_WINDOW") => parse_duration,
        /// Most TMDB requests in flight at once (TMDB allows 20 connections per address).
        max_concurrency: usize = required("resilience.max_concurrency", "20")
            .alias("REELCACHE_TMDB_MAX_CONCURRENCY") => |v| parse_count(v, 1).map(|n| n as usize),
        /// Extra attempts for a GET that timed out, failed to connect, or got a 5xx.
        retries: u32 = required("resilience.retries", "2")
            .alias("REELCACHE_TMDB_RETRIES") => |v| parse_count(v, 0),
        /// Overall time one client request may spend on TMDB, retries included.
        deadline: Duration = required("resilience.deadline", "15s")
            .alias("REELCACHE_TMDB_DEADLINE") => parse_duration,
        /// Consecutive failures that open the circuit breaker, and how long it stays open.
        breaker_threshold: u32 = required("resilience.breaker_threshold", "5")
            .alias("REELCACHE_BREAKER_THRESHOLD") => |v| parse_count(v, 1),
        breaker_cooldown: Duration = required("resilience.breaker_cooldown", "30s")
            .alias("REELCACHE_BREAKER_COOLDOWN") => parse_duration,
        /// Fetch page N+1 in the background after a miss on page N.
        prefetch: bool = required("resilience.prefetch", "true")
            .alias("REELCACHE_PREFETCH") => parse_bool,
        /// TMDB calls per minute refresh-ahead may spend on hot entries about to expire (0: off).
        refresh_ahead_budget: u32 = required("resilience.refresh_ahead_budget", "60")
            .alias("REELCACHE_REFRESH_AHEAD_BUDGET") => |v| parse_count(v, 0),
        /// How many keys the read record tracks for refresh-ahead (about 120 bytes each).
        refresh_ahead_keys: u32 = required("resilience.refresh_ahead_keys", "10000")
            .alias("REELCACHE_REFRESH_AHEAD_KEYS") => |v| parse_count(v, 1),
        /// Longest pause a TMDB 429 may impose (its `Retry-After`, in seconds or as an
        /// HTTP-date, is clamped to this): an upstream value is data, not a promise.
        max_retry_after: Duration = required("resilience.max_retry_after", "60s")
            .alias("REELCACHE_TMDB_MAX_RETRY_AFTER") => parse_duration,
        /// With a stale copy at hand, how long a client waits for TMDB before the stale copy
        /// answers (the fetch goes on in the background, within `deadline`, and refreshes the
        /// entry).
        stale_after: Duration = required("resilience.stale_after", "1s")
            .alias("REELCACHE_STALE_AFTER") => parse_duration,
        /// The share (percent) of TMDB's request rate and in-flight slots one client's misses
        /// may take, so one client cannot starve the others (100: no per-client cap).
        client_share: u32 = required("resilience.client_share", "50")
            .alias("REELCACHE_TMDB_CLIENT_SHARE") => parse_percent,
        /// How long in-flight requests may take to finish at shutdown.
        shutdown_grace: Duration = required("resilience.shutdown_grace", "10s")
            .alias("REELCACHE_SHUTDOWN_GRACE") => parse_duration,
        /// At shutdown, how long the server goes on accepting and answering while
        /// `/health/ready` already says 503, so that load balancers stop sending before
        /// connections are refused.
        shutdown_delay: Duration = required("resilience.shutdown_delay", "0s")
            => parse_shutdown_delay,
    }

    /// The server's own warm runs: the schedule, and what a run covers (also the defaults of
    /// `POST /api/utils/cache/warm/`).
    pub struct WarmSettings {
        /// How often the server re-warms the default warm set (0: never); never offline.
        every: Duration = required("warm.every", "6h") => parse_duration_or_off,
        /// TMDB fetches one run may make (what is still fresh costs nothing).
        budget: u32 = required("warm.budget", "500") => |v| parse_count(v, 1),
        trending_pages: u32 = required("warm.trending_pages", "5") => parse_pages,
        popular_pages: u32 = required("warm.popular_pages", "5") => parse_pages,
        recommendation_pages: u32 = required("warm.recommendation_pages", "1") => parse_pages,
        details: bool = required("warm.details", "true") => parse_bool,
        concurrency: u32 = required("warm.concurrency", "4") => parse_concurrency,
    }

    /// TMDB's change list (`/movie/changes`), polled to drop what TMDB says was edited.
    pub struct ChangeFeedSettings {
        /// How often to poll (0: never); never offline.
        every: Duration = required("changes.every", "1h") => parse_duration_or_off,
    }

    /// The image cache (`GET /api/images/{size}/{file}`): TMDB's images kept on disk.
    pub struct ImageSettings {
        /// TMDB's image server, like `https://image.tmdb.org/t/p/`; `None`: asked of TMDB's
        /// `/configuration` (once a day).
        base_url: Option<String> = optional("images.base_url") => parse_image_base_url,
        /// Upper bound on the image files' bytes; past it the least recently used are removed.
        max_bytes: u64 = required("images.max_bytes", "512MiB") => size_like("512MiB"),
        /// Memory for the most recently used images (0: every hit reads its file).
        memory_bytes: u64 = required("images.memory_bytes", "32MiB") => size_like("32MiB"),
        /// The largest image fetched; a bigger answer is refused (502) and not kept.
        max_file_bytes: u64 = required("images.max_file_bytes", "10MiB") => parse_image_file_bytes,
    }

    pub struct ClientSettings {
        rps: u32 = CLIENT_RPS => |v| parse_count(v, 0),
        /// `auto`: a few seconds' worth of `rps` (a rate set alone brings its own burst, never
        /// the default rate's).
        burst: u32 = derived(&[CLIENT_BURST]) => |r| {
            let rps = CLIENT_RPS.value(r, |v| parse_count(v, 0))?;
            let burst = r.required(CLIENT_BURST.key, parse_burst)?;
            Ok(burst.unwrap_or(rps.saturating_mul(BURST_SECONDS)))
        },
        trusted_proxies: Vec<std::net::IpAddr> = required("clients.trusted_proxies", "")
            .alias("REELCACHE_TRUSTED_PROXIES") => parse_proxies,
    }

    /// How the HTTP surface presents itself.
    pub struct HttpSettings {
        /// Origins allowed by CORS; `None` = any origin (without credentials).
        cors_origins: Option<Vec<String>> = required("http.cors_origins", "*")
            .alias("REELCACHE_CORS_ORIGINS") => parse_origins,
        log_format: LogFormat = required("http.log_format", "text")
            .alias("REELCACHE_LOG_FORMAT") => parse_log_format,
        metrics: MetricsAccess = required("http.metrics", "public")
            .alias("REELCACHE_METRICS") => parse_metrics,
        /// How long a client may take to send a request's headers, and how long an idle
        /// keep-alive connection stays open.
        header_timeout: Duration = required("http.header_timeout", "75s")
            .alias("REELCACHE_HEADER_TIMEOUT") => parse_duration,
        /// How long a client may take to send a request's body, from the end of its headers.
        body_timeout: Duration = required("http.body_timeout", "10s")
            .alias("REELCACHE_BODY_TIMEOUT") => parse_duration,
        /// Open client connections at most, over all clients; more are answered 503 and closed.
        max_connections: usize = required("http.max_connections", "4096")
            .alias("REELCACHE_MAX_CONNECTIONS") => |v| parse_count(v, 1).map(|n| n as usize),
        /// Open connections at most from one client address (trusted proxies exempt); more are
        /// answered 429 and closed.
        max_connections_per_client: usize = required("http.max_connections_per_client", "256")
            .alias("REELCACHE_MAX_CONNECTIONS_PER_CLIENT")
            => |v| parse_count(v, 1).map(|n| n as usize),
        /// Threads of the async runtime (requests, TMDB calls); `None`: half the cores, at
        /// least one. Blocking work (stores, SQLite, password hashing) has its own threads.
        workers: Option<usize> = required("http.workers", "auto")
            .alias("REELCACHE_WORKERS") => parse_auto_count,
    }
}
