//! What several instances share through the shared store (Redis), offered to the services
//! without the store itself: a rate (the TMDB budget), decaying debts (failed logins), and
//! whether the store bounds itself.

use std::time::Duration;

use super::{CacheError, PageCache, RedisStore};

impl PageCache {
    /// Counts in windows shared by every instance on the shared store; `None` with a local
    /// store.
    pub fn shared_windows(&self) -> Option<SharedWindows> {
        Some(SharedWindows {
            store: self.redis()?.clone(),
        })
    }

    /// With Redis, `single` (one server) or `cluster` (a Redis Cluster).
    pub fn topology(&self) -> Option<&'static str> {
        self.redis().map(RedisStore::topology)
    }

    /// Whether the store expires and bounds its entries by itself (Redis), so that no sweeper
    /// has anything to do.
    pub fn expires_by_itself(&self) -> bool {
        self.redis().is_some()
    }

    /// Debts shared by every instance on the shared store; `None` with a local store.
    pub fn shared_debts(&self) -> Option<SharedDebts> {
        Some(SharedDebts {
            store: self.redis()?.clone(),
        })
    }

    /// The rate `name` (`rps` per second) shared by every instance on the shared store; `None`
    /// with a local store, where each process keeps its own.
    pub fn shared_rate(&self, name: &'static str, rps: std::num::NonZeroU32) -> Option<SharedRate> {
        Some(SharedRate {
            store: self.redis()?.clone(),
            name,
            rps,
        })
    }
}

/// Debts that decay in real time, shared by every instance through the shared store
/// (`PageCache::shared_debts`): failures forgiven one per period, say.
#[derive(Clone)]
pub struct SharedDebts {
    store: RedisStore,
}

impl SharedDebts {
    /// The debt `name` after adding `step` (zero: only read); it decays in real time.
    pub async fn add(&self, name: &str, step: Duration) -> Result<Duration, CacheError> {
        self.store.debt(name, step).await
    }
}

/// A rate shared by every instance through the shared store (`PageCache::shared_rate`).
pub struct SharedRate {
    store: RedisStore,
    name: &'static str,
    rps: std::num::NonZeroU32,
}

impl SharedRate {
    /// Takes one slot: `Ok(None)` when admitted, else how long to wait before asking again.
    pub async fn take(&self) -> Result<Option<Duration>, CacheError> {
        self.store.take_rate(self.name, self.rps).await
    }
}

/// Counts in windows shared by every instance (`PageCache::shared_windows`): requests of one
/// client, say.
#[derive(Clone)]
pub struct SharedWindows {
    store: RedisStore,
}

impl SharedWindows {
    /// Adds `n` to the count `name`, in a window of `window` that starts with its first count:
    /// the count so far and the time left in the window.
    pub async fn add(
        &self,
        name: &str,
        n: u64,
        window: Duration,
    ) -> Result<(u64, Duration), CacheError> {
        self.store.count_in_window(name, n, window).await
    }
}
