//! The sled store behind a swappable slot, so that a disk that refuses writes (full, read-only,
//! not permitted) degrades the cache instead of the service. After an I/O error sled 0.34 fails
//! every later write until it is reopened, so the slot is supervised: a failed write or probe
//! marks it suspect, and `supervise` checks it every `cache.reopen_every`, reopening the store
//! once the disk takes writes again. Meanwhile the store is either kept for reads (it opened but
//! cannot write) or absent (it could not open): misses are answered from TMDB without storing.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::config::CacheSettings;
use crate::telemetry::spawn_blocking;

use super::CacheError;
use super::sled_store::{FoldToken, IndexRecord, SledStore};

#[derive(Clone)]
pub struct SledSlot {
    inner: Arc<SlotInner>,
}

struct SlotInner {
    current: RwLock<Option<SledStore>>,
    data_dir: PathBuf,
    settings: CacheSettings,
    /// Set by a write the disk refused (or a failed probe): the supervisor looks at the store.
    suspect: AtomicBool,
    /// Why the store cannot write, while it cannot (`/health/` shows it).
    refused: Mutex<Option<String>>,
}

/// A probe file written beside the store before reopening it: cheaper than reopening a large
/// store only to find the disk still full.
const PROBE_FILE: &str = ".write-probe";
const PROBE_BYTES: usize = 64 * 1024;

impl SledSlot {
    /// Opens the store in `<data_dir>/cache` (`SledStore::open`). A disk that refuses writes is
    /// not fatal: the slot starts empty, says so loudly, and the supervisor retries. Blocking.
    pub fn open(
        data_dir: &std::path::Path,
        settings: &CacheSettings,
    ) -> Result<SledSlot, CacheError> {
        let slot = SledSlot {
            inner: Arc::new(SlotInner {
                current: RwLock::new(None),
                data_dir: data_dir.to_owned(),
                settings: settings.clone(),
                suspect: AtomicBool::new(false),
                refused: Mutex::new(None),
            }),
        };
        match SledStore::open(data_dir, settings) {
            Ok(store) => *slot.write_current() = Some(store),
            Err(CacheError::Disk(reason)) => {
                tracing::error!(
                    cache_dir = %data_dir.join("cache").display(),
                    error = %reason,
                    retry_every = %humantime::format_duration(settings.reopen_every),
                    "THE CACHE STORE CANNOT BE WRITTEN: serving from TMDB without storing until \
                     it can (the store is left as it is, not moved aside)"
                );
                slot.refused(reason);
            }
            Err(e) => return Err(e),
        }
        Ok(slot)
    }

    /// A slot around an already open store (tests, tools).
    pub fn of(store: SledStore, data_dir: &std::path::Path, settings: &CacheSettings) -> SledSlot {
        SledSlot {
            inner: Arc::new(SlotInner {
                current: RwLock::new(Some(store)),
                data_dir: data_dir.to_owned(),
                settings: settings.clone(),
                suspect: AtomicBool::new(false),
                refused: Mutex::new(None),
            }),
        }
    }

    fn read_current(&self) -> std::sync::RwLockReadGuard<'_, Option<SledStore>> {
        // Nothing is left half-done under the lock: a panic elsewhere cannot poison the slot.
        self.inner.current.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_current(&self) -> std::sync::RwLockWriteGuard<'_, Option<SledStore>> {
        self.inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The open store, if any (a clone, for work that outlives a lock guard).
    pub fn current(&self) -> Option<SledStore> {
        self.read_current().clone()
    }

    /// Runs `f` on the store; `absent` when there is none. A refused write marks the slot
    /// suspect and comes back as `Unavailable` (logged here once, not by every request).
    fn with<T>(
        &self,
        f: impl FnOnce(&SledStore) -> Result<T, CacheError>,
        absent: impl FnOnce() -> Result<T, CacheError>,
    ) -> Result<T, CacheError> {
        let result = match &*self.read_current() {
            Some(store) => f(store),
            None => absent(),
        };
        result.map_err(|e| self.observe(e))
    }

    fn observe(&self, e: CacheError) -> CacheError {
        match e {
            CacheError::Disk(reason) => {
                if !self.inner.suspect.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        error = %reason,
                        "THE DISK REFUSED A CACHE WRITE: serving from TMDB without storing until \
                         the cache can write again"
                    );
                }
                self.refused(reason.clone());
                CacheError::Unavailable(reason)
            }
            other => other,
        }
    }

    fn refused(&self, reason: String) {
        *self.inner.refused.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
    }

    fn not_open(&self) -> CacheError {
        let reason = self
            .inner
            .refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "the cache store is not open".to_owned());
        CacheError::Unavailable(format!(
            "{reason}; serving from TMDB without storing until the cache can write again"
        ))
    }

    pub fn get(&self, key: &str) -> Result<Option<sled::IVec>, CacheError> {
        self.with(|s| s.get(key), || Ok(None))
    }

    pub fn put(&self, key: &str, bytes: Vec<u8>) -> Result<Option<usize>, CacheError> {
        self.with(|s| s.put(key, bytes), || Err(self.not_open()))
    }

    pub async fn replace(
        &self,
        key: String,
        old: Vec<u8>,
        new: Vec<u8>,
    ) -> Result<bool, CacheError> {
        let Some(store) = self.current() else {
            return Ok(false);
        };
        store
            .replace(key, old, new)
            .await
            .map_err(|e| self.observe(e))
    }

    pub async fn remove(&self, key: String) -> Result<Option<usize>, CacheError> {
        let Some(store) = self.current() else {
            return Ok(None);
        };
        store.remove(key).await.map_err(|e| self.observe(e))
    }

    pub fn remove_blocking(&self, key: &str) -> Result<Option<usize>, CacheError> {
        self.with(|s| s.remove_blocking(key), || Ok(None))
    }

    pub fn remove_if_record(
        &self,
        key: &str,
        seen: &IndexRecord,
    ) -> Result<Option<usize>, CacheError> {
        self.with(|s| s.remove_if_record(key, seen), || Ok(None))
    }

    pub fn put_batch_blocking(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), CacheError> {
        self.with(|s| s.put_batch_blocking(entries), || Err(self.not_open()))
    }

    pub fn scan_index(&self, prefix: &str) -> super::IndexScan {
        match self.current() {
            Some(store) => Box::new(store.scan_index(prefix)),
            None => Box::new(std::iter::empty()),
        }
    }

    pub fn scan_prefix(
        &self,
        prefix: &str,
    ) -> Box<dyn Iterator<Item = Result<(String, sled::IVec), CacheError>>> {
        match self.current() {
            Some(store) => Box::new(store.scan_prefix(prefix)),
            None => Box::new(std::iter::empty()),
        }
    }

    /// An absent store counts as not empty, so nothing is imported into it blindly.
    pub fn is_empty(&self) -> bool {
        self.read_current()
            .as_ref()
            .is_some_and(SledStore::is_empty)
    }

    pub fn log_to_fold(&self) -> Option<FoldToken> {
        self.read_current()
            .as_ref()
            .and_then(SledStore::log_to_fold)
    }

    pub fn size_on_disk(&self) -> u64 {
        self.read_current()
            .as_ref()
            .map_or(0, SledStore::size_on_disk)
    }

    /// The store's probe. A store that cannot write, or none, is `Unavailable`: `/health/` says
    /// "degraded" (misses are still answered, from TMDB), and the supervisor is told to look.
    pub async fn health(&self) -> Result<(), CacheError> {
        let Some(store) = self.current() else {
            return Err(self.not_open());
        };
        match store.health().await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.inner.suspect.store(true, Ordering::Relaxed);
                Err(self.observe(e))
            }
        }
    }

    pub async fn flush(&self) -> Result<(), CacheError> {
        let Some(store) = self.current() else {
            return Ok(());
        };
        store.flush().await.map_err(|e| self.observe(e))
    }

    /// Every `cache.reopen_every` until `stop`: when the store is absent or was seen failing,
    /// checks it and reopens it once the disk takes writes again.
    pub async fn supervise(self, stop: impl std::future::Future<Output = ()>) {
        let every = self
            .inner
            .settings
            .reopen_every
            .max(Duration::from_millis(10));
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = ticks.tick() => {}
            }
            let needs_look =
                self.inner.suspect.load(Ordering::Relaxed) || self.read_current().is_none();
            if !needs_look {
                continue;
            }
            let slot = self.clone();
            if let Err(e) = spawn_blocking(move || {
                slot.recover_blocking();
                Ok::<(), CacheError>(())
            })
            .await
            {
                tracing::warn!(error = %e, "checking the cache store failed");
            }
        }
    }

    /// One look: a store that passes its probe is kept; otherwise, once a probe file can be
    /// written beside it, the store is reopened (sled 0.34 stays failed after an I/O error).
    fn recover_blocking(&self) {
        if let Some(store) = self.current()
            && store.health_blocking().is_ok()
        {
            self.healthy_again(false);
            return;
        }
        if let Err(e) = self.probe_disk() {
            tracing::debug!(error = %e, "the cache directory still refuses writes");
            return;
        }
        // The failed handle goes first: sled's lock is released when the last clone does.
        drop(self.write_current().take());
        match SledStore::open(&self.inner.data_dir, &self.inner.settings) {
            Ok(store) => match store.health_blocking() {
                Ok(()) => {
                    *self.write_current() = Some(store);
                    self.healthy_again(true);
                }
                Err(e) => {
                    // Opened but cannot write: keep it for reads, look again later.
                    tracing::debug!(error = %e, "the reopened cache store cannot write yet");
                    *self.write_current() = Some(store);
                }
            },
            Err(e) => {
                tracing::debug!(error = %e, "the cache store does not open yet");
                if let CacheError::Disk(reason) | CacheError::Store(reason) = e {
                    self.refused(reason);
                }
            }
        }
    }

    fn healthy_again(&self, reopened: bool) {
        let was = self.inner.suspect.swap(false, Ordering::Relaxed);
        let refused = self
            .inner
            .refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if reopened || was && refused.is_some() {
            tracing::warn!("the cache store writes again: pages are stored again");
        }
    }

    /// Writes, syncs and removes a small file in the cache directory.
    fn probe_disk(&self) -> std::io::Result<()> {
        use std::io::Write;
        let dir = self.inner.data_dir.join("cache");
        crate::private_fs::create_dir(&dir)?;
        let path = dir.join(PROBE_FILE);
        let written = std::fs::File::create(&path).and_then(|mut file| {
            file.write_all(&[0u8; PROBE_BYTES])?;
            file.sync_all()
        });
        let _ = std::fs::remove_file(&path);
        written
    }
}
