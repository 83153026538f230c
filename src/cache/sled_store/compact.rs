//! Compaction: sled 0.34 keeps superseded versions of its pages in its log until a segment is at
//! most half live, so a store that has been rewritten for a while takes up to about twice its
//! live bytes on disk (BENCHMARKS.md, "Disk after churn"). `compact` copies every tree into a
//! fresh directory beside the store, which then holds only the live entries, and swaps the two.
//!
//! The swap survives a crash at any point: `v1.compact` gets a `COMPLETE` marker only once it is
//! whole and on disk; then `v1` is renamed to `v1.old`, `v1.compact` to `v1`, and `v1.old` is
//! removed. `recover` (run before every open) finishes or undoes what an interrupted swap left.

use std::path::Path;

use super::{LAYOUT_DIR, SledStore, io_error, store_error};
use crate::cache::CacheError;
use crate::config::CacheSettings;

const COMPLETE: &str = "COMPLETE";

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// Records copied (entries, their index records, and sled's own metadata keys).
    pub records: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

fn compact_dir(cache_dir: &Path) -> std::path::PathBuf {
    cache_dir.join(format!("{LAYOUT_DIR}.compact"))
}

fn old_dir(cache_dir: &Path) -> std::path::PathBuf {
    cache_dir.join(format!("{LAYOUT_DIR}.old"))
}

impl SledStore {
    /// Rewrites the store in `<data_dir>/cache` with only its live records. The caller holds the
    /// data directory's lock (no server runs on it). Needs free space for the live records
    /// (about the size of the store after compaction); on any failure the store is left as it
    /// was and the partial copy removed. Blocking.
    pub fn compact(data_dir: &Path, settings: &CacheSettings) -> Result<Compacted, CacheError> {
        let cache_dir = data_dir.join("cache");
        recover(&cache_dir);
        let bytes_before = dir_bytes(&cache_dir.join(LAYOUT_DIR));
        let target = compact_dir(&cache_dir);
        let copied = Self::open_waiting_for_lock(&cache_dir, settings)
            .and_then(|store| copy_into(&store.db, &target, settings));
        let records = match copied {
            Ok(records) => records,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&target);
                return Err(e);
            }
        };
        let io = |what: &str| {
            let what = what.to_owned();
            move |e: std::io::Error| io_error(what, &e)
        };
        // Whole and on disk: from here on the copy is the store.
        std::fs::write(target.join(COMPLETE), b"")
            .and_then(|()| sync_dir(&target))
            .map_err(io("cannot mark the compacted copy complete"))?;
        let (live, old) = (cache_dir.join(LAYOUT_DIR), old_dir(&cache_dir));
        std::fs::rename(&live, &old).map_err(io("cannot move the old store aside"))?;
        std::fs::rename(&target, &live).map_err(io("cannot move the compacted store in"))?;
        let _ = std::fs::remove_file(live.join(COMPLETE));
        let _ = sync_dir(&cache_dir);
        let _ = std::fs::remove_dir_all(&old);
        // sled folds its log into its snapshot when it opens: once, now, rather than at the
        // server's next start.
        Self::fold_log(data_dir, settings)?;
        Ok(Compacted {
            records,
            bytes_before,
            bytes_after: dir_bytes(&live),
        })
    }
}

/// Copies every tree of `from` into a new sled directory at `target`; the number of records.
fn copy_into(from: &sled::Db, target: &Path, settings: &CacheSettings) -> Result<u64, CacheError> {
    let _ = std::fs::remove_dir_all(target);
    let to = sled::Config::new()
        .path(target)
        .cache_capacity(settings.memory_bytes)
        .flush_every_ms(Some(settings.flush_every.as_millis().max(1) as u64))
        .open()
        .map_err(store_error)?;
    let mut records = 0;
    for name in from.tree_names() {
        let (source, copy) = (
            from.open_tree(&name).map_err(store_error)?,
            to.open_tree(&name).map_err(store_error)?,
        );
        for item in source.iter() {
            let (key, value) = item.map_err(store_error)?;
            copy.insert(key, value).map_err(store_error)?;
            records += 1;
        }
    }
    to.flush().map_err(store_error)?;
    Ok(records)
}

/// Finishes or undoes a swap a crash interrupted (see the module docs), and removes a partial
/// copy. Called before the store is opened.
pub(super) fn recover(cache_dir: &Path) {
    let (live, target, old) = (
        cache_dir.join(LAYOUT_DIR),
        compact_dir(cache_dir),
        old_dir(cache_dir),
    );
    if !live.exists() {
        if target.join(COMPLETE).exists() {
            tracing::warn!("finishing an interrupted cache compaction");
            let _ = std::fs::rename(&target, &live);
            let _ = std::fs::remove_file(live.join(COMPLETE));
        } else if old.exists() {
            tracing::warn!("undoing an interrupted cache compaction");
            let _ = std::fs::rename(&old, &live);
        }
    }
    for leftover in [target, old] {
        if leftover.exists() {
            let _ = std::fs::remove_dir_all(&leftover);
        }
    }
}

/// Bytes of the files under `dir` (sled's are not sparse).
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CacheSettings {
        crate::config::Settings::defaults_in(Path::new("/nonexistent")).cache
    }

    /// ~5 KB that LZ4 cannot shrink, different for each `n`.
    fn entry(n: u32) -> Vec<u8> {
        let meta = crate::cache::EntryMeta {
            stored_at_ms: 1,
            expires_at_ms: u64::MAX,
            etag: 0,
            shape: crate::cache::Shape::Object,
            raw_len: 0,
        };
        let mut x = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let noise: String = (0..5_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'a' + (x % 26) as u8)
            })
            .collect();
        crate::cache::envelope::encode(meta, format!("{{\"n\":{n},\"s\":\"{noise}\"}}").as_bytes())
    }

    #[test]
    fn compaction_keeps_every_entry_and_gives_back_the_superseded_versions() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), &settings()).unwrap();
        for round in 0..6 {
            for n in 0..300 {
                store.put(&format!("movie:{n}"), entry(n + round)).unwrap();
            }
        }
        drop(store);
        let compacted = SledStore::compact(dir.path(), &settings()).unwrap();
        assert!(compacted.records >= 600, "{compacted:?}");
        assert!(
            compacted.bytes_after < compacted.bytes_before,
            "{compacted:?}"
        );
        let store = SledStore::open(dir.path(), &settings()).unwrap();
        for n in 0..300 {
            let bytes = store.get(&format!("movie:{n}")).unwrap().expect("kept");
            assert_eq!(
                &bytes[..],
                &entry(n + 5)[..],
                "the newest version of movie:{n}"
            );
        }
        assert!(!dir.path().join("cache/v1.compact").exists());
        assert!(!dir.path().join("cache/v1.old").exists());
    }

    #[test]
    fn an_interrupted_swap_is_finished_or_undone_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), &settings()).unwrap();
        store.put("movie:1", entry(1)).unwrap();
        drop(store);
        let cache = dir.path().join("cache");
        // Crashed after moving the old store aside, before the copy was complete: undone.
        std::fs::rename(cache.join("v1"), cache.join("v1.old")).unwrap();
        std::fs::create_dir(cache.join("v1.compact")).unwrap();
        let store = SledStore::open(dir.path(), &settings()).unwrap();
        assert!(
            store.get("movie:1").unwrap().is_some(),
            "the old store is back"
        );
        drop(store);
        // Crashed between the two renames with a complete copy: finished.
        SledStore::compact(dir.path(), &settings()).unwrap();
        std::fs::rename(cache.join("v1"), cache.join("v1.compact")).unwrap();
        std::fs::write(cache.join("v1.compact/COMPLETE"), b"").unwrap();
        let store = SledStore::open(dir.path(), &settings()).unwrap();
        assert!(
            store.get("movie:1").unwrap().is_some(),
            "the copy is the store"
        );
        assert!(!cache.join("v1.compact").exists());
    }
}
