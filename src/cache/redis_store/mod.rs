//! The shared store: a Redis server that several reelcache instances use as one page cache. It
//! holds the same envelope bytes as sled, under `<prefix><cache key>`, with a Redis TTL of expiry
//! plus stale grace so Redis drops what can no longer be served; its own `maxmemory` policy
//! bounds it. Control keys (fill locks, the shared TMDB rate, health probes) live under
//! `<prefix>@...`, which no cache key can start with. The layout is in `docs/FORMATS.md`.
//!
//! Redis being away must never fail a request: every command is bounded by the configured
//! timeout, a failure marks the store down for a moment (so requests do not each pay the timeout
//! while it is gone), errors are logged at most once per interval, and the connection manager
//! reconnects by itself on the next use.
//!
//! Here: the client, the bounded `run` every command goes through, and the failure log. Beside
//! it: `entries.rs` (reads and writes), `scan.rs` (SCAN walks: clears, counts), `info.rs`
//! (health probe, server figures) and `control.rs` (fill locks, the shared TMDB rate).

mod conn;
mod control;
mod entries;
mod info;
mod scan;

pub use control::FillLock;
pub use info::RedisInfo;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::CacheError;
use crate::clock::Clock;
use crate::config::CacheSettings;
use conn::Conn;
use control::{DEBT_SCRIPT, RATE_SCRIPT, UNLOCK_SCRIPT, WINDOW_SCRIPT};
use entries::REPLACE_SCRIPT;

/// Keys per SCAN round trip and per MGET/UNLINK batch.
const BATCH: usize = 500;
/// After a failure, commands fail at once for this long (at least) instead of each waiting for
/// the timeout.
const DOWN_FOR: Duration = Duration::from_millis(500);
/// At most one "Redis is unavailable" log line per this interval (the rest are counted).
const LOG_EVERY: Duration = Duration::from_secs(10);
/// How long a count of the entries (a SCAN over the prefix) is reused: scrapes and stats come
/// often, and the count walks the whole keyspace.
const COUNT_EVERY: Duration = Duration::from_secs(15);
/// The most one count may take, all its round trips together.
const COUNT_BUDGET: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Conn,
    prefix: String,
    timeout: Duration,
    pub(super) lock_ttl: Duration,
    clock: Clock,
    grace_ms: u64,
    /// Offline, entries get no TTL: old entries are the data being served.
    persist: bool,
    /// Identifies this process's fill locks and health probe.
    pub(super) instance: String,
    down_until: Mutex<Option<Instant>>,
    was_down: AtomicBool,
    log_limiter: DefaultDirectRateLimiter,
    suppressed: AtomicU64,
    /// The last count of entries under the prefix, and when it was made.
    counted: Mutex<Option<(Instant, u64)>>,
    pub(super) rate_script: redis::Script,
    pub(super) unlock_script: redis::Script,
    replace_script: redis::Script,
    debt_script: redis::Script,
    window_script: redis::Script,
}

impl RedisStore {
    /// Builds the client without connecting: a Redis that is down at start-up only means a
    /// degraded cache until it answers.
    pub fn open(
        settings: &CacheSettings,
        stale_grace: Duration,
        clock: Clock,
        offline: bool,
    ) -> Result<RedisStore, CacheError> {
        let url = settings
            .url
            .as_ref()
            .ok_or_else(|| CacheError::Store("no Redis URL configured".to_owned()))?;
        let conn = Conn::open(url, settings.redis_timeout)?;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                conn,
                prefix: settings.redis_prefix.clone(),
                timeout: settings.redis_timeout,
                lock_ttl: settings.redis_lock_ttl,
                clock,
                grace_ms: stale_grace.as_millis() as u64,
                persist: offline,
                instance: crate::hex::random(8),
                down_until: Mutex::new(None),
                was_down: AtomicBool::new(false),
                log_limiter: RateLimiter::direct(
                    Quota::with_period(LOG_EVERY).expect("a non-zero period"),
                ),
                suppressed: AtomicU64::new(0),
                counted: Mutex::new(None),
                rate_script: redis::Script::new(RATE_SCRIPT),
                unlock_script: redis::Script::new(UNLOCK_SCRIPT),
                replace_script: redis::Script::new(REPLACE_SCRIPT),
                debt_script: redis::Script::new(DEBT_SCRIPT),
                window_script: redis::Script::new(WINDOW_SCRIPT),
            }),
        })
    }

    /// `single` or `cluster`.
    pub fn topology(&self) -> &'static str {
        self.inner.conn.topology()
    }

    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    pub fn lock_ttl(&self) -> Duration {
        self.inner.lock_ttl
    }

    fn data_key(&self, key: &str) -> String {
        format!("{}{key}", self.inner.prefix)
    }

    fn control_key(&self, kind: &str, rest: &str) -> String {
        format!("{}@{kind}:{rest}", self.inner.prefix)
    }

    /// Runs one command (or pipeline, or script) bounded by the timeout, failing at once while
    /// the store is marked down. `probe` ignores the down mark (health checks find recovery).
    async fn run<T, F>(&self, op: &'static str, probe: bool, f: F) -> Result<T, CacheError>
    where
        F: AsyncFnOnce(&mut Conn) -> redis::RedisResult<T>,
    {
        if !probe
            && let Some(until) = *crate::sync::lock(&self.inner.down_until)
            && Instant::now() < until
        {
            return Err(CacheError::Unavailable(
                "Redis failed a moment ago".to_owned(),
            ));
        }
        let mut conn = self.inner.conn.clone();
        let outcome = tokio::time::timeout(self.inner.timeout, f(&mut conn)).await;
        let error = match outcome {
            Ok(Ok(value)) => {
                if self.inner.was_down.swap(false, Ordering::Relaxed) {
                    tracing::info!("the Redis cache answers again");
                }
                *crate::sync::lock(&self.inner.down_until) = None;
                return Ok(value);
            }
            Ok(Err(e)) if !is_unreachable(&e) => {
                // Redis answered: this command failed, the store is not down.
                let error = redact(&e);
                self.log_failure(op, &error);
                return Err(CacheError::Store(error));
            }
            Ok(Err(e)) => redact(&e),
            Err(_) => format!("no answer within {:?}", self.inner.timeout),
        };
        self.inner.was_down.store(true, Ordering::Relaxed);
        // At least two timeouts: a request's later commands then fail at once, so one request
        // pays the timeout once, however many commands it has.
        let down_for = DOWN_FOR.max(self.inner.timeout * 2);
        *crate::sync::lock(&self.inner.down_until) = Some(Instant::now() + down_for);
        self.log_failure(op, &error);
        Err(CacheError::Unavailable(error))
    }

    /// Logs a failure, at most once per `LOG_EVERY`, with how many were not logged since.
    fn log_failure(&self, op: &'static str, error: &str) {
        if self.inner.log_limiter.check().is_ok() {
            let suppressed = self.inner.suppressed.swap(0, Ordering::Relaxed);
            tracing::warn!(
                op,
                error,
                suppressed,
                "the Redis cache is unavailable; answering from TMDB (and stale rules) until it \
                 returns"
            );
        } else {
            self.inner.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Whether `e` means Redis cannot be reached (so every command would fail for a while), as
/// opposed to an error reply to this one command (an out-of-memory refusal of a write, say).
fn is_unreachable(e: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        // A cluster between a primary's failure and its replica's promotion, or a node gone.
        || matches!(
            e.kind(),
            ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    ServerErrorKind::ClusterDown
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::MasterDown
                )
        )
}

/// A Redis error as text, with any URL in it reduced to its host (the driver can quote the
/// connection URL, password included).
fn redact(e: &redis::RedisError) -> String {
    let text = e.to_string();
    text.split_whitespace()
        .map(|word| {
            if word.contains("://") {
                crate::config::redact_url(word)
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
