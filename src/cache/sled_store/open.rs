//! Opening the store defensively: waiting for this process's previous handle to let go of sled's
//! lock, moving a store that does not open (or panics sled) aside and starting empty, indexing a
//! directory from before the index existed, and folding sled's log into its snapshot.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{SystemTime, UNIX_EPOCH};

use super::index::IndexRecord;
use super::{INDEX_BUILT, INDEX_TREE, LAYOUT_DIR, PAGES_TREE, SledStore, io_error, store_error};
use crate::cache::CacheError;
use crate::config::CacheSettings;

/// Taken before a store is closed: whether it has a log to fold, and whether every handle on it
/// has gone since (a task still holding one would keep sled's files locked).
pub struct FoldToken(pub(super) std::sync::Weak<AtomicBool>);

impl FoldToken {
    pub fn store_released(&self) -> bool {
        self.0.strong_count() == 0
    }

    /// Waits (at most `limit`, looking every 10 ms) for the last handle to go: a task that has
    /// just finished may still be being dropped. `false` if one is still held.
    pub async fn wait_released(&self, limit: std::time::Duration) -> bool {
        let until = tokio::time::Instant::now() + limit;
        while !self.store_released() {
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        true
    }
}

impl SledStore {
    /// Opens (or creates) the store in `<data_dir>/cache`. Blocking; call at start-up.
    pub fn open(data_dir: &Path, settings: &CacheSettings) -> Result<SledStore, CacheError> {
        let cache_dir = data_dir.join("cache");
        crate::private_fs::create_dir(&cache_dir)
            .map_err(|e| io_error(format!("cannot create {}", cache_dir.display()), &e))?;
        match Self::open_waiting_for_lock(&cache_dir, settings) {
            Ok(store) => Ok(store),
            // A full, read-only or unwritable disk is not damage: moving a healthy store aside
            // for it would lose it (and fill the disk with copies, one per start).
            Err(e) if is_lock_error(&e) || matches!(e, CacheError::Disk(_)) => Err(e),
            Err(first) => {
                let aside = aside_path(data_dir);
                tracing::error!(
                    error = %first,
                    moved_to = %aside.display(),
                    "the cache store could not be opened; moving it aside and starting an empty \
                     one (cached pages will be fetched again; users and favorites are not affected)"
                );
                // One copy is enough to look at: older ones go, so repeated failures cannot
                // fill the disk.
                remove_older_copies(data_dir);
                std::fs::rename(&cache_dir, &aside).map_err(|e| {
                    io_error("could not move the damaged cache aside".to_owned(), &e)
                })?;
                crate::private_fs::create_dir(&cache_dir)
                    .map_err(|e| io_error(format!("cannot create {}", cache_dir.display()), &e))?;
                Self::try_open(&cache_dir, settings)
            }
        }
    }

    /// Opens the store in `data_dir` and drops it again, once nothing else holds it: sled 0.34
    /// folds its log into its snapshot only when it opens, so the next start would otherwise
    /// replay everything written since this one (0.5–0.7 s after 100 k new pages, BENCHMARKS.md
    /// "Scale"). Called after bulk writes and at shutdown. Unlike `open`, a store that does not
    /// open (a full disk, say) is left where it is: deciding it is damaged is the next start's
    /// business. Blocking.
    pub fn fold_log(data_dir: &Path, settings: &CacheSettings) -> Result<(), CacheError> {
        Self::open_waiting_for_lock(&data_dir.join("cache"), settings).map(drop)
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
                let index = db.open_tree(INDEX_TREE)?;
                let store = SledStore {
                    db,
                    pages,
                    index,
                    path,
                    writers: Arc::default(),
                    written: Arc::default(),
                };
                if store.db.get(INDEX_BUILT)?.is_none() {
                    store.build_index()?;
                }
                Ok(store)
            },
        ));
        match opened {
            Ok(Ok(store)) => Ok(store),
            Ok(Err(e)) => Err(store_error(e)),
            Err(_) => Err(CacheError::Store("sled panicked while opening".to_owned())),
        }
    }

    /// Indexes every stored entry: once, for a directory written before the index existed.
    fn build_index(&self) -> sled::Result<()> {
        if !self.pages.is_empty() {
            tracing::info!(
                "indexing the stored cache entries once (a data directory from before 0.2)"
            );
        }
        // In batches, so a large store is not held in memory at once.
        let mut batch = sled::Batch::default();
        let mut pending = 0;
        for item in self.pages.iter() {
            let (key, bytes) = item?;
            match IndexRecord::of(&bytes) {
                Some(record) => batch.insert(key, &record.encode()[..]),
                // Nothing can serve an entry that does not decode.
                None => {
                    self.pages.remove(&key)?;
                }
            }
            pending += 1;
            if pending == 10_000 {
                self.index.apply_batch(std::mem::take(&mut batch))?;
                pending = 0;
            }
        }
        // Not an empty batch: a batch makes sled take its process-wide lock on every operation
        // from then on (see `KeyLocks`), which a new directory has no reason to pay for.
        if pending > 0 {
            self.index.apply_batch(batch)?;
        }
        self.db.insert(INDEX_BUILT, &b"1"[..])?;
        Ok(())
    }
}

/// How long to wait for a previous handle in this process to release sled's file lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn is_lock_error(e: &CacheError) -> bool {
    matches!(e, CacheError::Store(message) if message.contains("could not acquire lock"))
}

/// The index record of an entry about to be stored; an entry that does not decode is refused
/// (nothing could serve it, and the sweeper could not see it).
fn remove_older_copies(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("cache.corrupt-")
        {
            let path = entry.path();
            match std::fs::remove_dir_all(&path) {
                Ok(()) => {
                    tracing::info!(removed = %path.display(), "removed an older damaged cache")
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not remove an older damaged cache")
                }
            }
        }
    }
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
