//! What the sweeper needs to keep the store bounded: when each key was last read (approximate
//! LRU: an update is skipped rather than waited for when the lock is busy, so the hit path never
//! blocks on it), a running estimate of stored bytes, and a bell to ring when it is exceeded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

/// Keys are hashed with foldhash, seeded per process: several times cheaper than the standard
/// SipHash for a key read on every hit, and still not predictable by whoever chooses the keys.
type KeyMap<V> = HashMap<String, V, foldhash::fast::RandomState>;

#[derive(Debug)]
pub struct Usage {
    last_access: Mutex<KeyMap<u64>>,
    stored_bytes: AtomicU64,
    entries: AtomicU64,
    max_bytes: u64,
    pub over_limit: Notify,
}

impl Usage {
    pub fn new(max_bytes: u64) -> Usage {
        Usage {
            last_access: Mutex::new(KeyMap::default()),
            stored_bytes: AtomicU64::new(0),
            entries: AtomicU64::new(0),
            max_bytes,
            over_limit: Notify::new(),
        }
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Notes a read of `key` at `now_ms`, unless another thread holds the log right now. With no
    /// bound of ours (0: Redis bounds itself) nobody reads the log, so nothing is noted.
    pub fn touch(&self, key: &str, now_ms: u64) {
        if self.max_bytes == 0 {
            return;
        }
        if let Ok(mut log) = self.last_access.try_lock() {
            match log.get_mut(key) {
                Some(at) => *at = now_ms,
                None => {
                    log.insert(key.to_owned(), now_ms);
                }
            }
        }
    }

    pub fn last_access(&self, key: &str) -> Option<u64> {
        crate::sync::lock(&self.last_access).get(key).copied()
    }

    pub fn forget(&self, key: &str) {
        crate::sync::lock(&self.last_access).remove(key);
    }

    /// An entry was added (`replaced`: it took the place of one with the same key).
    pub fn entry_added(&self, replaced: bool) {
        if !replaced {
            self.entries.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn entry_removed(&self) {
        let _ = self
            .entries
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
    }

    /// Entries in the store (an estimate between sweeps, exact after one).
    pub fn entries(&self) -> u64 {
        self.entries.load(Ordering::Relaxed)
    }

    /// An entry of `new` bytes replaced one of `old` bytes (0 when there was none).
    pub fn stored(&self, new: u64, old: u64) {
        let total = if new >= old {
            self.stored_bytes.fetch_add(new - old, Ordering::Relaxed) + (new - old)
        } else {
            let less = old - new;
            self.stored_bytes
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                    Some(t.saturating_sub(less))
                })
                .map_or(0, |t| t.saturating_sub(less))
        };
        if total > self.max_bytes {
            self.over_limit.notify_one();
        }
    }

    pub fn removed(&self, size: u64) {
        self.stored(0, size);
    }

    /// Replaces the estimates with counted totals (after a full scan).
    pub fn set_counted(&self, bytes: u64, entries: u64) {
        self.stored_bytes.store(bytes, Ordering::Relaxed);
        self.entries.store(entries, Ordering::Relaxed);
    }

    pub fn stored_bytes(&self) -> u64 {
        self.stored_bytes.load(Ordering::Relaxed)
    }
}
