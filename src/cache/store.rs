//! The two backends behind one set of operations: each operation says once how sled and Redis
//! do it, so the page-cache policy (`cache/mod.rs`) never matches on the backend. Bytes come back
//! as `Bytes` whatever the backend (sled's buffers are wrapped, not copied).

use bytes::Bytes;

use super::sled_store::{FoldToken, IndexRecord};
use super::{CacheError, IndexScan, RedisStore, SledSlot};

/// The backends. An enum rather than a trait object: native async fns are not object-safe, and
/// the set is closed (sled embedded, Redis shared).
#[derive(Clone)]
pub enum Store {
    /// Supervised: reopened once a disk that refused writes takes them again.
    Sled(SledSlot),
    Redis(RedisStore),
}

/// A stored envelope and its key, as scans yield them.
pub type Scanned = Result<(String, Bytes), CacheError>;

/// Runs a shared-store future from blocking code (snapshots, offline search, which run on the
/// blocking pool), on the runtime that owns the connection.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Handle::current().block_on(future)
}

impl Store {
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        match self {
            Store::Sled(sled) => sled.get(key).map(|v| v.map(Bytes::from_owner)),
            Store::Redis(redis) => redis.get(key).await.map(|v| v.map(Bytes::from)),
        }
    }

    /// Writes an envelope expiring at `expires_at_ms`; the size of the one it replaced, when the
    /// backend knows it (sled).
    pub async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        expires_at_ms: u64,
    ) -> Result<Option<usize>, CacheError> {
        match self {
            Store::Sled(sled) => sled.put(key, bytes),
            Store::Redis(redis) => redis.put(key, &bytes, expires_at_ms).await.map(|()| None),
        }
    }

    /// Swaps `old` for `new` if the key still holds `old`.
    pub async fn replace(&self, key: &str, old: Vec<u8>, new: Vec<u8>) -> Result<bool, CacheError> {
        match self {
            Store::Sled(sled) => sled.replace(key.to_owned(), old, new).await,
            Store::Redis(redis) => redis.replace(key, &old, &new).await,
        }
    }

    /// Removes a key; the removed size (0 when the backend does not know it), `None` when absent.
    pub async fn remove(&self, key: &str) -> Result<Option<usize>, CacheError> {
        match self {
            Store::Sled(sled) => sled.remove(key.to_owned()).await,
            Store::Redis(redis) => redis.remove(key).await.map(|r| r.then_some(0)),
        }
    }

    /// As `remove`, blocking; with `seen`, only if the key's index record is still that one
    /// (sled; Redis has no index and removes regardless).
    pub fn remove_blocking(
        &self,
        key: &str,
        seen: Option<&IndexRecord>,
    ) -> Result<Option<usize>, CacheError> {
        match (self, seen) {
            (Store::Sled(sled), Some(seen)) => sled.remove_if_record(key, seen),
            (Store::Sled(sled), None) => sled.remove_blocking(key),
            (Store::Redis(redis), _) => {
                block_on(redis.remove(key)).map(|removed| removed.then_some(0))
            }
        }
    }

    /// Writes many (key, envelope) at once. Blocking. Only Redis needs each entry's expiry (its
    /// TTL), so only Redis decodes the envelopes for it.
    pub fn put_batch_blocking(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), CacheError> {
        match self {
            Store::Sled(sled) => sled.put_batch_blocking(entries),
            Store::Redis(redis) => {
                let entries: Vec<(String, Vec<u8>, u64)> = entries
                    .into_iter()
                    .map(|(key, value)| {
                        let expires = super::expires_of(&value);
                        (key, value, expires)
                    })
                    .collect();
                block_on(redis.put_many(&entries))
            }
        }
    }

    /// Every stored (key, envelope) under `prefix`. Blocking (from Redis, read in batches on the
    /// runtime, then iterated).
    pub fn scan_blocking(&self, prefix: &str) -> Box<dyn Iterator<Item = Scanned>> {
        match self {
            Store::Sled(sled) => Box::new(
                sled.scan_prefix(prefix)
                    .map(|item| item.map(|(key, value)| (key, Bytes::from_owner(value)))),
            ),
            Store::Redis(redis) => {
                let mut found = Vec::new();
                let scanned = block_on(redis.scan_each(prefix, |key, value| {
                    found.push(Ok((key, Bytes::from(value))));
                }));
                if let Err(e) = scanned {
                    found.push(Err(e));
                }
                Box::new(found.into_iter())
            }
        }
    }

    /// The sweeper's walk over the index (nothing for Redis, which expires and evicts itself).
    pub fn scan_index_blocking(&self, prefix: &str) -> IndexScan {
        match self {
            Store::Sled(sled) => sled.scan_index(prefix),
            Store::Redis(_) => Box::new(std::iter::empty()),
        }
    }

    /// An unreachable Redis counts as not empty, so nothing is imported into it blindly.
    pub async fn is_empty(&self) -> bool {
        match self {
            Store::Sled(sled) => sled.is_empty(),
            Store::Redis(redis) => redis.is_empty().await.unwrap_or(false),
        }
    }

    pub fn log_to_fold(&self) -> Option<FoldToken> {
        self.sled().and_then(SledSlot::log_to_fold)
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sled(_) => "sled",
            Store::Redis(_) => "redis",
        }
    }

    pub fn sled(&self) -> Option<&SledSlot> {
        match self {
            Store::Sled(sled) => Some(sled),
            Store::Redis(_) => None,
        }
    }

    pub fn redis(&self) -> Option<&RedisStore> {
        match self {
            Store::Sled(_) => None,
            Store::Redis(redis) => Some(redis),
        }
    }

    pub async fn health(&self) -> Result<(), CacheError> {
        match self {
            Store::Sled(sled) => sled.health().await,
            Store::Redis(redis) => redis.health().await,
        }
    }

    /// Writes buffered data to disk; Redis keeps its own durability.
    pub async fn flush(&self) -> Result<(), CacheError> {
        match self {
            Store::Sled(sled) => sled.flush().await,
            Store::Redis(_) => Ok(()),
        }
    }
}
