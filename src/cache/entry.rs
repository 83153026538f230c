//! One stored entry as the policy sees it: the envelope's verified header and its still
//! compressed payload, and what a lookup found.

use bytes::Bytes;

use super::CacheError;
use super::envelope::{self, EntryMeta};

/// One stored entry whose header has been verified; the payload is still compressed.
#[derive(Debug, Clone)]
pub struct CachedEntry {
    bytes: Bytes,
    payload_offset: usize,
    /// The payload was compressed against the built-in dictionary (format 2).
    dictionary: bool,
    pub meta: EntryMeta,
}

impl CachedEntry {
    pub(super) fn from_bytes(bytes: Bytes) -> Result<CachedEntry, envelope::EnvelopeError> {
        let decoded = envelope::decode(&bytes)?;
        Ok(CachedEntry {
            payload_offset: decoded.payload_offset(&bytes),
            dictionary: decoded.uses_dictionary(),
            meta: decoded.meta,
            bytes,
        })
    }

    /// The payload decompressed between `prefix` and `suffix`.
    pub fn render(&self, prefix: &[u8], suffix: &[u8]) -> Result<Vec<u8>, CacheError> {
        envelope::render(
            &self.bytes[self.payload_offset..],
            self.meta.raw_len,
            self.dictionary,
            prefix,
            suffix,
        )
        .map_err(|e| CacheError::Store(e.to_string()))
    }

    pub fn is_fresh(&self, now_ms: u64) -> bool {
        now_ms < self.meta.expires_at_ms
    }

    /// The encoded envelope, as stored.
    pub fn encoded(&self) -> &[u8] {
        &self.bytes
    }
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    Fresh(CachedEntry),
    /// A fresh negative entry: TMDB said it has no such movie, until `expires_at_ms`.
    Missing {
        expires_at_ms: u64,
    },
    /// Past its TTL. Kept so that later rules (stale-if-error, offline) can still serve it.
    Expired(CachedEntry),
    Miss,
}
