//! The embedded store: one sled tree under `<data dir>/cache/v1`. sled 0.34 is a disposable cache
//! here, never the system of record: it is opened defensively (a directory it cannot open, or
//! that makes it panic, is moved aside and rebuilt), its page cache is bounded by configuration,
//! and nothing that must survive lives in it.
//!
//! Here: the reads, writes and scans. Beside it: `open.rs` (opening defensively, folding the
//! log, moving a damaged store aside), `index.rs` (the sweeper's index records) and `locks.rs`
//! (the per-key writer locks).

mod index;
mod locks;
mod open;

pub use index::IndexRecord;
pub use open::FoldToken;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::CacheError;
use crate::telemetry::spawn_blocking;
use index::{INDEX_LEN, index_record_of};
use locks::KeyLocks;

/// Bumped when the layout of the sled directory changes, so a new layout never opens old files.
const LAYOUT_DIR: &str = "v1";
const PAGES_TREE: &str = "pages";
/// Key → `IndexRecord`: what the sweeper needs, without reading (and so loading into memory)
/// the entries themselves. Added in 0.2; an older directory gets it built once at open.
const INDEX_TREE: &str = "index";
/// Set (in sled's default tree) once the index covers every entry: an interrupted build is
/// resumed at the next open.
const INDEX_BUILT: &str = "index_built_v1";

#[derive(Clone)]
pub struct SledStore {
    db: sled::Db,
    pages: sled::Tree,
    index: sled::Tree,
    path: PathBuf,
    writers: Arc<KeyLocks>,
    /// Set by the first write or removal: until then sled's snapshot (written when it opened)
    /// is current, and there is no log to fold (`fold_log`). Every clone of the store holds it,
    /// so it also tells when the last one is gone (`FoldToken`).
    written: Arc<AtomicBool>,
}

impl SledStore {
    /// A point read. Called inline on the async thread: the hot entries are in sled's page cache,
    /// and a thread hop would cost more than the read (see BENCHMARKS.md).
    pub fn get(&self, key: &str) -> Result<Option<sled::IVec>, CacheError> {
        self.pages.get(key).map_err(store_error)
    }

    /// Stores `bytes`; returns the size of the entry it replaced, if any. Runs inline on the
    /// calling thread, like `get`: sled's write goes to its in-memory log buffer (its own threads
    /// write that out), and handing the write to another thread cost more than the write on an
    /// idle machine (BENCHMARKS.md, "Cold path").
    ///
    /// The index record first, then the entry, under the key's lock: concurrent writers of the key
    /// (the sweeper removing it, say) see both or neither. sled recovers its log up to the first
    /// gap, and both inserts reserve their place in it under the lock, so a crash in between
    /// leaves at most a record without an entry (dropped by the sweeper at its expiry) or, when
    /// an entry was being replaced, the new record beside the old entry (its size and expiry
    /// counted until the next write or sweep of the key; a read still judges the entry by its
    /// own header). Never an entry without a record: bytes that do not decode are refused.
    pub fn put(&self, key: &str, bytes: Vec<u8>) -> Result<Option<usize>, CacheError> {
        let record = index_record_of(&bytes)?;
        let _writer = self.writers.lock(key);
        self.note_written();
        self.write_record(key, &record)?;
        Ok(self
            .pages
            .insert(key.as_bytes(), bytes)
            .map_err(store_error)?
            .map(|v| v.len()))
    }

    fn write_record(&self, key: &str, record: &[u8; INDEX_LEN]) -> Result<(), CacheError> {
        self.index
            .insert(key.as_bytes(), &record[..])
            .map(drop)
            .map_err(store_error)
    }

    /// Replaces `old` with `new` under `key` (and its index record) only if `old` is still what
    /// is stored: a removal or a newer write in between wins. `true` when replaced.
    pub async fn replace(
        &self,
        key: String,
        old: Vec<u8>,
        new: Vec<u8>,
    ) -> Result<bool, CacheError> {
        let store = self.clone();
        spawn_blocking(move || store.replace_blocking(&key, &old, new)).await
    }

    fn replace_blocking(&self, key: &str, old: &[u8], new: Vec<u8>) -> Result<bool, CacheError> {
        let record = index_record_of(&new)?;
        let _writer = self.writers.lock(key);
        let current = self.pages.get(key.as_bytes()).map_err(store_error)?;
        if current.as_deref() != Some(old) {
            return Ok(false);
        }
        self.note_written();
        self.write_record(key, &record)?;
        self.pages
            .insert(key.as_bytes(), new)
            .map_err(store_error)?;
        Ok(true)
    }

    /// Removes `key`; returns the size of what was there, if anything.
    pub async fn remove(&self, key: String) -> Result<Option<usize>, CacheError> {
        let store = self.clone();
        spawn_blocking(move || store.remove_blocking(&key)).await
    }

    /// The entry first, then its index record, under the key's lock (see `put`).
    pub fn remove_blocking(&self, key: &str) -> Result<Option<usize>, CacheError> {
        let _writer = self.writers.lock(key);
        self.remove_locked(key)
    }

    /// As `remove_blocking`, only if the key's index record is still `seen`: the sweeper decides
    /// from a scan that may be seconds old, and a key stored again since is not what it judged.
    /// `Ok(None)` when the record changed (or the entry was gone).
    pub fn remove_if_record(
        &self,
        key: &str,
        seen: &IndexRecord,
    ) -> Result<Option<usize>, CacheError> {
        let _writer = self.writers.lock(key);
        let current = self.index.get(key.as_bytes()).map_err(store_error)?;
        if current.as_deref().and_then(IndexRecord::decode).as_ref() != Some(seen) {
            return Ok(None);
        }
        self.remove_locked(key)
    }

    fn remove_locked(&self, key: &str) -> Result<Option<usize>, CacheError> {
        self.note_written();
        let removed = self.pages.remove(key.as_bytes()).map_err(store_error)?;
        self.index.remove(key.as_bytes()).map_err(store_error)?;
        Ok(removed.map(|v| v.len()))
    }

    /// Inserts many entries in one atomic batch (and their index records in another, first).
    /// Takes no key locks: for imports, fills and the offline seed, which run before or instead of
    /// the server's other writers. Entries that do not decode are skipped. Blocking.
    pub fn put_batch_blocking(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), CacheError> {
        let mut index = sled::Batch::default();
        let mut batch = sled::Batch::default();
        for (key, value) in entries {
            let Some(record) = IndexRecord::of(&value) else {
                continue;
            };
            index.insert(key.as_bytes(), &record.encode()[..]);
            batch.insert(key.as_bytes(), value);
        }
        self.note_written();
        self.index.apply_batch(index).map_err(store_error)?;
        self.pages.apply_batch(batch).map_err(store_error)
    }

    fn note_written(&self) {
        if !self.written.load(Ordering::Relaxed) {
            self.written.store(true, Ordering::Relaxed);
        }
    }

    /// `Some` when anything was written or removed since the store was opened, so that there is
    /// a log to fold (`fold_log`) once the store is closed.
    pub fn log_to_fold(&self) -> Option<FoldToken> {
        self.written
            .load(Ordering::Relaxed)
            .then(|| FoldToken(Arc::downgrade(&self.written)))
    }

    /// Every (key, index record) whose key starts with `prefix`: reads only the small index, so
    /// a sweep does not pull every stored entry into memory. A record that does not decode comes
    /// back as `None` (the caller removes the entry). Blocking.
    pub fn scan_index(
        &self,
        prefix: &str,
    ) -> impl Iterator<Item = Result<(String, Option<IndexRecord>), CacheError>> + use<> {
        self.index.scan_prefix(prefix).map(|item| {
            let (k, v) = item.map_err(store_error)?;
            Ok((
                String::from_utf8_lossy(&k).into_owned(),
                IndexRecord::decode(&v),
            ))
        })
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
        spawn_blocking(move || store.health_blocking()).await
    }

    /// `health`, blocking.
    pub fn health_blocking(&self) -> Result<(), CacheError> {
        if !self.path.is_dir() {
            return Err(CacheError::Store(format!(
                "the cache directory {} is gone",
                self.path.display()
            )));
        }
        let tree = self.db.open_tree("health").map_err(store_error)?;
        tree.insert("probe", &b"ok"[..]).map_err(store_error)?;
        let back = tree.get("probe").map_err(store_error)?;
        tree.remove("probe").map_err(store_error)?;
        // The probe is in sled's buffer until this: a full disk shows only when it is written.
        self.db.flush().map_err(store_error)?;
        match back.as_deref() {
            Some(b"ok") => Ok(()),
            _ => Err(CacheError::Store(
                "a probe written was not read back".to_owned(),
            )),
        }
    }

    /// Bytes sled uses on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    pub async fn flush(&self) -> Result<(), CacheError> {
        self.db.flush_async().await.map(drop).map_err(store_error)
    }
}

/// sled's error as ours: a refused write (`Disk`) is told apart from everything else.
pub(super) fn store_error(e: sled::Error) -> CacheError {
    match &e {
        sled::Error::Io(io) if refuses_writes(io) => CacheError::Disk(e.to_string()),
        _ => CacheError::Store(e.to_string()),
    }
}

/// An I/O error of ours (creating or moving the directory) as a `CacheError`.
pub(super) fn io_error(what: String, e: &std::io::Error) -> CacheError {
    if refuses_writes(e) {
        CacheError::Disk(format!("{what}: {e}"))
    } else {
        CacheError::Store(format!("{what}: {e}"))
    }
}

/// Full, read-only or not permitted: the disk, not the store, is the trouble. sled hands back a
/// copy of the error it first met that keeps the kind and loses the OS code, so the kind decides.
pub(crate) fn refuses_writes(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::StorageFull
            | ErrorKind::QuotaExceeded
            | ErrorKind::ReadOnlyFilesystem
            | ErrorKind::PermissionDenied
    ) || matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC | libc::EDQUOT | libc::EROFS | libc::EACCES | libc::EPERM)
    )
}

/// Removes the `cache.corrupt-*` copies left by earlier starts, before a new one is made.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_records_round_trip_and_refuse_other_bytes() {
        let record = IndexRecord {
            expires_at_ms: 1_700_003_600_000,
            stored_at_ms: 1_700_000_000_000,
            stored_len: 6_543,
        };
        assert_eq!(IndexRecord::decode(&record.encode()), Some(record));
        let mut other = record.encode();
        other[0] = 2;
        assert_eq!(IndexRecord::decode(&other), None);
        assert_eq!(IndexRecord::decode(&record.encode()[..20]), None);
    }

    /// A store in a directory of its own (kept as long as the guard).
    fn empty_store() -> (tempfile::TempDir, SledStore) {
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::config::Settings::defaults_in(dir.path());
        let store = SledStore::open(dir.path(), &settings.cache).unwrap();
        (dir, store)
    }

    /// An object entry stored at 5 and fresh until 10 (Unix ms).
    fn small_entry() -> Vec<u8> {
        let meta = crate::cache::EntryMeta {
            stored_at_ms: 5,
            expires_at_ms: 10,
            etag: 0,
            shape: crate::cache::Shape::Object,
            raw_len: 0,
        };
        crate::cache::envelope::encode(meta, b"{}")
    }

    #[test]
    fn racing_writers_of_a_key_leave_an_entry_and_its_record_together() {
        let (_dir, store) = empty_store();
        // Three versions of an entry, each with its own expiry and length.
        let version = |expires_at_ms: u64, payload: &str| {
            let meta = crate::cache::EntryMeta {
                stored_at_ms: 5,
                expires_at_ms,
                etag: 0,
                shape: crate::cache::Shape::Object,
                raw_len: 0,
            };
            crate::cache::envelope::encode(meta, payload.as_bytes())
        };
        let (a, b, c) = (
            version(10, "{}"),
            version(20, r#"{"id":1}"#),
            version(30, r#"{"id":1,"title":"x"}"#),
        );
        for round in 0..100 {
            let key = format!("movie:{round}");
            std::thread::scope(|s| {
                for writer in 0..4 {
                    let (store, key, a, b, c) = (&store, &key, &a, &b, &c);
                    s.spawn(move || {
                        for _ in 0..100 {
                            match writer {
                                0 => drop(store.put(key, a.clone()).unwrap()),
                                1 => drop(store.put(key, b.clone()).unwrap()),
                                2 => drop(store.replace_blocking(key, a, c.clone()).unwrap()),
                                _ => drop(store.remove_blocking(key).unwrap()),
                            }
                        }
                    });
                }
            });
            let entry = store.get(&key).unwrap();
            let record = store.index.get(key.as_bytes()).unwrap();
            assert_eq!(
                entry.as_deref().and_then(IndexRecord::of),
                record.as_deref().and_then(IndexRecord::decode),
                "{key}: the record describes the entry beside it"
            );
        }
    }

    #[test]
    fn an_entry_that_does_not_decode_is_refused() {
        let (_dir, store) = empty_store();
        assert!(store.put("movie:1", b"not an envelope".to_vec()).is_err());
        assert_eq!(store.get("movie:1").unwrap(), None);
        assert!(store.scan_index("").next().is_none());
    }

    #[test]
    fn the_sweeper_removes_only_what_it_saw() {
        let (_dir, store) = empty_store();
        let bytes = small_entry();
        store.put("movie:1", bytes.clone()).unwrap();
        let seen = IndexRecord::of(&bytes).unwrap();
        // Stored again (another version) after the sweeper read its record: left alone.
        let newer = IndexRecord {
            stored_at_ms: 6,
            ..seen
        };
        assert_eq!(store.remove_if_record("movie:1", &newer).unwrap(), None);
        assert!(store.get("movie:1").unwrap().is_some());
        assert_eq!(
            store.remove_if_record("movie:1", &seen).unwrap(),
            Some(bytes.len())
        );
        assert_eq!(store.get("movie:1").unwrap(), None);
        assert!(store.scan_index("").next().is_none());
    }

    #[test]
    fn an_older_directory_is_indexed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::config::Settings::defaults_in(dir.path());
        let bytes = small_entry();
        {
            // Written the way versions before the index did: the pages tree alone.
            let store = SledStore::open(dir.path(), &settings.cache).unwrap();
            store.pages.insert("movie:1", bytes.clone()).unwrap();
            store.index.clear().unwrap();
            store.db.remove(INDEX_BUILT).unwrap();
            store.db.flush().unwrap();
        }
        let store = SledStore::open(dir.path(), &settings.cache).unwrap();
        let indexed: Vec<_> = store.scan_index("").map(Result::unwrap).collect();
        assert_eq!(
            indexed,
            vec![(
                "movie:1".to_owned(),
                Some(IndexRecord {
                    expires_at_ms: 10,
                    stored_at_ms: 5,
                    stored_len: bytes.len() as u32
                })
            )]
        );
    }
}
