//! Control keys in Redis, beside the entries: the fill locks that let one instance fetch a key
//! the others miss too, the TMDB rate that all instances share, and decaying debts (the failed
//! logins every instance counts). All are single commands or small Lua scripts on one key,
//! bounded by the store's timeout like every other command.

use std::num::NonZeroU32;
use std::time::Duration;

use super::RedisStore;
use crate::cache::CacheError;

/// Takes a slot of the shared rate (GCRA over Redis's own clock, so every instance agrees on
/// time): KEYS[1] the bucket, ARGV[1] the emission interval and ARGV[2] the burst, in µs.
/// Returns 0 when admitted, else the µs to wait before trying again.
pub(super) const RATE_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - now - burst
if wait > 0 then return math.floor(wait) end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1000)
return 0
";

/// A debt that decays in real time (Redis's clock, in ms): KEYS[1] holds when it will be paid
/// off; ARGV[1] ms are added first (0: only read). Returns the debt left, in ms.
pub(super) const DEBT_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paid_at = tonumber(redis.call('GET', KEYS[1]) or '0')
if paid_at < now then paid_at = now end
local step = tonumber(ARGV[1])
if step > 0 then
  paid_at = paid_at + step
  redis.call('SET', KEYS[1], string.format('%.0f', paid_at), 'PX', paid_at - now + 1000)
end
return paid_at - now
";

/// Adds ARGV[1] to the count in KEYS[1], a window that starts with its first count and lasts
/// ARGV[2] ms. Returns the count and the ms left in the window.
pub(super) const WINDOW_SCRIPT: &str = r"
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {n, ttl}
";

/// Deletes a fill lock only if this instance still holds it (it may have expired and been taken).
pub(super) const UNLOCK_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// A fill lock this instance holds.
#[derive(Debug)]
pub struct FillLock {
    key: String,
    token: String,
}

impl RedisStore {
    /// Tries to become the one instance that fetches `key` (`SET NX PX`). `Ok(None)`: another
    /// instance holds the lock.
    pub async fn try_lock(&self, key: &str) -> Result<Option<FillLock>, CacheError> {
        let lock = FillLock {
            key: self.control_key("lock", key),
            token: self.inner.instance.clone(),
        };
        let ttl = self.inner.lock_ttl.as_millis() as u64;
        let set: Option<String> = self
            .run("lock", false, async |c| {
                redis::cmd("SET")
                    .arg(&lock.key)
                    .arg(&lock.token)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl)
                    .query_async(c)
                    .await
            })
            .await?;
        Ok(set.map(|_| lock))
    }

    /// Whether some instance holds the fill lock of `key`.
    pub async fn is_locked(&self, key: &str) -> Result<bool, CacheError> {
        let key = self.control_key("lock", key);
        self.run("lock", false, async |c| {
            redis::cmd("EXISTS").arg(&key).query_async(c).await
        })
        .await
    }

    /// Releases a lock this instance holds (if it still does).
    pub async fn unlock(&self, lock: FillLock) -> Result<(), CacheError> {
        let script = &self.inner.unlock_script;
        self.run("unlock", false, async |c| {
            script
                .key(&lock.key)
                .arg(&lock.token)
                .invoke_async::<u64>(c)
                .await
        })
        .await
        .map(drop)
    }

    /// Takes one slot of the shared rate `name` (`rps` per second, bursts of `rps`): `Ok(None)`
    /// when admitted, else how long to wait before asking again.
    pub async fn take_rate(
        &self,
        name: &str,
        rps: NonZeroU32,
    ) -> Result<Option<Duration>, CacheError> {
        let key = self.control_key("budget", name);
        let interval_us = (1_000_000 / u64::from(rps.get())).max(1);
        let burst_us = interval_us * u64::from(rps.get());
        let script = &self.inner.rate_script;
        let wait_us: u64 = self
            .run("budget", false, async |c| {
                script
                    .key(&key)
                    .arg(interval_us)
                    .arg(burst_us)
                    .invoke_async(c)
                    .await
            })
            .await?;
        Ok((wait_us > 0).then(|| Duration::from_micros(wait_us)))
    }

    /// The debt `name` (shared by every instance), after adding `step` to it (zero: only
    /// read). It decays by a millisecond every millisecond; the key goes when it is paid off.
    pub async fn debt(&self, name: &str, step: Duration) -> Result<Duration, CacheError> {
        let key = self.control_key("debt", name);
        let step_ms = step.as_millis() as u64;
        let script = &self.inner.debt_script;
        let left_ms: u64 = self
            .run("debt", false, async |c| {
                script.key(&key).arg(step_ms).invoke_async(c).await
            })
            .await?;
        Ok(Duration::from_millis(left_ms))
    }

    /// Adds `n` to the count `name` (shared by every instance) in a window of `window` that
    /// starts with its first count: the count so far and the time left in the window.
    pub async fn count_in_window(
        &self,
        name: &str,
        n: u64,
        window: Duration,
    ) -> Result<(u64, Duration), CacheError> {
        let key = self.control_key("window", name);
        let window_ms = window.as_millis().max(1) as u64;
        let script = &self.inner.window_script;
        let (count, left_ms): (u64, u64) = self
            .run("window", false, async |c| {
                script.key(&key).arg(n).arg(window_ms).invoke_async(c).await
            })
            .await?;
        Ok((count, Duration::from_millis(left_ms)))
    }
}
