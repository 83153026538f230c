//! Fill locks: with a shared store, when several instances miss the same key at once, one of
//! them fetches it from TMDB (it holds a short-lived `SET NX PX` lock in Redis) and the others
//! wait briefly for its entry. A holder that dies only delays the others until its lock expires;
//! then they fetch themselves. Within one process, `SingleFlight` already coalesces; this adds
//! the same across processes. With sled there is nobody to coordinate with.

use std::time::Duration;

use super::redis_store::FillLock;
use super::{CacheKey, PageCache};

/// What claiming the fill of a key found.
#[derive(Debug)]
pub enum FillClaim {
    /// No shared store (or it is unavailable): fetch without coordinating.
    Unshared,
    /// This instance fetches; release the lock once the entry is stored (or the fetch failed).
    Owned(FillLock),
    /// Another instance is fetching: wait for its entry.
    Elsewhere,
}

impl PageCache {
    pub async fn claim_fill(&self, key: &CacheKey) -> FillClaim {
        let Some(redis) = self.redis() else {
            return FillClaim::Unshared;
        };
        match redis.try_lock(key.as_str()).await {
            Ok(Some(lock)) => FillClaim::Owned(lock),
            Ok(None) => FillClaim::Elsewhere,
            // Redis away: every instance fetches for itself; the failure is logged by the store.
            Err(_) => FillClaim::Unshared,
        }
    }

    /// Whether another instance still holds the fill lock of `key` (`false` when unknown).
    pub async fn fill_pending(&self, key: &CacheKey) -> bool {
        match self.redis() {
            Some(redis) => redis.is_locked(key.as_str()).await.unwrap_or(false),
            None => false,
        }
    }

    pub async fn release_fill(&self, lock: FillLock) {
        if let Some(redis) = self.redis() {
            // An unreleased lock expires by itself: nothing to do about a failure here.
            let _ = redis.unlock(lock).await;
        }
    }

    /// How long to wait for another instance's fill at most: its lock's lifetime.
    pub fn fill_wait(&self) -> Duration {
        self.redis()
            .map_or(Duration::ZERO, super::RedisStore::lock_ttl)
    }
}
