//! The image cache: TMDB's images kept on disk as files under `<data>/images/v1/`, with a byte
//! bound and least-recently-used eviction of its own, and the most recently used ones in memory.
//!
//! Images are large and immutable (a TMDB image path never changes its bytes), so they live
//! beside the page cache rather than in it: one file per image, named by a hash of its key
//! (`<data>/images/v1/<2 hex>/<16 hex>.img`, so file names are safe on every file system, case-
//! insensitive ones included, whatever TMDB's names are), each file one record
//! ([`record`]: versioned, checksummed, carrying its own key). A file is written under a
//! temporary name and renamed into place, so a reader sees a whole file or none; a torn file
//! left by a crash fails its checksum and is removed when read. Like the page cache, this is a
//! cache: everything in it can be fetched again.
//!
//! Blocking: call from blocking threads (the service does), except [`ImageStore::get_memory`].

pub mod record;

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
pub use record::StoredImage;

/// The layout's version: a new layout gets a new directory, so an older binary never misreads
/// a newer one's files.
pub const LAYOUT: &str = "images/v1";
/// Eviction brings the stored bytes down to this share of the bound, so it runs in batches.
const EVICT_TO_PERCENT: u64 = 90;
/// Files looked at when the store opens, at most: past it the rest are not indexed (and are
/// evicted by nobody): a bound on start-up time whatever is on disk.
const MAX_FILES: usize = 1_000_000;

#[derive(Debug, Clone, Copy)]
struct Slot {
    len: u64,
    /// When it was last read or written, in the store's ticks (older is smaller).
    used: u64,
}

#[derive(Default)]
struct Index {
    slots: HashMap<u64, Slot>,
    bytes: u64,
}

#[derive(Clone)]
struct MemoryWeighter;

impl quick_cache::Weighter<u64, StoredImage> for MemoryWeighter {
    fn weight(&self, _: &u64, image: &StoredImage) -> u64 {
        (image.bytes.len() + image.key.len() + 96) as u64
    }
}

/// What the staff statistics show of the image cache.
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq, Eq)]
pub struct ImageStats {
    pub entries: u64,
    pub bytes: u64,
    pub max_bytes: u64,
    pub memory_entries: u64,
    pub memory_bytes: u64,
    pub evictions: u64,
    /// Files refused when read (torn, altered or of another version) and removed.
    pub damaged: u64,
    /// Writes the disk refused (full, read-only): the image was served, not kept.
    pub write_errors: u64,
}

pub struct ImageStore {
    root: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
    tick: AtomicU64,
    memory: Option<quick_cache::sync::Cache<u64, StoredImage, MemoryWeighter>>,
    evictions: AtomicU64,
    damaged: AtomicU64,
    write_errors: AtomicU64,
}

fn hash(key: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key.as_bytes())
}

impl ImageStore {
    /// Opens (creating) `<data_dir>/images/v1`, indexing the files there (their sizes, and their
    /// modification times as last use) and removing temporary files a crash left. Never fails:
    /// a directory that cannot be made (a full or read-only disk) leaves an empty index, every
    /// write then fails and is counted, and writes work again once the disk does.
    pub fn open(data_dir: &Path, max_bytes: u64, memory_bytes: u64) -> ImageStore {
        let root = data_dir.join(LAYOUT);
        let _ = std::fs::remove_dir_all(root.join("tmp"));
        if let Err(e) = Self::make_dirs(&root) {
            tracing::warn!(error = %e, dir = %root.display(), "the image cache cannot write: serving images without keeping them");
        }
        let mut found: Vec<(u64, u64, std::time::SystemTime)> = Vec::new();
        let shards = std::fs::read_dir(&root).into_iter().flatten().flatten();
        'scan: for shard in shards {
            let name = shard.file_name();
            let Some(shard_name) = name.to_str().map(str::to_owned) else {
                continue;
            };
            if shard_name.len() != 2 || u8::from_str_radix(&shard_name, 16).is_err() {
                continue;
            }
            let Ok(files) = std::fs::read_dir(shard.path()) else {
                continue;
            };
            for file in files.flatten() {
                if found.len() >= MAX_FILES {
                    tracing::warn!("more than {MAX_FILES} image files: only these are indexed");
                    break 'scan;
                }
                let name = file.file_name();
                let Some(hash) = name
                    .to_str()
                    .and_then(|n| n.strip_suffix(".img"))
                    .filter(|n| n.len() == 16)
                    .and_then(|n| u64::from_str_radix(n, 16).ok())
                    // A file in another shard's directory is no file of this layout.
                    .filter(|hash| format!("{:02x}", hash >> 56) == shard_name)
                else {
                    continue;
                };
                let Ok(meta) = file.metadata() else { continue };
                let used = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                found.push((hash, meta.len(), used));
            }
        }
        // Oldest first: their ticks order the LRU as the modification times did.
        found.sort_by_key(|(_, _, used)| *used);
        let mut index = Index::default();
        for (tick, (hash, len, _)) in found.into_iter().enumerate() {
            index.bytes += len;
            let slot = Slot {
                len,
                used: tick as u64,
            };
            if let Some(old) = index.slots.insert(hash, slot) {
                index.bytes -= old.len;
            }
        }
        let tick = index.slots.len() as u64;
        let memory = (memory_bytes > 0).then(|| {
            // quick_cache sizes its tables by an item estimate: posters are ~20-60 KB.
            let items = (memory_bytes / 32_768).clamp(16, 1_000_000) as usize;
            quick_cache::sync::Cache::with_weighter(items, memory_bytes, MemoryWeighter)
        });
        let store = ImageStore {
            root,
            max_bytes,
            index: Mutex::new(index),
            tick: AtomicU64::new(tick),
            memory,
            evictions: AtomicU64::new(0),
            damaged: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
        };
        store.evict_if_over();
        store
    }

    fn make_dirs(root: &Path) -> io::Result<()> {
        let images = root.parent().expect("images/v1 has a parent");
        for dir in [images, root, &root.join("tmp")] {
            if !dir.exists() {
                crate::private_fs::create_dir(dir)?;
            }
        }
        Ok(())
    }

    fn path_of(&self, hash: u64) -> PathBuf {
        self.root
            .join(format!("{:02x}", hash >> 56))
            .join(format!("{hash:016x}.img"))
    }

    /// Notes a read for the LRU order. Never waits: while an eviction holds the index, the read
    /// goes unnoted (the order is approximate; a hit is never held up by it).
    fn touch(&self, hash: u64) {
        let now = self.tick.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut index) = self.index.try_lock()
            && let Some(slot) = index.slots.get_mut(&hash)
        {
            slot.used = now;
        }
    }

    /// The image if it is in memory: no I/O, callable anywhere.
    pub fn get_memory(&self, key: &str) -> Option<StoredImage> {
        let hash = hash(key);
        let image = self.memory.as_ref()?.get(&hash)?;
        if image.key != key {
            return None;
        }
        self.touch(hash);
        Some(image)
    }

    /// The image from memory or disk; a damaged file is removed and reads as missing.
    pub fn get(&self, key: &str) -> Option<StoredImage> {
        if let Some(image) = self.get_memory(key) {
            return Some(image);
        }
        let hash = hash(key);
        if !crate::sync::lock(&self.index).slots.contains_key(&hash) {
            return None;
        }
        let path = self.path_of(hash);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => Bytes::from(bytes),
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(error = %e, file = %path.display(), "cannot read a cached image");
                }
                self.forget(hash);
                return None;
            }
        };
        match record::decode(bytes) {
            Ok(image) if image.key == key => {
                self.touch(hash);
                if let Some(memory) = &self.memory {
                    memory.insert(hash, image.clone());
                }
                Some(image)
            }
            Ok(_) | Err(_) => {
                self.damaged.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(file = %path.display(), key, "removing a damaged cached image");
                let _ = std::fs::remove_file(&path);
                self.forget(hash);
                None
            }
        }
    }

    fn forget(&self, hash: u64) {
        let mut index = crate::sync::lock(&self.index);
        if let Some(slot) = index.slots.remove(&hash) {
            index.bytes -= slot.len;
        }
    }

    /// Keeps `image` in memory and writes it to disk (a temporary file renamed into place),
    /// then evicts the least recently used images past the byte bound. An image larger than the
    /// whole bound is kept in memory only.
    pub fn put(&self, image: &StoredImage) -> io::Result<()> {
        let hash = hash(&image.key);
        if let Some(memory) = &self.memory {
            memory.insert(hash, image.clone());
        }
        let encoded = record::encode(image);
        let len = encoded.len() as u64;
        // One image may take an eighth of the bound at most: a bigger one would push out most
        // of the others (and be pushed out itself by the next); it stays in memory only.
        if len > self.max_bytes / 8 {
            return Ok(());
        }
        let result = self.write_file(hash, &encoded);
        if let Err(e) = &result {
            self.write_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, key = image.key, "cannot store an image on disk");
            return result;
        }
        let now = self.tick.fetch_add(1, Ordering::Relaxed);
        {
            let mut index = crate::sync::lock(&self.index);
            if let Some(old) = index.slots.insert(hash, Slot { len, used: now }) {
                index.bytes -= old.len;
            }
            index.bytes += len;
        }
        self.evict_if_over();
        Ok(())
    }

    fn write_file(&self, hash: u64, encoded: &[u8]) -> io::Result<()> {
        let path = self.path_of(hash);
        let dir = path.parent().expect("a file in a shard");
        if !dir.exists() {
            crate::private_fs::create_dir(dir)?;
        }
        // Made again if it could not be at start (a full disk since freed).
        Self::make_dirs(&self.root)?;
        let mut tmp = tempfile::NamedTempFile::new_in(self.root.join("tmp"))?;
        tmp.write_all(encoded)?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }

    /// Removes least recently used files until the stored bytes are back under the bound's
    /// 90 %, when they are over the bound. The order is worked out on a copy, outside the lock,
    /// so reads go on meanwhile; a file read since the copy was taken is spared.
    fn evict_if_over(&self) {
        let (mut by_age, over) = {
            let index = crate::sync::lock(&self.index);
            if index.bytes <= self.max_bytes {
                return;
            }
            let target = self.max_bytes / 100 * EVICT_TO_PERCENT;
            let by_age: Vec<(u64, u64)> = index
                .slots
                .iter()
                .map(|(hash, slot)| (slot.used, *hash))
                .collect();
            (by_age, index.bytes - target)
        };
        by_age.sort_unstable();
        let victims: Vec<u64> = {
            let mut index = crate::sync::lock(&self.index);
            let mut freed = 0;
            let mut victims = Vec::new();
            for (used, hash) in by_age {
                if freed >= over {
                    break;
                }
                match index.slots.get(&hash) {
                    Some(slot) if slot.used == used => {
                        freed += slot.len;
                        index.bytes -= slot.len;
                        index.slots.remove(&hash);
                        victims.push(hash);
                    }
                    _ => {}
                }
            }
            victims
        };
        self.evictions
            .fetch_add(victims.len() as u64, Ordering::Relaxed);
        for hash in victims {
            if let Some(memory) = &self.memory {
                memory.remove(&hash);
            }
            let _ = std::fs::remove_file(self.path_of(hash));
        }
    }

    /// Removes every image; returns how many files there were.
    pub fn clear(&self) -> u64 {
        let hashes: Vec<u64> = {
            let mut index = crate::sync::lock(&self.index);
            index.bytes = 0;
            index.slots.drain().map(|(hash, _)| hash).collect()
        };
        if let Some(memory) = &self.memory {
            memory.clear();
        }
        for hash in &hashes {
            let _ = std::fs::remove_file(self.path_of(*hash));
        }
        hashes.len() as u64
    }

    /// Every stored image that reads back whole, for snapshots (blocking, one file at a time).
    pub fn scan(&self) -> impl Iterator<Item = StoredImage> + '_ {
        let hashes: Vec<u64> = {
            let index = crate::sync::lock(&self.index);
            let mut hashes: Vec<u64> = index.slots.keys().copied().collect();
            // A stable order, so the same images make the same snapshot.
            hashes.sort_unstable();
            hashes
        };
        hashes.into_iter().filter_map(move |hash| {
            let bytes = std::fs::read(self.path_of(hash)).ok()?;
            record::decode(Bytes::from(bytes)).ok()
        })
    }

    pub fn stats(&self) -> ImageStats {
        let (entries, bytes) = {
            let index = crate::sync::lock(&self.index);
            (index.slots.len() as u64, index.bytes)
        };
        ImageStats {
            entries,
            bytes,
            max_bytes: self.max_bytes,
            memory_entries: self.memory.as_ref().map_or(0, |m| m.len() as u64),
            memory_bytes: self.memory.as_ref().map_or(0, |m| m.weight()),
            evictions: self.evictions.load(Ordering::Relaxed),
            damaged: self.damaged.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::image::{ImagePath, ImageType};

    fn image(name: &str, len: usize) -> StoredImage {
        let path = ImagePath::parse("w92", name).unwrap();
        let mut bytes = b"<svg>".to_vec();
        bytes.resize(len, b' ');
        StoredImage::new(&path, ImageType::Svg, 1, Bytes::from(bytes))
    }

    #[test]
    fn keeps_images_across_a_reopen_and_evicts_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path(), 10_000, 0);
        for n in 0..9 {
            store.put(&image(&format!("a{n}.svg"), 1_000)).unwrap();
        }
        assert_eq!(store.stats().evictions, 0);
        // a0 is read, so a1 is the least recently used when the bound is crossed.
        assert!(store.get("w92/a0.svg").is_some());
        store.put(&image("a9.svg", 1_000)).unwrap();
        let stats = store.stats();
        assert!(stats.bytes <= 9_000, "{stats:?}");
        assert!(stats.evictions >= 1);
        assert!(
            store.get("w92/a1.svg").is_none(),
            "the LRU image was evicted"
        );
        assert!(store.get("w92/a0.svg").is_some());
        assert!(store.get("w92/a9.svg").is_some());
        // An image over an eighth of the bound is not kept on disk.
        store.put(&image("big.svg", 2_000)).unwrap();
        assert!(store.get("w92/big.svg").is_none());
        drop(store);

        let store = ImageStore::open(dir.path(), 10_000, 0);
        assert_eq!(store.get("w92/a9.svg").unwrap(), image("a9.svg", 1_000));
        assert_eq!(store.stats().entries, store.scan().count() as u64);
    }

    #[test]
    fn a_damaged_file_is_removed_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path(), 1_000_000, 0);
        store.put(&image("b.svg", 100)).unwrap();
        let path = store.path_of(hash("w92/b.svg"));
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xFF;
        std::fs::write(&path, bytes).unwrap();
        assert!(store.get("w92/b.svg").is_none());
        assert!(!path.exists());
        assert_eq!(store.stats().damaged, 1);
        assert_eq!(store.stats().entries, 0);
    }
}
