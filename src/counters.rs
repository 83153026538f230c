//! `Counters`: process-wide event counts (cache outcomes, upstream calls, bytes stored), kept as
//! relaxed atomics so the hit path pays a few nanoseconds. Exposed by the stats endpoint and
//! `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

#[derive(Debug, Default)]
pub struct Counters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub stale: AtomicU64,
    pub bypasses: AtomicU64,
    pub upstream_calls: AtomicU64,
    pub upstream_errors: AtomicU64,
    /// Entries that failed to decode or whose checksum did not match, and were removed.
    pub corrupt_entries: AtomicU64,
    /// Cache operations that failed (the request went on to TMDB).
    pub store_errors: AtomicU64,
    /// JSON bytes written to the cache before compression, and what was stored for them.
    pub bytes_raw: AtomicU64,
    pub bytes_stored: AtomicU64,
}

/// A point-in-time copy of the counters.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct CounterSnapshot {
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub bypasses: u64,
    pub upstream_calls: u64,
    pub upstream_errors: u64,
    pub corrupt_entries: u64,
    pub store_errors: u64,
    pub bytes_raw: u64,
    pub bytes_stored: u64,
}

impl Counters {
    pub fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CounterSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            hits: get(&self.hits),
            misses: get(&self.misses),
            stale: get(&self.stale),
            bypasses: get(&self.bypasses),
            upstream_calls: get(&self.upstream_calls),
            upstream_errors: get(&self.upstream_errors),
            corrupt_entries: get(&self.corrupt_entries),
            store_errors: get(&self.store_errors),
            bytes_raw: get(&self.bytes_raw),
            bytes_stored: get(&self.bytes_stored),
        }
    }
}
