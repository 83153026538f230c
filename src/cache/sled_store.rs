//! The embedded store: one sled tree under `<data dir>/cache/v1`. sled 0.34 is a disposable cache
//! here, never the system of record: it is opened defensively (a directory it cannot open, or
//! that makes it panic, is moved aside and rebuilt), its page cache is bounded by configuration,
//! and nothing that must survive lives in it.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::CacheSettings;
use crate::telemetry::spawn_blocking;

use super::CacheError;

/// Bumped when the layout of the sled directory changes, so a new layout never opens old files.
const LAYOUT_DIR: &str = "v1";
const PAGES_TREE: &str = "pages";

#[derive(Clone)]
pub struct SledStore {
    db: sled::Db,
    pages: sled::Tree,
    path: PathBuf,
}

impl SledStore {
    /// Opens (or creates) the store in `<data_dir>/cache`. Blocking; call at start-up.
    pub fn open(data_dir: &Path, settings: &CacheSettings) -> Result<SledStore, CacheError> {
        let cache_dir = data_dir.join("cache");
        match Self::open_waiting_for_lock(&cache_dir, settings) {
            Ok(store) => Ok(store),
            Err(e) if is_lock_error(&e) => Err(e),
            Err(first) => {
                let aside = aside_path(data_dir);
                tracing::error!(
                    error = %first,
                    moved_to = %aside.display(),
                    "the cache store could not be opened; moving it aside and starting an empty \
                     one (cached pages will be fetched again; users and favorites are not affected)"
                );
                std::fs::rename(&cache_dir, &aside).map_err(|e| {
                    CacheError::Store(format!("could not move the damaged cache aside: {e}"))
                })?;
                Self::try_open(&cache_dir, settings)
            }
        }
    }

    /// The caller holds the data directory's lock, so sled's own lock can only be held by this
    /// process's previous handle, whose background threads let go of it shortly after it is
    /// dropped. Wait for that instead of mistaking it for damage.
    fn open_waiting_for_lock(
        cache_dir: &Path,
        settings: &CacheSettings,
    ) -> Result<SledStore, CacheError> {
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match Self::try_open(cache_dir, settings) {
                Err(e) if is_lock_error(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    fn try_open(cache_dir: &Path, settings: &CacheSettings) -> Result<SledStore, CacheError> {
        let path = cache_dir.join(LAYOUT_DIR);
        let config = sled::Config::new()
            .path(&path)
            .cache_capacity(settings.memory_bytes)
            .flush_every_ms(Some(settings.flush_every.as_millis().max(1) as u64));
        // sled 0.34 can panic on some damaged files instead of returning an error.
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
            move || -> sled::Result<SledStore> {
                let db = config.open()?;
                let pages = db.open_tree(PAGES_TREE)?;
                Ok(SledStore { db, pages, path })
            },
        ));
        match opened {
            Ok(Ok(store)) => Ok(store),
            Ok(Err(e)) => Err(CacheError::Store(e.to_string())),
            Err(_) => Err(CacheError::Store("sled panicked while opening".to_owned())),
        }
    }

    /// A point read. Called inline on the async thread: the hot entries are in sled's page cache,
    /// and a thread hop would cost more than the read (see BENCHMARKS.md).
    pub fn get(&self, key: &str) -> Result<Option<sled::IVec>, CacheError> {
        self.pages.get(key).map_err(store_error)
    }

    /// Stores `bytes`; returns the size of the entry it replaced, if any.
    pub async fn put(&self, key: String, bytes: Vec<u8>) -> Result<Option<usize>, CacheError> {
        let pages = self.pages.clone();
        spawn_blocking(move || {
            pages
                .insert(key, bytes)
                .map(|old| old.map(|v| v.len()))
                .map_err(store_error)
        })
        .await
    }

    /// Removes `key`; returns the size of what was there, if anything.
    pub async fn remove(&self, key: String) -> Result<Option<usize>, CacheError> {
        let store = self.clone();
        spawn_blocking(move || store.remove_blocking(&key)).await
    }

    pub fn remove_blocking(&self, key: &str) -> Result<Option<usize>, CacheError> {
        self.pages
            .remove(key)
            .map(|old| old.map(|v| v.len()))
            .map_err(store_error)
    }

    /// Inserts many entries in one atomic batch. Blocking.
    pub fn put_batch_blocking(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), CacheError> {
        let mut batch = sled::Batch::default();
        for (key, value) in entries {
            batch.insert(key.as_bytes(), value);
        }
        self.pages.apply_batch(batch).map_err(store_error)
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// Every (key, bytes) whose key starts with `prefix`. Blocking.
    pub fn scan_prefix(
        &self,
        prefix: &str,
    ) -> impl Iterator<Item = Result<(String, sled::IVec), CacheError>> + use<> {
        self.pages.scan_prefix(prefix).map(|item| {
            let (k, v) = item.map_err(store_error)?;
            Ok((String::from_utf8_lossy(&k).into_owned(), v))
        })
    }

    /// Writes, reads back and removes a probe in a tree of its own, and checks that the directory
    /// is still on disk (sled would go on in memory and lose everything at the next start).
    pub async fn health(&self) -> Result<(), CacheError> {
        let store = self.clone();
        spawn_blocking(move || {
            if !store.path.is_dir() {
                return Err(CacheError::Store(format!(
                    "the cache directory {} is gone",
                    store.path.display()
                )));
            }
            let tree = store.db.open_tree("health").map_err(store_error)?;
            tree.insert("probe", &b"ok"[..]).map_err(store_error)?;
            let back = tree.get("probe").map_err(store_error)?;
            tree.remove("probe").map_err(store_error)?;
            match back.as_deref() {
                Some(b"ok") => Ok(()),
                _ => Err(CacheError::Store(
                    "a probe written was not read back".to_owned(),
                )),
            }
        })
        .await
    }

    /// Bytes sled uses on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    pub async fn flush(&self) -> Result<(), CacheError> {
        self.db.flush_async().await.map(drop).map_err(store_error)
    }
}

/// How long to wait for a previous handle in this process to release sled's file lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn is_lock_error(e: &CacheError) -> bool {
    matches!(e, CacheError::Store(message) if message.contains("could not acquire lock"))
}

fn store_error(e: sled::Error) -> CacheError {
    CacheError::Store(e.to_string())
}

fn aside_path(data_dir: &Path) -> PathBuf {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut candidate = data_dir.join(format!("cache.corrupt-{ts}"));
    let mut n = 1;
    while candidate.exists() {
        candidate = data_dir.join(format!("cache.corrupt-{ts}-{n}"));
        n += 1;
    }
    candidate
}
