//! What the movie service answers with: a served document (from the hot tier, the store or TMDB)
//! with its cache outcome and the numbers its caching headers are made of; a hot-tier hit found
//! but not yet served.

use bytes::Bytes;

use crate::cache::hot::{Generation, HotEntry, LaterBody};
use crate::cache::{CacheError, CacheKey, CachedEntry, EntryMeta, Shape};

/// How a response was produced, as reported in `X-Cache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Miss,
    Stale,
    Bypass,
}

impl CacheOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "HIT",
            CacheOutcome::Miss => "MISS",
            CacheOutcome::Stale => "STALE",
            CacheOutcome::Bypass => "BYPASS",
        }
    }
}

/// Why a stale copy answered, for `Cache-Status`'s `detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleReason {
    /// Expired by less than the revalidate window: answered while one refresh runs.
    Revalidating,
    /// TMDB failed (or was slower than `stale_after`) and the copy stood in.
    UpstreamError,
    /// Offline: stored copies are served whatever their age.
    Offline,
}

impl StaleReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StaleReason::Revalidating => "revalidating",
            StaleReason::UpstreamError => "upstream-error",
            StaleReason::Offline => "offline",
        }
    }
}

/// A TMDB document ready to be written: still compressed in its cache entry, just fetched, or
/// already a finished response body from the hot tier.
#[derive(Debug)]
pub enum Document {
    Cached(CachedEntry),
    Fetched {
        shape: Shape,
        raw: Bytes,
    },
    /// The whole response body, envelope included.
    Rendered(Bytes),
}

impl Document {
    /// `None` for a finished body, which needs no envelope.
    pub fn shape(&self) -> Option<Shape> {
        match self {
            Document::Cached(entry) => Some(entry.meta.shape),
            Document::Fetched { shape, .. } => Some(*shape),
            Document::Rendered(_) => None,
        }
    }

    /// The document's JSON between `prefix` and `suffix`, in one buffer (a finished body as it
    /// is).
    pub fn render(&self, prefix: &[u8], suffix: &[u8]) -> Result<Bytes, CacheError> {
        match self {
            Document::Cached(entry) => entry.render(prefix, suffix).map(Bytes::from),
            Document::Fetched { raw, .. } => Ok([prefix, &raw[..], suffix].concat().into()),
            Document::Rendered(body) => Ok(body.clone()),
        }
    }
}

/// Where a rendered body may be kept in the hot tier: the key, and the generation noted before
/// the store was read (see `cache::hot`).
#[derive(Debug, Clone)]
pub struct HotSlot {
    pub key: CacheKey,
    pub generation: Generation,
}

/// What a service call produced.
#[derive(Debug)]
pub struct Served {
    pub(in crate::service::movies) document: Document,
    pub outcome: CacheOutcome,
    /// The entry's metadata, for cacheable documents.
    pub(in crate::service::movies) meta: Option<EntryMeta>,
    /// The service's notion of now, for `Age` and `max-age`.
    pub now_ms: u64,
    /// Set when the rendered body may be kept in the hot tier (fresh cacheable documents).
    pub(in crate::service::movies) hot: Option<HotSlot>,
    /// For a stale answer: why the copy answered.
    pub stale_reason: Option<StaleReason>,
    /// Answered by a fetch another request started (single flight, or another instance's fill).
    pub collapsed: bool,
    /// A miss: its write is on the way and the store took the last one (it is answered before
    /// the write lands).
    pub(in crate::service::movies) kept: bool,
    /// A miss: where its rendered body goes, to be kept in the hot tier when the write lands.
    pub(in crate::service::movies) later: Option<LaterBody>,
    /// The hot-tier entry a hit came from: it keeps the body's compressed forms.
    pub(in crate::service::movies) from_hot: Option<HotEntry>,
}

/// A fresh body the hot tier holds for a request, found but not yet served (nothing counted).
pub struct HotHit {
    pub(super) key: CacheKey,
    pub(super) entry: HotEntry,
    pub(super) now_ms: u64,
}

/// A request the hot tier had no fresh body for when asked, with its key (so that going on to
/// the store does not build it again).
#[derive(Debug, Clone)]
pub struct HotMiss {
    pub(super) key: CacheKey,
}

/// What the caching headers of a cacheable document are made of.
#[derive(Debug, Clone, Copy)]
pub struct Freshness {
    /// The payload's hash (the ETag before the link salt).
    pub etag: u64,
    pub stored_at_ms: u64,
    pub expires_at_ms: u64,
}

impl Served {
    /// TMDB's JSON as served (a list's `results`, a movie's details), without the envelope.
    pub fn payload(&self) -> Option<Bytes> {
        self.document.render(b"", b"").ok()
    }

    /// The caching headers' numbers; `None` for what is never cached (search, popular).
    pub fn freshness(&self) -> Option<Freshness> {
        self.meta.as_ref().map(|meta| Freshness {
            etag: meta.etag,
            stored_at_ms: meta.stored_at_ms,
            expires_at_ms: meta.expires_at_ms,
        })
    }

    /// A finished body from the hot tier.
    pub(super) fn from_hot(entry: HotEntry, now_ms: u64) -> Served {
        let mut served = Served::new(
            Document::Rendered(entry.body.clone()),
            CacheOutcome::Hit,
            Some(entry.meta),
            now_ms,
        );
        served.from_hot = Some(entry);
        served
    }

    pub(super) fn new(
        document: Document,
        outcome: CacheOutcome,
        meta: Option<EntryMeta>,
        now_ms: u64,
    ) -> Served {
        Served {
            document,
            outcome,
            meta,
            now_ms,
            hot: None,
            stale_reason: None,
            collapsed: false,
            kept: false,
            later: None,
            from_hot: None,
        }
    }

    /// A stale answer, and why.
    pub(super) fn because(mut self, reason: StaleReason) -> Served {
        self.stale_reason = Some(reason);
        self
    }

    /// Whether the store holds what was served, or (a miss) is being given it and took the last
    /// write: a miss is answered before its write lands, which may fail (a full disk).
    pub fn stored(&self) -> bool {
        self.meta.is_some() && (self.outcome != CacheOutcome::Miss || self.kept)
    }
}
