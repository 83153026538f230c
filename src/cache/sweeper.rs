//! The sweeper keeps the store clean and bounded, in the background: it removes entries past
//! expiry + stale grace (nothing may serve them any more), and when stored bytes exceed the bound
//! it evicts the least recently used entries down to 90 % of it. It runs every `sweep_every` and
//! whenever a write pushes the store past its bound. Offline it never runs: there, old entries are
//! the data being served.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::PageCache;
use super::sled_store::IndexRecord;
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
    /// The pass stopped early because the server is stopping (`stop`): what it removed is
    /// removed, the rest is left for the next start.
    pub interrupted: bool,
}

#[derive(Clone)]
pub struct Sweeper {
    cache: PageCache,
    counters: Arc<Counters>,
    clock: Clock,
    grace: Duration,
    every: Duration,
    /// Set when the server stops: a pass over a large store (a second or more at 1 M entries)
    /// ends at the next entry instead of holding up the shutdown.
    stopping: Arc<AtomicBool>,
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
            stopping: Arc::default(),
        }
    }

    /// Ends the pass in progress, if any, at its next entry, and every later one at once.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
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
        // (last used, index record, key) of every entry that stays.
        let mut kept: Vec<(u64, IndexRecord, String)> = Vec::new();
        let mut total = 0u64;
        // The index, not the entries: a sweep must not pull the whole store into memory.
        for item in self.cache.scan_index_blocking("") {
            if self.is_stopping() {
                report.interrupted = true;
                break;
            }
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
                // Unless it was stored again since the record was read.
                if self
                    .cache
                    .remove_blocking_if_unchanged(&key, &record)
                    .unwrap_or(false)
                {
                    report.expired += 1;
                }
                continue;
            }
            let last_used = usage
                .last_access(&key)
                .unwrap_or(record.stored_at_ms)
                .max(record.stored_at_ms);
            total += size;
            kept.push((last_used, record, key));
        }
        let kept_count = kept.len() as u64;
        if !report.interrupted && total > usage.max_bytes() {
            let target = (usage.max_bytes() as f64 * EVICT_TO) as u64;
            kept.sort_unstable_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
            for (_, record, key) in kept {
                if total <= target || self.is_stopping() {
                    break;
                }
                // Judged by a scan that may be seconds old: a key stored again since is left (the
                // next sweep judges it afresh). The record goes either way; the entry may already
                // have (a crash, or a concurrent removal).
                if let Ok(removed) = self.cache.remove_blocking_if_unchanged(&key, &record) {
                    total -= u64::from(record.stored_len);
                    report.evicted += u64::from(removed);
                }
            }
        }
        // A pass that stopped early has not seen every entry: the count stays as it was.
        if !report.interrupted {
            usage.set_counted(total, kept_count - report.evicted);
        }
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
            let pass = self.run_once();
            tokio::pin!(pass);
            tokio::select! {
                _ = &mut pass => {}
                () = &mut stop => {
                    self.stop();
                    pass.await;
                    return;
                }
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(self.every) => {}
                () = self.cache.usage().over_limit.notified() => {}
            }
        }
    }
}
