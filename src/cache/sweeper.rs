//! The sweeper keeps the store clean and bounded, in the background: it removes entries past
//! expiry + stale grace (nothing may serve them any more), and when stored bytes exceed the bound
//! it evicts the least recently used entries down to 90 % of it. It runs every `sweep_every` and
//! whenever a write pushes the store past its bound. Offline it never runs: there, old entries are
//! the data being served.

use std::sync::Arc;
use std::time::Duration;

use super::PageCache;
use crate::clock::Clock;
use crate::counters::Counters;
use crate::telemetry::spawn_blocking;

/// Eviction stops at this fraction of the bound, so one write does not trigger the next sweep.
const EVICT_TO: f64 = 0.9;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub expired: u64,
    pub evicted: u64,
    /// Stored bytes after the sweep.
    pub stored_bytes: u64,
}

#[derive(Clone)]
pub struct Sweeper {
    cache: PageCache,
    counters: Arc<Counters>,
    clock: Clock,
    grace: Duration,
    every: Duration,
}

impl Sweeper {
    pub fn new(
        cache: PageCache,
        counters: Arc<Counters>,
        clock: Clock,
        grace: Duration,
        every: Duration,
    ) -> Sweeper {
        Sweeper {
            cache,
            counters,
            clock,
            grace,
            every,
        }
    }

    /// One pass over the whole store.
    pub async fn run_once(&self) -> SweepReport {
        let sweeper = self.clone();
        spawn_blocking(move || sweeper.sweep_blocking()).await
    }

    fn sweep_blocking(&self) -> SweepReport {
        let now_ms = self.clock.now_ms();
        let grace_ms = self.grace.as_millis() as u64;
        let usage = self.cache.usage();
        let mut report = SweepReport::default();
        // (last used, size, key) of every entry that stays.
        let mut kept: Vec<(u64, u64, String)> = Vec::new();
        let mut total = 0u64;
        // The index, not the entries: a sweep must not pull the whole store into memory.
        for item in self.cache.scan_index_blocking("") {
            let Ok((key, record)) = item else {
                continue;
            };
            let Some(record) = record else {
                // Damaged: nothing can tell when it expires.
                tracing::warn!(%key, "removing a cache entry whose index record is unreadable");
                if self.cache.remove_blocking(&key).unwrap_or(false) {
                    Counters::incr(&self.counters.corrupt_entries);
                }
                continue;
            };
            let size = u64::from(record.stored_len);
            if now_ms >= record.expires_at_ms.saturating_add(grace_ms) {
                if self.cache.remove_blocking(&key).unwrap_or(false) {
                    report.expired += 1;
                }
                continue;
            }
            let last_used = usage
                .last_access(&key)
                .unwrap_or(record.stored_at_ms)
                .max(record.stored_at_ms);
            total += size;
            kept.push((last_used, size, key));
        }
        let kept_count = kept.len() as u64;
        if total > usage.max_bytes() {
            let target = (usage.max_bytes() as f64 * EVICT_TO) as u64;
            kept.sort_unstable();
            for (_, size, key) in kept {
                if total <= target {
                    break;
                }
                // The record is gone either way; an entry may already have been (a crash, or a
                // concurrent removal).
                if let Ok(removed) = self.cache.remove_blocking(&key) {
                    total -= size;
                    report.evicted += u64::from(removed);
                }
            }
        }
        usage.set_counted(total, kept_count - report.evicted);
        Counters::add(&self.counters.swept, report.expired);
        Counters::add(&self.counters.evictions, report.evicted);
        report.stored_bytes = total;
        if report.expired + report.evicted > 0 {
            tracing::info!(
                expired = report.expired,
                evicted = report.evicted,
                stored_bytes = total,
                "cache swept"
            );
        }
        report
    }

    /// Runs until `stop` resolves: a first pass at once (it also counts the stored bytes), then
    /// every `every`, or sooner when a write pushes the store past its bound.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        loop {
            self.run_once().await;
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(self.every) => {}
                () = self.cache.usage().over_limit.notified() => {}
            }
        }
    }
}
