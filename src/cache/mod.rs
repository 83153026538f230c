//! The page cache: keys, the entry envelope, and the stores that hold envelopes. `PageCache` is
//! the only type the services use; it turns store trouble into misses (a cache failure never
//! fails a request) and counts what happens.

pub mod envelope;
pub mod hot;
pub mod key;
pub mod sled_store;
pub mod sweeper;
pub mod usage;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::counters::Counters;
use crate::telemetry::spawn_blocking;

pub use envelope::{EntryMeta, ListMeta, Shape};
pub use key::CacheKey;
pub use sled_store::SledStore;

#[derive(Debug, Clone, thiserror::Error)]
pub enum CacheError {
    #[error("cache store: {0}")]
    Store(String),
}

/// The backends. An enum rather than a trait object: native async fns are not object-safe, and
/// the set is closed (sled embedded, Redis shared).
#[derive(Clone)]
pub enum Store {
    Sled(SledStore),
}

/// One stored entry whose header has been verified; the payload is still compressed.
#[derive(Debug, Clone)]
pub struct CachedEntry {
    bytes: sled::IVec,
    payload_offset: usize,
    pub meta: EntryMeta,
}

impl CachedEntry {
    fn from_bytes(bytes: sled::IVec) -> Result<CachedEntry, envelope::EnvelopeError> {
        let decoded = envelope::decode(&bytes)?;
        Ok(CachedEntry {
            payload_offset: decoded.payload_offset(&bytes),
            meta: decoded.meta,
            bytes,
        })
    }

    /// The payload decompressed between `prefix` and `suffix`.
    pub fn render(&self, prefix: &[u8], suffix: &[u8]) -> Result<Vec<u8>, CacheError> {
        envelope::render(
            &self.bytes[self.payload_offset..],
            self.meta.raw_len,
            prefix,
            suffix,
        )
        .map_err(|e| CacheError::Store(e.to_string()))
    }

    pub fn is_fresh(&self, now_ms: u64) -> bool {
        now_ms < self.meta.expires_at_ms
    }

    /// The encoded envelope, as stored.
    pub fn encoded(&self) -> &[u8] {
        &self.bytes
    }
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    Fresh(CachedEntry),
    /// Past its TTL. Kept so that later rules (stale-if-error, offline) can still serve it.
    Expired(CachedEntry),
    Miss,
}

/// Entries and bytes of one namespace.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct NamespaceStats {
    pub entries: u64,
    /// Encoded (compressed) bytes.
    pub stored_bytes: u64,
    /// JSON bytes before compression.
    pub raw_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreStats {
    pub namespaces: BTreeMap<String, NamespaceStats>,
    pub entries: u64,
    pub stored_bytes: u64,
    pub raw_bytes: u64,
    /// stored / raw; lower is better.
    pub compression_ratio: f64,
    pub disk_bytes: u64,
}

#[derive(Clone)]
pub struct PageCache {
    store: Store,
    counters: Arc<Counters>,
    usage: Arc<usage::Usage>,
    hot: Arc<hot::HotTier>,
}

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
        let found = match &self.store {
            Store::Sled(sled) => sled.get(key.as_str()),
        };
        let bytes = match found {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Lookup::Miss,
            Err(e) => {
                Counters::incr(&self.counters.store_errors);
                tracing::warn!(%key, error = %e, "cache read failed; treating as a miss");
                return Lookup::Miss;
            }
        };
        self.usage.touch(key.as_str(), now_ms);
        match CachedEntry::from_bytes(bytes) {
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

    /// Stores `raw` (validated TMDB JSON) under `key`, fresh for `ttl` from `now_ms`. Failures are
    /// logged and counted, never returned: the response does not depend on the write.
    pub async fn put(
        &self,
        key: &CacheKey,
        shape: Shape,
        raw: &[u8],
        now_ms: u64,
        ttl: Duration,
    ) -> EntryMeta {
        let meta = EntryMeta {
            stored_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(ttl.as_millis() as u64),
            etag: 0,
            shape,
            raw_len: 0,
        };
        let bytes = envelope::encode(meta, raw);
        let meta = envelope::decode(&bytes)
            .expect("a freshly encoded entry decodes")
            .meta;
        self.put_encoded(key, bytes).await;
        meta
    }

    /// Stores an already encoded envelope (snapshots, warm).
    pub async fn put_encoded(&self, key: &CacheKey, bytes: Vec<u8>) {
        let stored = bytes.len() as u64;
        let raw = envelope::decode(&bytes).map_or(0, |d| u64::from(d.meta.raw_len));
        let result = match &self.store {
            Store::Sled(sled) => sled.put(key.as_str().to_owned(), bytes).await,
        };
        self.hot.invalidate(key.as_str());
        match result {
            Ok(old) => {
                Counters::add(&self.counters.bytes_raw, raw);
                Counters::add(&self.counters.bytes_stored, stored);
                self.usage.stored(stored, old.unwrap_or(0) as u64);
                self.usage.entry_added(old.is_some());
            }
            Err(e) => {
                Counters::incr(&self.counters.store_errors);
                tracing::warn!(%key, error = %e, "cache write failed");
            }
        }
    }

    /// Removes one entry from a blocking context; `true` when it existed.
    pub fn remove_blocking(&self, key: &str) -> Result<bool, CacheError> {
        self.usage.forget(key);
        let removed = match &self.store {
            Store::Sled(sled) => sled.remove_blocking(key),
        };
        self.hot.invalidate(key);
        let removed = removed?;
        if let Some(size) = removed {
            self.usage.removed(size as u64);
            self.usage.entry_removed();
        }
        Ok(removed.is_some())
    }

    /// Stores many encoded envelopes at once (snapshot import). Blocking.
    pub fn put_batch_blocking(&self, entries: Vec<(CacheKey, Vec<u8>)>) -> Result<(), CacheError> {
        // Estimates (replaced keys count twice) until the next sweep counts exactly.
        let added: u64 = entries.iter().map(|(_, v)| v.len() as u64).sum();
        self.usage.stored(added, 0);
        for _ in &entries {
            self.usage.entry_added(false);
        }
        let entries = entries
            .into_iter()
            .map(|(key, value)| (key.as_str().to_owned(), value))
            .collect();
        let result = match &self.store {
            Store::Sled(sled) => sled.put_batch_blocking(entries),
        };
        self.hot.invalidate_all();
        result
    }

    /// Every stored (key, envelope) whose key starts with `prefix`. Blocking.
    pub fn scan_blocking(
        &self,
        prefix: &str,
    ) -> impl Iterator<Item = Result<(String, sled::IVec), CacheError>> + use<> {
        match &self.store {
            Store::Sled(sled) => sled.scan_prefix(prefix),
        }
    }

    /// Every (key, index record) whose key starts with `prefix`, without reading the entries
    /// (see `SledStore::scan_index`). Blocking.
    pub fn scan_index_blocking(
        &self,
        prefix: &str,
    ) -> impl Iterator<Item = Result<(String, Option<sled_store::IndexRecord>), CacheError>> + use<>
    {
        match &self.store {
            Store::Sled(sled) => sled.scan_index(prefix),
        }
    }

    pub fn is_empty(&self) -> bool {
        match &self.store {
            Store::Sled(sled) => sled.is_empty(),
        }
    }

    /// Removes one entry; `true` when it existed.
    pub async fn remove(&self, key: &CacheKey) -> bool {
        let result = match &self.store {
            Store::Sled(sled) => sled.remove(key.as_str().to_owned()).await,
        };
        self.hot.invalidate(key.as_str());
        self.usage.forget(key.as_str());
        match result {
            Ok(Some(size)) => {
                self.usage.removed(size as u64);
                self.usage.entry_removed();
                true
            }
            Ok(None) => false,
            Err(e) => {
                Counters::incr(&self.counters.store_errors);
                tracing::warn!(%key, error = %e, "cache remove failed");
                false
            }
        }
    }

    /// Removes every entry whose key starts with `prefix` (all entries for ""); returns how many.
    pub async fn clear_prefix(&self, prefix: &str) -> Result<u64, CacheError> {
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

    /// Entries and bytes per namespace. Walks the whole store: for stats, not for the hot path.
    pub async fn stats(&self) -> Result<StoreStats, CacheError> {
        let store = self.store.clone();
        spawn_blocking(move || {
            let Store::Sled(sled) = &store;
            let mut namespaces: BTreeMap<String, NamespaceStats> = key::NAMESPACES
                .iter()
                .map(|ns| ((*ns).to_owned(), NamespaceStats::default()))
                .collect();
            for item in sled.scan_prefix("") {
                let (key, bytes) = item?;
                let ns = namespaces
                    .entry(key::namespace_of(&key).to_owned())
                    .or_default();
                ns.entries += 1;
                ns.stored_bytes += bytes.len() as u64;
                if let Ok(decoded) = envelope::decode(&bytes) {
                    ns.raw_bytes += u64::from(decoded.meta.raw_len);
                }
            }
            let sum = |f: fn(&NamespaceStats) -> u64| namespaces.values().map(f).sum::<u64>();
            let (entries, stored_bytes, raw_bytes) = (
                sum(|n| n.entries),
                sum(|n| n.stored_bytes),
                sum(|n| n.raw_bytes),
            );
            Ok(StoreStats {
                entries,
                stored_bytes,
                raw_bytes,
                compression_ratio: if raw_bytes == 0 {
                    0.0
                } else {
                    stored_bytes as f64 / raw_bytes as f64
                },
                disk_bytes: sled.size_on_disk(),
                namespaces,
            })
        })
        .await
    }

    /// Whether the store answers (for `/health/`).
    pub async fn health(&self) -> Result<(), CacheError> {
        match &self.store {
            Store::Sled(sled) => sled.health().await,
        }
    }

    /// Writes buffered data to disk (shutdown).
    pub async fn flush(&self) -> Result<(), CacheError> {
        match &self.store {
            Store::Sled(sled) => sled.flush().await,
        }
    }
}
