//! The page cache: keys, the entry envelope, and the stores that hold envelopes. `PageCache` is
//! the only type the services use; it turns store trouble into misses (a cache failure never
//! fails a request) and counts what happens.

pub mod codec;
mod encoder;
mod entry;
pub mod envelope;
pub mod fill;
pub mod hot;
/// The image cache: files with a byte bound of their own.
pub mod images;
pub mod key;

mod blocking;
pub mod redis_store;
mod shared;
pub mod sled_slot;
pub mod sled_store;
/// Portable snapshot files of the cache.
pub mod snapshot;
mod stats;
pub mod store;
pub mod sweeper;
pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::counters::Counters;
use crate::telemetry::spawn_blocking;

pub use blocking::IndexScan;
pub use entry::{CachedEntry, Lookup};
pub use envelope::{EntryMeta, ListMeta, Shape};
pub use key::CacheKey;
pub use redis_store::RedisStore;
pub use shared::{SharedDebts, SharedRate, SharedWindows};
pub use sled_slot::SledSlot;
pub use sled_store::SledStore;
pub use stats::{NamespaceStats, RedisStats, StoreStats};
pub use store::Store;

#[derive(Debug, Clone, thiserror::Error)]
pub enum CacheError {
    #[error("cache store: {0}")]
    Store(String),
    /// The shared store (Redis) cannot be reached or did not answer in time. Already logged,
    /// with a rate limit, by the store; the service goes on without it (degraded).
    #[error("shared cache unavailable: {0}")]
    Unavailable(String),
    /// The disk refused a write of the local store: full, read-only, or not permitted. Not
    /// damage: the store is kept as it is and reopened once it can write (`SledSlot`).
    #[error("the disk refused a cache write: {0}")]
    Disk(String),
}

#[derive(Clone)]
pub struct PageCache {
    store: Store,
    counters: Arc<Counters>,
    usage: Arc<usage::Usage>,
    hot: Arc<hot::HotTier>,
    /// Kept documents whose write has not landed yet (`keep`).
    writing: encoder::Pending,
    reencoding: encoder::Pending,
    /// Re-encodings swapped in at once (`REPLACING`): the rest wait their turn, off any thread.
    replacing: Arc<tokio::sync::Semaphore>,
    last_write_ok: Arc<std::sync::atomic::AtomicBool>,
}

/// How many re-encoded entries are swapped into the store at once. Each swap is a read and two
/// writes on tokio's blocking pool (sled); on a machine whose CPU is taken, swaps that run
/// together were each given a thread of the pool, which then grew (to 32 threads at 144 MB
/// resident under BENCHMARKS.md's miss-heavy load beside two busy loops). Swaps are background
/// work: two at a time keep up with the encoder thread, which makes one every ~0.2 ms.
const REPLACING: usize = 2;

impl PageCache {
    /// `max_bytes` bounds the stored bytes; the sweeper evicts past it. `hot` holds rendered
    /// bodies in front of the store.
    pub fn new(
        store: Store,
        counters: Arc<Counters>,
        max_bytes: u64,
        hot: hot::HotTier,
    ) -> PageCache {
        PageCache {
            store,
            counters,
            usage: Arc::new(usage::Usage::new(max_bytes)),
            hot: Arc::new(hot),
            writing: encoder::Pending::default(),
            reencoding: encoder::Pending::default(),
            replacing: Arc::new(tokio::sync::Semaphore::new(REPLACING)),
            last_write_ok: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        }
    }

    pub fn usage(&self) -> &usage::Usage {
        &self.usage
    }

    /// Rendered bodies in front of the store. Every change to the store goes through this type,
    /// which keeps the two in step.
    pub fn hot(&self) -> &hot::HotTier {
        &self.hot
    }

    /// Looks `key` up. Store errors and undecodable entries are misses; a damaged entry is removed
    /// so the next fetch replaces it.
    pub async fn get(&self, key: &CacheKey, now_ms: u64) -> Lookup {
        let found = self.store.get(key.as_str()).await;
        let bytes = match found {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Lookup::Miss,
            Err(e) => {
                self.failed(key.as_str(), &e, "cache read failed; treating as a miss");
                return Lookup::Miss;
            }
        };
        self.usage.touch(key.as_str(), now_ms);
        match CachedEntry::from_bytes(bytes) {
            // An expired negative entry is nothing: TMDB is asked again (and a stale "no such
            // movie" never stands in for an outage's error).
            Ok(entry) if entry.meta.shape == Shape::Missing => match entry.is_fresh(now_ms) {
                true => Lookup::Missing {
                    expires_at_ms: entry.meta.expires_at_ms,
                },
                false => Lookup::Miss,
            },
            Ok(entry) if entry.is_fresh(now_ms) => Lookup::Fresh(entry),
            Ok(entry) => Lookup::Expired(entry),
            Err(e) => {
                tracing::warn!(%key, error = %e, "removing an unreadable cache entry");
                // Counted by whoever removes it (this request or the sweeper), once.
                if self.remove(key).await {
                    Counters::incr(&self.counters.corrupt_entries);
                }
                Lookup::Miss
            }
        }
    }

    /// Stores `raw` (validated TMDB JSON) under `key`, fresh for `ttl` from `now_ms`, before it
    /// returns: with the fast compressor, then swapped for LZ4-HC by the encoder thread (see
    /// `write_fast_then_small`). Failures are logged and counted, never returned.
    pub async fn put(
        &self,
        key: &CacheKey,
        shape: Shape,
        raw: &[u8],
        now_ms: u64,
        ttl: Duration,
    ) -> EntryMeta {
        let meta = entry_meta(shape, raw, now_ms, ttl);
        let raw = Bytes::copy_from_slice(raw);
        self.write_fast_then_small(key, meta, raw, None).await;
        meta
    }

    /// Keeps a document that is answered without waiting for its write (a miss): returns the
    /// write to run once the answer is out. Encoded once, with LZ4-HC and the dictionary on the
    /// encoder thread, and written when that is done; when the encoder does not get to it
    /// within `KEEP_WAIT` (a burst of misses), the fast encoding is written then and swapped
    /// for the small one when it comes. `meta` is `entry_meta`'s. `settle` and `settle_writes`
    /// wait for the write from the moment this is called.
    ///
    /// `at_once`: a write others wait for (another instance holds off its own fetch while this
    /// one's fill lock is held): the fast encoding at once, the small one swapped in later.
    pub fn keep(
        &self,
        key: CacheKey,
        meta: EntryMeta,
        raw: Bytes,
        body: hot::LaterBody,
        now_ms: u64,
        at_once: bool,
    ) -> BoxFuture<'static, Landed> {
        let running = self.writing.start();
        let cache = self.clone();
        async move {
            let generation = match at_once {
                false => cache.write_small(&key, meta, raw).await,
                true => cache.write_fast_then_small(&key, meta, raw, None).await,
            };
            // The answer's body (rendered before or after this) is what the store now holds.
            if let Some(generation) = generation {
                body.written(&cache.hot, key.as_str(), generation, meta, now_ms);
            }
            Landed(Some(running))
        }
        .boxed()
    }

    /// Writes the LZ4-HC encoding of `raw` once the encoder has made it, or the fast one when
    /// that takes longer than `KEEP_WAIT` (the small one swapped in later).
    async fn write_small(
        &self,
        key: &CacheKey,
        meta: EntryMeta,
        raw: Bytes,
    ) -> Option<hot::Generation> {
        let started = tokio::time::Instant::now();
        let Some(mut small) = self
            .submit_within(meta, raw.clone(), started + KEEP_WAIT)
            .await
        else {
            // No room for it in time: the fast encoding now, the small one if room comes.
            return self.write_fast_then_small(key, meta, raw, None).await;
        };
        match tokio::time::timeout_at(started + KEEP_WAIT, &mut small).await {
            Ok(Ok(small)) => self.write(key, small, true).await,
            // The job failed (a bug): the fast encoding stays.
            Ok(Err(_)) => {
                let fast = envelope::encode_fast(meta, &raw);
                self.write(key, fast, true).await
            }
            Err(_) => {
                let small = async move { small.await.ok() }.boxed();
                self.write_fast_then_small(key, meta, raw, Some(small))
                    .await
            }
        }
    }

    /// Queues `raw` for the encoder, waiting (until `deadline`) for room when its queue is full.
    async fn submit_within(
        &self,
        meta: EntryMeta,
        raw: Bytes,
        deadline: tokio::time::Instant,
    ) -> Option<tokio::sync::oneshot::Receiver<Vec<u8>>> {
        loop {
            if let Some(encoded) = encoder::submit(meta, raw.clone()) {
                return Some(encoded);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Whether the last write to the store succeeded: what a miss says of its own write, which
    /// is still on the way when it is answered (`Cache-Status: …; stored`).
    pub fn takes_writes(&self) -> bool {
        self.last_write_ok
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Writes the fast encoding of `raw` now and the LZ4-HC one (`small`, when already asked of
    /// the encoder) once the encoder thread has made it, unless the entry changed meanwhile.
    async fn write_fast_then_small(
        &self,
        key: &CacheKey,
        meta: EntryMeta,
        raw: Bytes,
        small: Option<BoxFuture<'static, Option<Vec<u8>>>>,
    ) -> Option<hot::Generation> {
        let fast = envelope::encode_fast(meta, &raw);
        let generation = self.write(key, fast.clone(), false).await?;
        let cache = self.clone();
        let key = key.as_str().to_owned();
        let running = self.reencoding.start();
        let small = small.unwrap_or_else(|| encoder::encode(meta, raw).boxed());
        tokio::spawn(async move {
            let _running = running;
            // Counted once, as finally stored, even if this task is dropped at shutdown.
            let mut stored = CountStored {
                counters: cache.counters.clone(),
                bytes: fast.len() as u64,
            };
            let Some(small) = small.await else {
                return;
            };
            // Never closed: a permit always comes.
            let Ok(_turn) = cache.replacing.acquire().await else {
                return;
            };
            if let Some(len) = cache.replace(&key, fast, small).await {
                stored.bytes = len;
            }
        });
        Some(generation)
    }

    /// Stores a negative entry under `key` (TMDB has no such movie) for `ttl`: requests for it
    /// are answered 404 without asking TMDB until then. Cleared like any other entry.
    pub async fn put_negative(&self, key: &CacheKey, now_ms: u64, ttl: Duration) {
        let bytes = envelope::encode_negative(EntryMeta {
            stored_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(ttl.as_millis() as u64),
            etag: 0,
            shape: Shape::Missing,
            raw_len: 0,
        });
        if self.write(key, bytes, true).await.is_some() {
            Counters::incr(&self.counters.negative_stored);
        }
    }

    /// Swaps a stored entry for the same document re-encoded, if it is still `old`; the new length
    /// when it did.
    async fn replace(&self, key: &str, old: Vec<u8>, new: Vec<u8>) -> Option<u64> {
        let (old_len, new_len) = (old.len() as u64, new.len() as u64);
        let replaced = self.store.replace(key, old, new).await;
        match replaced {
            Ok(true) => {
                self.usage.stored(new_len, old_len);
                Some(new_len)
            }
            Ok(false) => None,
            Err(e) => {
                self.failed(key, &e, "re-encoding an entry failed");
                None
            }
        }
    }

    /// Waits (at most `limit`) for the writes and re-encodings still running; `false` if some
    /// still are.
    pub async fn settle(&self, limit: Duration) -> bool {
        let until = tokio::time::Instant::now() + limit;
        self.writing.settle(limit).await
            && self
                .reencoding
                .settle(until.saturating_duration_since(tokio::time::Instant::now()))
                .await
    }

    /// Waits (at most `limit`) for the writes of kept documents only (not the re-encodings that
    /// may follow them); `false` if some are still on the way.
    pub async fn settle_writes(&self, limit: Duration) -> bool {
        self.writing.settle(limit).await
    }

    /// Stores an already encoded envelope (snapshots, warm). Returns the hot-tier generation right
    /// after the write, or `None` when it failed.
    pub async fn put_encoded(&self, key: &CacheKey, bytes: Vec<u8>) -> Option<hot::Generation> {
        self.write(key, bytes, true).await
    }

    /// `put_encoded`; `count_stored: false` leaves counting the stored bytes to a re-encoding.
    async fn write(
        &self,
        key: &CacheKey,
        bytes: Vec<u8>,
        count_stored: bool,
    ) -> Option<hot::Generation> {
        let stored = bytes.len() as u64;
        // One decode (it checksums the whole entry) for both numbers.
        let (raw, expires) = envelope::decode(&bytes).map_or((0, 0), |d| {
            (u64::from(d.meta.raw_len), d.meta.expires_at_ms)
        });
        let pending = self.hot.pending(Some(key.as_str()));
        let result = self.store.put(key.as_str(), bytes, expires).await;
        let generation = pending.finish();
        match result {
            Ok(old) => {
                self.last_write_ok
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                Counters::add(&self.counters.bytes_raw, raw);
                if count_stored {
                    Counters::add(&self.counters.bytes_stored, stored);
                }
                self.usage.stored(stored, old.unwrap_or(0) as u64);
                self.usage.entry_added(old.is_some());
                Some(generation)
            }
            Err(e) => {
                self.last_write_ok
                    .store(false, std::sync::atomic::Ordering::Relaxed);
                self.failed(key.as_str(), &e, "cache write failed");
                None
            }
        }
    }

    /// Whether the store holds no entry. An unreachable Redis counts as not empty, so nothing
    /// is imported into it blindly.
    pub async fn is_empty(&self) -> bool {
        self.store.is_empty().await
    }

    /// `Some` when sled's log should be folded into its snapshot once the store is closed: the
    /// store is sled and was written since it opened (`SledStore::fold_log`).
    pub fn log_to_fold(&self) -> Option<sled_store::FoldToken> {
        self.store.log_to_fold()
    }

    /// Which backend holds the entries.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// The local store's slot, when the store is sled (its supervisor runs with the server).
    pub fn sled(&self) -> Option<&SledSlot> {
        self.store.sled()
    }

    /// The shared store, when there is one (fill locks, the shared rate, its figures).
    fn redis(&self) -> Option<&RedisStore> {
        self.store.redis()
    }

    /// With Redis: its own numbers (entries under the prefix, memory from `INFO`), which also
    /// replace this process's estimates (shared by every instance, they cannot be counted here).
    pub async fn shared_info(&self) -> Option<redis_store::RedisInfo> {
        let info = self.redis()?.info().await.ok()?;
        self.usage.set_counted(info.used_memory, info.entries);
        Some(info)
    }

    /// Counts a store failure and logs it, unless the store has logged it (rate-limited) itself.
    fn failed(&self, key: &str, e: &CacheError, what: &'static str) {
        Counters::incr(&self.counters.store_errors);
        if !matches!(e, CacheError::Unavailable(_)) {
            tracing::warn!(%key, error = %e, "{what}");
        }
    }

    /// Removes one entry; `true` when it existed. A store failure is logged and is `false`:
    /// for invalidations, where the entry's expiry bounds the harm.
    pub async fn remove(&self, key: &CacheKey) -> bool {
        match self.try_remove(key).await {
            Ok(existed) => existed,
            Err(e) => {
                self.failed(key.as_str(), &e, "cache remove failed");
                false
            }
        }
    }

    /// Removes one entry; `Ok(true)` when it existed, the store's error when it could not.
    pub async fn try_remove(&self, key: &CacheKey) -> Result<bool, CacheError> {
        let pending = self.hot.pending(Some(key.as_str()));
        let result = self.store.remove(key.as_str()).await;
        pending.finish();
        self.usage.forget(key.as_str());
        let removed = result?;
        if let Some(size) = removed {
            self.usage.removed(size as u64);
            self.usage.entry_removed();
        }
        Ok(removed.is_some())
    }

    /// Removes every entry whose key starts with `prefix` (all entries for ""); returns how many.
    pub async fn clear_prefix(&self, prefix: &str) -> Result<u64, CacheError> {
        if let Some(redis) = self.store.redis() {
            let pending = self.hot.pending(None);
            let removed = redis.clear_prefix(prefix).await;
            pending.finish();
            return removed;
        }
        let cache = self.clone();
        let prefix = prefix.to_owned();
        spawn_blocking(move || {
            let keys: Vec<String> = cache
                .scan_blocking(&prefix)
                .map(|item| item.map(|(key, _)| key))
                .collect::<Result<_, _>>()?;
            let mut removed = 0;
            for key in keys {
                if cache.remove_blocking(&key)? {
                    removed += 1;
                }
            }
            // Also drops bodies the removals raced with.
            cache.hot.invalidate_all();
            Ok(removed)
        })
        .await
    }

    /// Whether the store answers (for `/health/`). `Err(CacheError::Unavailable)` is a shared
    /// store that is away: the service is degraded, not down.
    pub async fn health(&self) -> Result<(), CacheError> {
        self.store.health().await
    }

    /// Writes buffered data to disk (shutdown). Redis keeps its own durability.
    pub async fn flush(&self) -> Result<(), CacheError> {
        if !self.settle(SETTLE_LIMIT).await {
            tracing::warn!("some entries stay with fast compression: re-encoding took too long");
        }
        self.store.flush().await
    }
}

/// A kept document's write has landed; `settle_writes` counts it done once this is dropped, which its
/// caller does after it stopped answering from its own copy (the single flight's registry).
#[derive(Default)]
pub struct Landed(
    /// Dropped, it counts the write done.
    #[allow(dead_code)]
    Option<encoder::Running>,
);

/// Adds an entry's stored bytes to the counters when dropped.
struct CountStored {
    counters: Arc<Counters>,
    bytes: u64,
}

impl Drop for CountStored {
    fn drop(&mut self) {
        Counters::add(&self.counters.bytes_stored, self.bytes);
    }
}

/// How long a flush waits for re-encodings: they take a fraction of a millisecond each.
const SETTLE_LIMIT: Duration = Duration::from_secs(5);

/// How long a kept document waits for its LZ4-HC encoding before the fast one is written: the
/// encoder thread (lowest priority) gets to a page in a fraction of a millisecond when a core is
/// free, so a miss is written once, small; on a machine saturated for longer than this, the fast
/// encoding goes first and is swapped later.
const KEEP_WAIT: Duration = Duration::from_millis(250);

/// The metadata an entry of `raw` carries (the encoders set the same hash and length): what a
/// miss is answered with while its write is still on the way.
pub fn entry_meta(shape: Shape, raw: &[u8], now_ms: u64, ttl: Duration) -> EntryMeta {
    EntryMeta {
        stored_at_ms: now_ms,
        expires_at_ms: now_ms.saturating_add(ttl.as_millis() as u64),
        etag: envelope::payload_hash(raw),
        shape,
        raw_len: raw.len() as u32,
    }
}

/// The expiry recorded in an envelope (0 for one that does not decode: nothing serves it).
pub(crate) fn expires_of(bytes: &[u8]) -> u64 {
    envelope::decode(bytes).map_or(0, |d| d.meta.expires_at_ms)
}
