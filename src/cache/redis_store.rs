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

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::CacheError;
use super::redis_control::{RATE_SCRIPT, UNLOCK_SCRIPT};

/// Compare-and-set of one entry, keeping its TTL (read with PTTL rather than SET's KEEPTTL,
/// which Redis 5 lacks; -1 is no TTL, offline).
const REPLACE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
elseif ttl == -1 then
  redis.call('SET', KEYS[1], ARGV[2])
else
  return 0
end
return 1
";
use crate::clock::Clock;
use crate::config::CacheSettings;

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

/// What Redis says about itself, for stats and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisInfo {
    /// Cache entries under the prefix.
    pub entries: u64,
    /// `used_memory` of the whole server.
    pub used_memory: u64,
    /// `maxmemory` (0: unbounded).
    pub maxmemory: u64,
    pub maxmemory_policy: String,
}

#[derive(Clone)]
pub struct RedisStore {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    conn: ConnectionManager,
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
        // The driver's errors can quote the URL: never let them through.
        let client = redis::Client::open(url.expose())
            .map_err(|_| CacheError::Store(format!("{url} is not a usable Redis URL")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.redis_timeout))
            .set_response_timeout(Some(settings.redis_timeout))
            // One attempt per reconnection: the next command after a failure tries again, so a
            // Redis that comes back is used at once, and no command waits on a long retry loop.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| CacheError::Store(format!("cannot set up the Redis client: {e}")))?;
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
            }),
        })
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

    pub(super) fn control_key(&self, kind: &str, rest: &str) -> String {
        format!("{}@{kind}:{rest}", self.inner.prefix)
    }

    /// Runs one command (or pipeline, or script) bounded by the timeout, failing at once while
    /// the store is marked down. `probe` ignores the down mark (health checks find recovery).
    pub(super) async fn run<T, F>(
        &self,
        op: &'static str,
        probe: bool,
        f: F,
    ) -> Result<T, CacheError>
    where
        F: AsyncFnOnce(&mut ConnectionManager) -> redis::RedisResult<T>,
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

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let key = self.data_key(key);
        self.run("get", false, async |c| {
            redis::cmd("GET").arg(&key).query_async(c).await
        })
        .await
    }

    /// Milliseconds Redis should keep an entry expiring at `expires_at_ms`: until expiry + grace,
    /// or `None` for no TTL (offline). `Some(0)`: nothing could serve it any more.
    fn ttl_ms(&self, expires_at_ms: u64) -> Option<u64> {
        if self.inner.persist {
            return None;
        }
        let drop_at = expires_at_ms.saturating_add(self.inner.grace_ms);
        Some(drop_at.saturating_sub(self.inner.clock.now_ms()))
    }

    fn set_cmd(&self, pipe: &mut redis::Pipeline, key: &str, bytes: &[u8], expires_at_ms: u64) {
        let key = self.data_key(key);
        match self.ttl_ms(expires_at_ms) {
            None => pipe.cmd("SET").arg(&key).arg(bytes).ignore(),
            Some(0) => pipe.cmd("UNLINK").arg(&key).ignore(),
            Some(ttl) => pipe
                .cmd("SET")
                .arg(&key)
                .arg(bytes)
                .arg("PX")
                .arg(ttl)
                .ignore(),
        };
    }

    /// Stores `bytes` until `expires_at_ms` + stale grace.
    pub async fn put(&self, key: &str, bytes: &[u8], expires_at_ms: u64) -> Result<(), CacheError> {
        let mut pipe = redis::pipe();
        self.set_cmd(&mut pipe, key, bytes, expires_at_ms);
        self.run("put", false, async |c| pipe.query_async::<()>(c).await)
            .await
    }

    /// Replaces `old` with `new` under `key`, keeping its TTL, only if `old` is still what is
    /// stored: a removal or a newer write in between wins. `true` when replaced.
    pub async fn replace(&self, key: &str, old: &[u8], new: &[u8]) -> Result<bool, CacheError> {
        let key = self.data_key(key);
        let script = &self.inner.replace_script;
        self.run("replace", false, async |c| {
            script
                .key(&key)
                .arg(old)
                .arg(new)
                .invoke_async::<u64>(c)
                .await
        })
        .await
        .map(|replaced| replaced == 1)
    }

    /// Stores many (key, bytes, expires_at_ms) in pipelines of `BATCH`.
    pub async fn put_many(&self, entries: &[(String, Vec<u8>, u64)]) -> Result<(), CacheError> {
        for chunk in entries.chunks(BATCH) {
            let mut pipe = redis::pipe();
            for (key, bytes, expires) in chunk {
                self.set_cmd(&mut pipe, key, bytes, *expires);
            }
            self.run("put", false, async |c| pipe.query_async::<()>(c).await)
                .await?;
        }
        Ok(())
    }

    /// Removes `key`; `true` when it existed.
    pub async fn remove(&self, key: &str) -> Result<bool, CacheError> {
        let key = self.data_key(key);
        let removed: u64 = self
            .run("remove", false, async |c| {
                redis::cmd("UNLINK").arg(&key).query_async(c).await
            })
            .await?;
        Ok(removed > 0)
    }

    /// One SCAN round trip over the cache keys starting with `prefix`: the next cursor (0 at the
    /// end) and the keys found, without the store's prefix. Control keys are skipped.
    pub async fn scan_page(
        &self,
        prefix: &str,
        cursor: u64,
    ) -> Result<(u64, Vec<String>), CacheError> {
        let pattern = format!(
            "{}{}*",
            glob_escape(&self.inner.prefix),
            glob_escape(prefix)
        );
        let (next, keys): (u64, Vec<String>) = self
            .run("scan", false, async |c| {
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(BATCH)
                    .query_async(c)
                    .await
            })
            .await?;
        let keys = keys
            .into_iter()
            .filter_map(|k| k.strip_prefix(&self.inner.prefix).map(str::to_owned))
            .filter(|k| !k.starts_with('@'))
            .collect();
        Ok((next, keys))
    }

    /// The values of `keys` (cache keys without the prefix); `None` for those gone meanwhile.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let full: Vec<String> = keys.iter().map(|k| self.data_key(k)).collect();
        self.run("scan", false, async |c| {
            redis::cmd("MGET").arg(&full).query_async(c).await
        })
        .await
    }

    /// Every (key, bytes) under `prefix`, one batch at a time through `each`.
    pub async fn scan_each(
        &self,
        prefix: &str,
        mut each: impl FnMut(String, Vec<u8>),
    ) -> Result<(), CacheError> {
        let mut cursor = 0;
        loop {
            let (next, keys) = self.scan_page(prefix, cursor).await?;
            let values = self.get_many(&keys).await?;
            for (key, value) in keys.into_iter().zip(values) {
                if let Some(value) = value {
                    each(key, value);
                }
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Removes every cache entry under `prefix` with SCAN + UNLINK (never KEYS or FLUSHDB, and
    /// never a key outside the store's prefix); returns how many.
    pub async fn clear_prefix(&self, prefix: &str) -> Result<u64, CacheError> {
        let mut cursor = 0;
        let mut removed = 0;
        loop {
            let (next, keys) = self.scan_page(prefix, cursor).await?;
            if !keys.is_empty() {
                let full: Vec<String> = keys.iter().map(|k| self.data_key(k)).collect();
                let n: u64 = self
                    .run("clear", false, async |c| {
                        redis::cmd("UNLINK").arg(&full).query_async(c).await
                    })
                    .await?;
                removed += n;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    /// Whether any cache entry exists under the prefix.
    pub async fn is_empty(&self) -> Result<bool, CacheError> {
        let mut cursor = 0;
        loop {
            let (next, keys) = self.scan_page("", cursor).await?;
            if !keys.is_empty() {
                return Ok(false);
            }
            if next == 0 {
                return Ok(true);
            }
            cursor = next;
        }
    }

    /// Writes, reads back and removes a probe of this instance's own.
    pub async fn health(&self) -> Result<(), CacheError> {
        let key = self.control_key("health", &self.inner.instance);
        let back: Option<String> = self
            .run("health", true, async |c| {
                redis::pipe()
                    .cmd("SET")
                    .arg(&key)
                    .arg("ok")
                    .arg("PX")
                    .arg(60_000)
                    .ignore()
                    .cmd("GET")
                    .arg(&key)
                    .cmd("DEL")
                    .arg(&key)
                    .ignore()
                    .query_async::<(Option<String>,)>(c)
                    .await
                    .map(|(v,)| v)
            })
            .await
            // A Redis that answers but refuses (full, read-only replica) is a degraded cache
            // too: requests go on to TMDB, the service is up.
            .map_err(|e| match e {
                CacheError::Store(message) => CacheError::Unavailable(message),
                other => other,
            })?;
        match back.as_deref() {
            Some("ok") => Ok(()),
            _ => Err(CacheError::Unavailable(
                "a probe written to Redis was not read back".to_owned(),
            )),
        }
    }

    /// Entries under the prefix (a SCAN count) and the server's memory figures from `INFO`.
    pub async fn info(&self) -> Result<RedisInfo, CacheError> {
        let text: String = self
            .run("info", false, async |c| {
                redis::cmd("INFO").arg("memory").query_async(c).await
            })
            .await?;
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
                .unwrap_or_default()
                .to_owned()
        };
        Ok(RedisInfo {
            entries: self.entries().await?,
            used_memory: field("used_memory").parse().unwrap_or(0),
            maxmemory: field("maxmemory").parse().unwrap_or(0),
            maxmemory_policy: field("maxmemory_policy"),
        })
    }
}

impl RedisStore {
    /// Entries under the prefix: counted at most every `COUNT_EVERY`, within `COUNT_BUDGET`.
    async fn entries(&self) -> Result<u64, CacheError> {
        let recent = *crate::sync::lock(&self.inner.counted);
        if let Some((at, n)) = recent
            && at.elapsed() < COUNT_EVERY
        {
            return Ok(n);
        }
        let count = async {
            let mut entries = 0;
            let mut cursor = 0;
            loop {
                let (next, keys) = self.scan_page("", cursor).await?;
                entries += keys.len() as u64;
                if next == 0 {
                    return Ok::<u64, CacheError>(entries);
                }
                cursor = next;
            }
        };
        let entries = tokio::time::timeout(COUNT_BUDGET, count)
            .await
            .map_err(|_| CacheError::Unavailable("counting the entries took too long".into()))??;
        *crate::sync::lock(&self.inner.counted) = Some((Instant::now(), entries));
        Ok(entries)
    }
}

/// Whether `e` means Redis cannot be reached (so every command would fail for a while), as
/// opposed to an error reply to this one command (an out-of-memory refusal of a write, say).
fn is_unreachable(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
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

/// `raw` with Redis glob characters escaped, for `SCAN MATCH`.
fn glob_escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(glob_escape("reelcache:v1:"), "reelcache:v1:");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
