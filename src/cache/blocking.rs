//! The page cache's operations for blocking contexts (the sweeper, snapshot import and export,
//! clears of the local store): removals that keep the usage counts and the hot tier in step,
//! batch writes and scans.

use super::{CacheError, CacheKey, PageCache, sled_store, store};

/// The sweeper's walk over the index: (key, record, or `None` when it does not decode).
pub type IndexScan =
    Box<dyn Iterator<Item = Result<(String, Option<sled_store::IndexRecord>), CacheError>>>;

impl PageCache {
    /// Removes one entry from a blocking context; `true` when it existed.
    pub fn remove_blocking(&self, key: &str) -> Result<bool, CacheError> {
        self.remove_blocking_if(key, None)
    }

    /// As `remove_blocking`, only if the key's index record is still `seen` (the sweeper's view,
    /// see `SledStore::remove_if_record`). `Ok(false)` when it changed.
    pub fn remove_blocking_if_unchanged(
        &self,
        key: &str,
        seen: &sled_store::IndexRecord,
    ) -> Result<bool, CacheError> {
        self.remove_blocking_if(key, Some(seen))
    }

    fn remove_blocking_if(
        &self,
        key: &str,
        seen: Option<&sled_store::IndexRecord>,
    ) -> Result<bool, CacheError> {
        let removed = self.store.remove_blocking(key, seen);
        if seen.is_some() && matches!(removed, Ok(None)) {
            // Stored again since the sweeper looked (or already gone): nothing to forget.
            return Ok(false);
        }
        self.usage.forget(key);
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
        let result = self.store.put_batch_blocking(entries);
        self.hot.invalidate_all();
        result
    }

    /// Every stored (key, envelope) whose key starts with `prefix`. Blocking (from Redis, the
    /// entries are read in batches on the runtime, then iterated).
    pub fn scan_blocking(&self, prefix: &str) -> Box<dyn Iterator<Item = store::Scanned>> {
        self.store.scan_blocking(prefix)
    }

    /// Every (key, index record) whose key starts with `prefix`, without reading the entries
    /// (see `SledStore::scan_index`); nothing for Redis, which expires and evicts by itself.
    /// Blocking.
    pub fn scan_index_blocking(&self, prefix: &str) -> IndexScan {
        self.store.scan_index_blocking(prefix)
    }
}
