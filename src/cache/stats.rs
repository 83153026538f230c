//! Store statistics: entries and bytes per namespace, added up the same way whichever backend
//! holds them, plus the Redis server's own memory figures with Redis.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{CacheError, PageCache, Store, envelope, key, redis_store};
use crate::telemetry::spawn_blocking;

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
    /// `sled` or `redis`.
    pub backend: &'static str,
    pub namespaces: BTreeMap<String, NamespaceStats>,
    pub entries: u64,
    pub stored_bytes: u64,
    pub raw_bytes: u64,
    /// stored / raw; lower is better.
    pub compression_ratio: f64,
    pub disk_bytes: u64,
    /// The Redis server's own figures (`INFO memory`), with the Redis backend.
    pub redis: Option<RedisStats>,
}

/// Memory figures of the Redis server behind the cache.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RedisStats {
    pub used_memory: u64,
    /// 0: unbounded (set `maxmemory` and `allkeys-lru`; see the README).
    pub maxmemory: u64,
    pub maxmemory_policy: String,
}

impl PageCache {
    /// Entries and bytes per namespace. Walks the whole store: for stats, not for the hot path.
    pub async fn stats(&self) -> Result<StoreStats, CacheError> {
        match &self.store {
            Store::Sled(sled) => {
                let sled = sled.clone();
                spawn_blocking(move || {
                    let mut tally = Tally::default();
                    for item in sled.scan_prefix("") {
                        let (key, bytes) = item?;
                        tally.add(&key, &bytes);
                    }
                    Ok(tally.finish("sled", sled.size_on_disk(), None))
                })
                .await
            }
            Store::Redis(redis) => {
                let mut tally = Tally::default();
                redis
                    .scan_each("", |key, bytes| tally.add(&key, &bytes))
                    .await?;
                let info = redis.info().await?;
                Ok(tally.finish("redis", 0, Some(info)))
            }
        }
    }
}

/// Adds up entries and bytes per namespace, whichever store they come from.
#[derive(Default)]
struct Tally {
    namespaces: BTreeMap<String, NamespaceStats>,
}

impl Tally {
    fn add(&mut self, key: &str, bytes: &[u8]) {
        let ns = self
            .namespaces
            .entry(key::namespace_of(key).to_owned())
            .or_default();
        ns.entries += 1;
        ns.stored_bytes += bytes.len() as u64;
        if let Ok(decoded) = envelope::decode(bytes) {
            ns.raw_bytes += u64::from(decoded.meta.raw_len);
        }
    }

    fn finish(
        mut self,
        backend: &'static str,
        disk_bytes: u64,
        redis: Option<redis_store::RedisInfo>,
    ) -> StoreStats {
        for ns in key::NAMESPACES {
            self.namespaces.entry((*ns).to_owned()).or_default();
        }
        let namespaces = self.namespaces;
        let sum = |f: fn(&NamespaceStats) -> u64| namespaces.values().map(f).sum::<u64>();
        let (entries, stored_bytes, raw_bytes) = (
            sum(|n| n.entries),
            sum(|n| n.stored_bytes),
            sum(|n| n.raw_bytes),
        );
        StoreStats {
            backend,
            entries,
            stored_bytes,
            raw_bytes,
            compression_ratio: if raw_bytes == 0 {
                0.0
            } else {
                stored_bytes as f64 / raw_bytes as f64
            },
            disk_bytes,
            redis: redis.map(|info| RedisStats {
                used_memory: info.used_memory,
                maxmemory: info.maxmemory,
                maxmemory_policy: info.maxmemory_policy,
            }),
            namespaces,
        }
    }
}
