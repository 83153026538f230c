//! The per-key writer locks.

use std::hash::{BuildHasher, BuildHasherDefault};
use std::sync::{Mutex, MutexGuard};

use rustc_hash::FxHasher;

/// Serialises the writers of one key (a miss being stored, the sweeper removing it, a re-encoding
/// swapping it), so that an entry and its index record change together without a sled
/// transaction: in the server, between misses, one took ~130 µs against ~15 µs in a loop
/// (BENCHMARKS.md, "Cold path"), and the first transaction or batch in a process makes every
/// later sled operation take sled's process-wide lock.
/// Keys share a lock by hash; a writer holds one for two tree operations, never across I/O of
/// its own.
pub(super) struct KeyLocks {
    stripes: [Mutex<()>; KEY_LOCK_STRIPES],
}

const KEY_LOCK_STRIPES: usize = 64;

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks {
            stripes: std::array::from_fn(|_| Mutex::new(())),
        }
    }
}

impl KeyLocks {
    pub(super) fn lock(&self, key: &str) -> MutexGuard<'_, ()> {
        let hash = BuildHasherDefault::<FxHasher>::default().hash_one(key);
        let stripe = &self.stripes[(hash as usize) % KEY_LOCK_STRIPES];
        // Nothing is left half-done under the lock: a panic elsewhere cannot poison the data.
        crate::sync::lock(stripe)
    }
}
