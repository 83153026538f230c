//! The index records the sweeper reads instead of the entries.

use crate::cache::CacheError;

/// The sweeper's view of one entry, kept in the index tree beside it. Format (docs/FORMATS.md):
/// version byte 1, then big-endian `expires_at_ms` u64, `stored_at_ms` u64, stored length u32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexRecord {
    pub expires_at_ms: u64,
    pub stored_at_ms: u64,
    pub stored_len: u32,
}

const INDEX_FORMAT: u8 = 1;
pub(super) const INDEX_LEN: usize = 21;

impl IndexRecord {
    /// The record of an encoded envelope; `None` when it does not decode.
    pub(super) fn of(bytes: &[u8]) -> Option<IndexRecord> {
        let meta = crate::cache::envelope::decode(bytes).ok()?.meta;
        Some(IndexRecord {
            expires_at_ms: meta.expires_at_ms,
            stored_at_ms: meta.stored_at_ms,
            stored_len: bytes.len() as u32,
        })
    }

    pub(super) fn encode(&self) -> [u8; INDEX_LEN] {
        let mut out = [0u8; INDEX_LEN];
        out[0] = INDEX_FORMAT;
        out[1..9].copy_from_slice(&self.expires_at_ms.to_be_bytes());
        out[9..17].copy_from_slice(&self.stored_at_ms.to_be_bytes());
        out[17..21].copy_from_slice(&self.stored_len.to_be_bytes());
        out
    }

    pub(super) fn decode(bytes: &[u8]) -> Option<IndexRecord> {
        if bytes.len() != INDEX_LEN || bytes[0] != INDEX_FORMAT {
            return None;
        }
        let u64_at = |i: usize| u64::from_be_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        Some(IndexRecord {
            expires_at_ms: u64_at(1),
            stored_at_ms: u64_at(9),
            stored_len: u32::from_be_bytes(bytes[17..21].try_into().expect("4 bytes")),
        })
    }
}

/// The index record of an entry about to be stored; an entry that does not decode is refused
/// (nothing could serve it, and the sweeper could not see it).
pub(super) fn index_record_of(bytes: &[u8]) -> Result<[u8; INDEX_LEN], CacheError> {
    IndexRecord::of(bytes)
        .map(|r| r.encode())
        .ok_or_else(|| CacheError::Store("refusing to store an entry that does not decode".into()))
}
