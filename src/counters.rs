//! `Counters`: process-wide event counts (cache outcomes, upstream calls, bytes stored), kept as
//! relaxed atomics so the hit path pays a few nanoseconds. Exposed by the stats endpoint and
//! `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Declares the counters once: the atomic struct, its snapshot, and the copy between them.
macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        #[derive(Debug, Default)]
        pub struct Counters {
            $($(#[doc = $doc])* pub $name: AtomicU64,)*
        }

        /// A point-in-time copy of the counters.
        #[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
        pub struct CounterSnapshot {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl Counters {
            pub fn snapshot(&self) -> CounterSnapshot {
                CounterSnapshot {
                    $($name: self.$name.load(Ordering::Relaxed),)*
                }
            }
        }
    };
}

counters! {
    /// Misses answered by another instance's fetch through the shared cache (fill locks).
    shared_fills,
    /// Served fresh from the cache.
    hits,
    /// Of those, answered from the hot tier's finished bodies (the rest were decompressed).
    hot_hits,
    /// Not in the cache (or expired): fetched from TMDB.
    misses,
    /// Served past their TTL (offline, stale-while-revalidate, stale-if-error).
    stale,
    /// Search and popular, asked of TMDB every time.
    bypasses,
    upstream_calls,
    upstream_errors,
    /// Entries that failed to decode or whose checksum did not match, and were removed.
    corrupt_entries,
    /// Cache operations that failed (the request went on to TMDB).
    store_errors,
    /// JSON bytes written to the cache before compression.
    bytes_raw,
    /// What was stored for them.
    bytes_stored,
    /// TMDB attempts repeated after a retryable failure.
    retries,
    /// Requests handed to the next TMDB host because one could not be reached.
    upstream_failovers,
    /// Requests that waited for another request's TMDB fetch instead of making their own.
    coalesced,
    /// Next pages fetched in the background.
    prefetches,
    /// Previous pages fetched in the background after a jump into the middle of a list.
    prefetches_previous,
    /// List pages refreshed ahead together with the page before them, which readers go on to.
    refreshed_with_previous_page,
    /// Background refreshes of stale entries.
    revalidations,
    /// Entries removed to keep the store under its size bound.
    evictions,
    /// Entries removed because they were past expiry + stale grace.
    swept,
    /// Requests refused by the per-client limiter.
    client_rate_limited,
    /// Negative entries stored: TMDB answered 404 for a movie id.
    negative_stored,
    /// Requests answered 404 from a negative entry, without asking TMDB.
    negative_hits,
    /// Hot bodies compressed for a content coding (once per entry and coding).
    compressions,
    /// Images served from the image cache (memory or disk).
    image_hits,
    /// Images fetched from TMDB's image server (or refused offline).
    image_misses,
    /// Image requests that waited for another request's fetch of the same image.
    image_coalesced,
    /// Calls to TMDB's image server, and those that failed.
    image_upstream_calls,
    image_upstream_errors,
}

impl Counters {
    pub fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
