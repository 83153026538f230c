//! The hot tier: finished response bodies of recently served fresh entries, in memory, so a
//! repeated hit is a map lookup and a reference-counted `Bytes` clone instead of a store read,
//! a checksum, an LZ4 decompression and the envelope's assembly (BENCHMARKS.md has the profile
//! that showed those to be most of a hit's cost).
//!
//! It is a cache of the store, never a store: bounded by bytes (S3-FIFO eviction from
//! `quick_cache`), holding only entries that are fresh, and emptied of a key whenever the store
//! writes or removes it. A body is a pure function of its cache key and the stored entry (the
//! links derive from the same parameters as the key), so one body per key is right for every
//! request that maps to the key.
//!
//! Invalidation versus a concurrent reader: a reader notes the generation before it reads the
//! store and may insert what it rendered only if no write happened since. Writers bump the
//! generation after their write is applied, under the same lock an insert takes, so a body
//! rendered from replaced bytes is never inserted after the replacement.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use super::EntryMeta;
use crate::domain::coding::ContentCoding;

/// One rendered body and what its headers are computed from.
#[derive(Debug, Clone)]
pub struct HotEntry {
    pub body: Bytes,
    pub meta: EntryMeta,
    /// Until when this copy may be served without asking the store (Unix ms): the entry's
    /// expiry, or sooner when the store is shared with other processes.
    valid_until_ms: u64,
    /// The body in each content coding, made the first time a client asks for it and kept
    /// with the entry (never compressed per hit).
    coded: Arc<Coded>,
}

/// A hot body's compressed forms.
#[derive(Debug, Default)]
pub struct Coded {
    gzip: OnceLock<Bytes>,
    zstd: OnceLock<Bytes>,
}

/// zstd's level for bodies kept: made once per entry, so worth a level above the default.
const ZSTD_LEVEL: i32 = 9;

impl HotEntry {
    /// The body in `coding`, compressed now if this is the first time it is asked for (then
    /// `made` is called). A coding that fails (it cannot, in memory) falls back to identity.
    pub fn coded(&self, coding: ContentCoding, made: impl FnOnce()) -> (Bytes, ContentCoding) {
        let slot = match coding {
            ContentCoding::Identity => return (self.body.clone(), coding),
            ContentCoding::Gzip => &self.coded.gzip,
            ContentCoding::Zstd => &self.coded.zstd,
        };
        let body = slot.get_or_init(|| {
            made();
            compress(&self.body, coding).unwrap_or_default()
        });
        if body.is_empty() {
            return (self.body.clone(), ContentCoding::Identity);
        }
        (body.clone(), coding)
    }
}

fn compress(body: &[u8], coding: ContentCoding) -> Option<Bytes> {
    use std::io::Write;
    match coding {
        ContentCoding::Identity => None,
        ContentCoding::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 3),
                flate2::Compression::best(),
            );
            encoder.write_all(body).ok()?;
            encoder.finish().ok().map(Bytes::from)
        }
        ContentCoding::Zstd => zstd::bulk::compress(body, ZSTD_LEVEL).ok().map(Bytes::from),
    }
}

#[derive(Clone)]
struct BodyWeighter;

impl quick_cache::Weighter<String, HotEntry> for BodyWeighter {
    fn weight(&self, key: &String, entry: &HotEntry) -> u64 {
        // The key and the bookkeeping count too, so tiny bodies cannot overfill memory; the
        // compressed forms, made later, are reckoned at half the body (JSON compresses to a
        // quarter or less in each coding).
        (entry.body.len() * 3 / 2 + key.len() + 96) as u64
    }
}

/// A body rendered from a document whose write is still on the way (a miss is answered first),
/// kept in the tier under the generation that follows the write, by whichever of the two comes
/// second: the body (the answer rendered after the write landed) or the write.
#[derive(Debug, Clone, Default)]
pub struct LaterBody(Arc<Mutex<Later>>);

#[derive(Debug, Default)]
enum Later {
    #[default]
    Waiting,
    Rendered(Bytes),
    Written {
        key: String,
        generation: Generation,
        meta: EntryMeta,
        now_ms: u64,
    },
    Done,
}

impl LaterBody {
    /// The answer's body is rendered (the first one counts).
    pub fn rendered(&self, hot: &HotTier, body: &Bytes) {
        self.meet(hot, Later::Rendered(body.clone()));
    }

    /// The document's write landed; `generation` is the one that followed it.
    pub fn written(
        &self,
        hot: &HotTier,
        key: &str,
        generation: Generation,
        meta: EntryMeta,
        now_ms: u64,
    ) {
        let key = key.to_owned();
        self.meet(
            hot,
            Later::Written {
                key,
                generation,
                meta,
                now_ms,
            },
        );
    }

    /// The first arrival waits; the second, the other kind, keeps the body.
    fn meet(&self, hot: &HotTier, arrival: Later) {
        let mut later = crate::sync::lock(&self.0);
        match (std::mem::take(&mut *later), arrival) {
            (Later::Waiting, arrival) => *later = arrival,
            (
                Later::Rendered(body),
                Later::Written {
                    key,
                    generation,
                    meta,
                    now_ms,
                },
            )
            | (
                Later::Written {
                    key,
                    generation,
                    meta,
                    now_ms,
                },
                Later::Rendered(body),
            ) => {
                *later = Later::Done;
                drop(later);
                hot.insert(&key, generation, meta, body, now_ms);
            }
            (other, _) => *later = other,
        }
    }
}

/// A reader's note of the generation before it read the store; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

pub struct HotTier {
    entries: Option<quick_cache::sync::Cache<String, HotEntry, BodyWeighter>>,
    generation: AtomicU64,
    /// Held by writers while they bump the generation and by inserts while they check it.
    write: Mutex<()>,
    /// With a store other processes write to, how long a copy may be served unchecked.
    max_residence_ms: Option<u64>,
}

/// See [`HotTier::pending`].
pub struct PendingInvalidation<'a> {
    hot: &'a HotTier,
    key: Option<&'a str>,
    done: bool,
}

impl PendingInvalidation<'_> {
    /// Invalidates now; the generation after it (see [`HotTier::invalidate`]).
    pub fn finish(mut self) -> Generation {
        self.done = true;
        self.run()
    }

    fn run(&self) -> Generation {
        match self.key {
            Some(key) => self.hot.invalidate(key),
            None => {
                self.hot.invalidate_all();
                self.hot.generation()
            }
        }
    }
}

impl Drop for PendingInvalidation<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.run();
        }
    }
}

/// Bodies are 10–20 KB: this guess only sizes the initial table.
const TYPICAL_BODY: u64 = 16 * 1024;

impl HotTier {
    /// `max_bytes` 0 turns the tier off. `max_residence`: see the field.
    pub fn new(max_bytes: u64, max_residence: Option<std::time::Duration>) -> HotTier {
        let entries = (max_bytes > 0).then(|| {
            let items = (max_bytes / TYPICAL_BODY).clamp(16, 1 << 20) as usize;
            quick_cache::sync::Cache::with_weighter(items, max_bytes, BodyWeighter)
        });
        HotTier {
            entries,
            generation: AtomicU64::new(0),
            write: Mutex::new(()),
            max_residence_ms: max_residence.map(|d| d.as_millis() as u64),
        }
    }

    /// Its bound in bytes (0: off).
    pub fn max_bytes(&self) -> u64 {
        self.entries.as_ref().map_or(0, |cache| cache.capacity())
    }

    /// The body for `key`, when one is held and still fresh at `now_ms`.
    pub fn get(&self, key: &str, now_ms: u64) -> Option<HotEntry> {
        let entry = self.entries.as_ref()?.get(key)?;
        (now_ms < entry.valid_until_ms).then_some(entry)
    }

    /// Note this before reading the store for a body that may be inserted.
    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Acquire))
    }

    /// Keeps `body` for `key` if the entry is fresh at `now_ms` and nothing was written or
    /// removed since `seen`.
    pub fn insert(&self, key: &str, seen: Generation, meta: EntryMeta, body: Bytes, now_ms: u64) {
        let Some(entries) = &self.entries else {
            return;
        };
        let valid_until_ms = match self.max_residence_ms {
            Some(residence) => meta.expires_at_ms.min(now_ms.saturating_add(residence)),
            None => meta.expires_at_ms,
        };
        if now_ms >= valid_until_ms {
            return;
        }
        let _write = crate::sync::lock(&self.write);
        if self.generation.load(Ordering::Acquire) != seen.0 {
            return;
        }
        entries.insert(
            key.to_owned(),
            HotEntry {
                body,
                meta,
                valid_until_ms,
                coded: Arc::default(),
            },
        );
    }

    /// The store wrote or removed `key`: call after the change is applied. Returns the
    /// generation that follows it: a body of exactly what was written may be kept under it.
    pub fn invalidate(&self, key: &str) -> Generation {
        let _write = crate::sync::lock(&self.write);
        if let Some(entries) = &self.entries {
            entries.remove(key);
        }
        Generation(self.generation.fetch_add(1, Ordering::AcqRel) + 1)
    }

    /// Many keys changed (clears, imports).
    pub fn invalidate_all(&self) {
        let _write = crate::sync::lock(&self.write);
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(entries) = &self.entries {
            entries.clear();
        }
    }

    /// An invalidation of `key` (all keys for `None`) that happens when the guard is finished or
    /// dropped: a store change whose future is cancelled half-way (a client hanging up) still
    /// empties the hot tier once the change it started is applied.
    pub fn pending<'a>(&'a self, key: Option<&'a str>) -> PendingInvalidation<'a> {
        PendingInvalidation {
            hot: self,
            key,
            done: false,
        }
    }

    /// Whether a body for `key` is held.
    pub fn contains(&self, key: &str) -> bool {
        self.entries
            .as_ref()
            .is_some_and(|entries| entries.peek(key).is_some())
    }

    /// Bodies held, and their weight in bytes.
    pub fn usage(&self) -> (u64, u64) {
        self.entries
            .as_ref()
            .map_or((0, 0), |e| (e.len() as u64, e.weight()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Shape;

    fn meta(expires_at_ms: u64) -> EntryMeta {
        EntryMeta {
            stored_at_ms: 0,
            expires_at_ms,
            etag: 7,
            shape: Shape::Object,
            raw_len: 2,
        }
    }

    #[test]
    fn a_later_body_is_kept_whichever_of_render_and_write_comes_second() {
        for render_first in [true, false] {
            let hot = HotTier::new(1 << 20, None);
            let later = LaterBody::default();
            let generation = hot.invalidate("k");
            let body = Bytes::from_static(b"{}");
            if render_first {
                later.rendered(&hot, &body);
                assert!(!hot.contains("k"), "not before the write lands");
                later.written(&hot, "k", generation, meta(10), 1);
            } else {
                later.written(&hot, "k", generation, meta(10), 1);
                assert!(!hot.contains("k"), "not before the body is rendered");
                later.rendered(&hot, &body);
            }
            assert_eq!(hot.get("k", 1).map(|e| e.body), Some(body.clone()));
            // A second render changes nothing.
            later.rendered(&hot, &Bytes::from_static(b"[]"));
            assert_eq!(hot.get("k", 1).map(|e| e.body), Some(body));
        }
    }

    #[test]
    fn serves_only_fresh_bodies() {
        let hot = HotTier::new(1 << 20, None);
        let seen = hot.generation();
        hot.insert("k", seen, meta(1_000), Bytes::from_static(b"{}"), 10);
        assert_eq!(hot.get("k", 999).unwrap().body, &b"{}"[..]);
        assert!(
            hot.get("k", 1_000).is_none(),
            "expired bodies are not served"
        );
        assert!(hot.get("other", 10).is_none());
    }

    #[test]
    fn a_write_after_the_read_refuses_the_insert() {
        let hot = HotTier::new(1 << 20, None);
        let seen = hot.generation();
        hot.invalidate("k");
        hot.insert("k", seen, meta(1_000), Bytes::from_static(b"old"), 10);
        assert!(hot.get("k", 10).is_none());
        let seen = hot.generation();
        hot.insert("k", seen, meta(1_000), Bytes::from_static(b"new"), 10);
        assert_eq!(hot.get("k", 10).unwrap().body, &b"new"[..]);
        hot.invalidate("k");
        assert!(hot.get("k", 10).is_none(), "a write removes the key's body");
    }

    #[test]
    fn a_writer_may_keep_exactly_what_it_wrote() {
        let hot = HotTier::new(1 << 20, None);
        let after_write = hot.invalidate("k");
        hot.insert("k", after_write, meta(1_000), Bytes::from_static(b"w"), 10);
        assert!(hot.contains("k"));
        let stale = hot.invalidate("other");
        hot.invalidate("k");
        hot.insert("k", stale, meta(1_000), Bytes::from_static(b"old"), 10);
        assert!(!hot.contains("k"), "a later write wins");
    }

    #[test]
    fn a_dropped_pending_invalidation_still_invalidates() {
        let hot = HotTier::new(1 << 20, None);
        hot.insert(
            "k",
            hot.generation(),
            meta(1_000),
            Bytes::from_static(b"x"),
            10,
        );
        drop(hot.pending(Some("k")));
        assert!(!hot.contains("k"));
    }

    #[test]
    fn residence_is_capped_for_shared_stores() {
        let hot = HotTier::new(1 << 20, Some(std::time::Duration::from_millis(100)));
        hot.insert(
            "k",
            hot.generation(),
            meta(10_000),
            Bytes::from_static(b"{}"),
            0,
        );
        assert!(hot.get("k", 99).is_some());
        assert!(hot.get("k", 100).is_none());
    }

    #[test]
    fn bounded_by_bytes_and_can_be_off() {
        let hot = HotTier::new(64 * 1024, None);
        for i in 0..100 {
            let body = Bytes::from(vec![b'x'; 4096]);
            hot.insert(&format!("k{i}"), hot.generation(), meta(1_000), body, 0);
        }
        let (_, bytes) = hot.usage();
        assert!(bytes <= 64 * 1024, "{bytes} bytes held over a 64 KiB bound");
        let off = HotTier::new(0, None);
        off.insert(
            "k",
            off.generation(),
            meta(1_000),
            Bytes::from_static(b"{}"),
            0,
        );
        assert!(off.get("k", 0).is_none());
    }
}
