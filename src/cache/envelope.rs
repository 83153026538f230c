//! The versioned byte format of one cache entry, identical in every backend (sled today, Redis
//! later) and in snapshots. Documented in `docs/FORMATS.md`; change `FORMAT` when it changes.
//!
//! ```text
//! offset  size  field
//! 0       1     format byte: 2 (1 is still read; 3 for a negative entry)
//! 1       4     CRC-32 (IEEE, little-endian) of every byte from offset 5 to the end
//! 5       n     EntryMeta, bincode 2 "standard" encoding (varint integers)
//! 5+n     rest  the payload (JSON bytes) as one LZ4 block, `raw_len` bytes once decompressed:
//!               format 2 against the built-in dictionary (`codec::DICTIONARY_V1`), format 1 alone
//! ```
//!
//! The payload is TMDB's own JSON, validated when it was stored: for a list, the bytes of its
//! `results` array; for a movie, the whole details object. What the response envelope needs
//! besides (counts, page numbers) lives in the metadata, so a hit never parses JSON.
//!
//! A negative entry (TMDB said 404 for this movie id) is format 3: format 2's layout, its shape
//! `Shape::Missing` and an empty payload. Only negative entries carry format 3, so a build that
//! reads formats 1 and 2 still reads every other entry (and takes a negative one for damage: a
//! miss).

use bincode::{Decode, Encode};

use super::codec;

/// The entry format written. Format 1 (the same layout, plain LZ4) is still read; anything else
/// decodes as `EnvelopeError::Format`.
pub const FORMAT: u8 = 2;
/// The first format, written by reelcache before the dictionary.
pub const FORMAT_PLAIN_LZ4: u8 = 1;
/// Format 2 with `Shape::Missing` possible: written for negative entries only.
pub const FORMAT_NEGATIVE: u8 = 3;
const HEADER: usize = 5;
/// Refuse absurd sizes from a damaged header before allocating for them.
const MAX_RAW_LEN: u32 = 64 * 1024 * 1024;

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct EntryMeta {
    /// When the entry was fetched from TMDB, in Unix milliseconds.
    pub stored_at_ms: u64,
    /// When it stops being fresh, in Unix milliseconds.
    pub expires_at_ms: u64,
    /// A 64-bit hash of the payload, the basis of the response's ETag.
    pub etag: u64,
    pub shape: Shape,
    /// Payload length once decompressed.
    pub raw_len: u32,
}

/// What kind of TMDB document the payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum Shape {
    /// A single JSON object (movie details).
    Object,
    /// The `results` array of a paged list, with the list's numbers.
    List(ListMeta),
    /// Nothing: TMDB answered 404 for this movie id (a negative entry, format 3).
    Missing,
}

/// The list numbers are a domain type (the TMDB client reads them, the envelope stores them).
pub use crate::domain::list::ListMeta;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("entry is shorter than its header")]
    Truncated,
    #[error(
        "entry has format {0}, this build reads formats {FORMAT_PLAIN_LZ4} to {FORMAT_NEGATIVE}"
    )]
    Format(u8),
    #[error("entry checksum does not match its contents")]
    Checksum,
    #[error("entry metadata does not decode: {0}")]
    Meta(String),
    #[error("entry payload does not decompress to its recorded length")]
    Payload,
}

/// A payload hash used for ETags and snapshot integrity: stable across runs and versions.
pub fn payload_hash(raw: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(raw)
}

/// Encodes one entry with LZ4-HC. `meta.raw_len` and `meta.etag` are set here from `raw`. It
/// costs about 0.2 ms for a 14 KB page: call it from a blocking context.
pub fn encode(meta: EntryMeta, raw: &[u8]) -> Vec<u8> {
    encode_with(meta, raw, FORMAT, codec::compress_into)
}

/// The same entry in format 1, by the fast LZ4 compressor without the dictionary (~0.03 ms a
/// page), for a document that must be stored at once (`PageCache::put`, or a miss whose LZ4-HC
/// encoding is slow to come): larger, and re-encoded later.
pub fn encode_fast(meta: EntryMeta, raw: &[u8]) -> Vec<u8> {
    encode_with(meta, raw, FORMAT_PLAIN_LZ4, codec::compress_plain_into)
}

fn encode_with(
    mut meta: EntryMeta,
    raw: &[u8],
    format: u8,
    compress: fn(&[u8], &mut Vec<u8>),
) -> Vec<u8> {
    meta.raw_len = raw.len() as u32;
    meta.etag = payload_hash(raw);
    let mut out = Vec::with_capacity(HEADER + 32 + raw.len() / 2);
    out.push(format);
    out.extend_from_slice(&[0; 4]);
    bincode::encode_into_std_write(meta, &mut out, bincode_config())
        .expect("writing to a Vec cannot fail");
    compress(raw, &mut out);
    let crc = crc32fast::hash(&out[HEADER..]);
    out[1..HEADER].copy_from_slice(&crc.to_le_bytes());
    out
}

/// A negative entry: TMDB has no such movie, from `meta.stored_at_ms` to `meta.expires_at_ms`.
pub fn encode_negative(meta: EntryMeta) -> Vec<u8> {
    let meta = EntryMeta {
        shape: Shape::Missing,
        ..meta
    };
    encode_with(meta, b"", FORMAT_NEGATIVE, codec::compress_into)
}

/// A checked view of an encoded entry: the header verified, the payload still compressed.
#[derive(Debug, Clone, Copy)]
pub struct Decoded<'a> {
    pub meta: EntryMeta,
    compressed: &'a [u8],
    /// Format 2: the block was made against the built-in dictionary.
    dictionary: bool,
}

/// Verifies the format byte and checksum and decodes the metadata. Cheap: no decompression.
pub fn decode(bytes: &[u8]) -> Result<Decoded<'_>, EnvelopeError> {
    if bytes.len() < HEADER {
        return Err(EnvelopeError::Truncated);
    }
    let dictionary = match bytes[0] {
        FORMAT | FORMAT_NEGATIVE => true,
        FORMAT_PLAIN_LZ4 => false,
        other => return Err(EnvelopeError::Format(other)),
    };
    let stored_crc = u32::from_le_bytes(bytes[1..HEADER].try_into().expect("4 bytes"));
    if crc32fast::hash(&bytes[HEADER..]) != stored_crc {
        return Err(EnvelopeError::Checksum);
    }
    let (meta, used): (EntryMeta, usize) =
        bincode::decode_from_slice(&bytes[HEADER..], bincode_config())
            .map_err(|e| EnvelopeError::Meta(e.to_string()))?;
    if meta.raw_len > MAX_RAW_LEN {
        return Err(EnvelopeError::Meta("recorded length is implausible".into()));
    }
    // The format byte is outside the checksum: it must agree with the shape.
    if (bytes[0] == FORMAT_NEGATIVE) != (meta.shape == Shape::Missing) {
        return Err(EnvelopeError::Meta(
            "format 3 is a negative entry's, and only it".into(),
        ));
    }
    Ok(Decoded {
        meta,
        compressed: &bytes[HEADER + used..],
        dictionary,
    })
}

impl Decoded<'_> {
    /// See [`render`].
    pub fn render(&self, prefix: &[u8], suffix: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        render(
            self.compressed,
            self.meta.raw_len,
            self.dictionary,
            prefix,
            suffix,
        )
    }

    /// The payload alone.
    pub fn payload(&self) -> Result<Vec<u8>, EnvelopeError> {
        self.render(&[], &[])
    }

    /// Whether the payload was compressed against the built-in dictionary (format 2).
    pub fn uses_dictionary(&self) -> bool {
        self.dictionary
    }

    /// Where the compressed payload starts in the encoded entry.
    pub fn payload_offset(&self, encoded: &[u8]) -> usize {
        encoded.len() - self.compressed.len()
    }
}

/// Decompresses a payload into one buffer between `prefix` and `suffix`: a response body is built
/// with a single allocation and no extra copy of the payload.
pub fn render(
    compressed: &[u8],
    raw_len: u32,
    dictionary: bool,
    prefix: &[u8],
    suffix: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    let raw_len = raw_len as usize;
    let mut out = Vec::with_capacity(prefix.len() + raw_len + suffix.len());
    out.extend_from_slice(prefix);
    out.resize(prefix.len() + raw_len, 0);
    let written = codec::decompress_into(compressed, &mut out[prefix.len()..], dictionary)
        .ok_or(EnvelopeError::Payload)?;
    if written != raw_len {
        return Err(EnvelopeError::Payload);
    }
    out.extend_from_slice(suffix);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> EntryMeta {
        EntryMeta {
            stored_at_ms: 1_700_000_000_000,
            expires_at_ms: 1_700_000_360_000,
            etag: 0,
            shape: Shape::List(ListMeta {
                page: 2,
                total_pages: 1000,
                total_results: 20000,
                items: 1,
            }),
            raw_len: 0,
        }
    }

    #[test]
    fn round_trips_between_prefix_and_suffix() {
        let raw = br#"[{"id":1,"title":"A film, a film, a film"}]"#;
        let bytes = encode(meta(), raw);
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.meta.raw_len as usize, raw.len());
        assert_eq!(decoded.meta.etag, payload_hash(raw));
        let body = decoded.render(b"{\"data\":", b"}").unwrap();
        assert_eq!(body, [&b"{\"data\":"[..], raw, b"}"].concat());
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let bytes = encode(meta(), br#"{"id":550,"title":"Fight Club"}"#);
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[i] ^= 1 << bit;
                assert!(
                    decode(&damaged).is_err(),
                    "flip at byte {i} bit {bit} not detected"
                );
            }
        }
    }

    #[test]
    fn truncation_and_other_formats_are_refused() {
        let bytes = encode(meta(), b"[]");
        for len in 0..bytes.len() {
            assert!(
                decode(&bytes[..len]).is_err(),
                "truncated to {len} accepted"
            );
        }
        let mut other = bytes.clone();
        other[0] = 4;
        assert_eq!(decode(&other).unwrap_err(), EnvelopeError::Format(4));
    }

    #[test]
    fn a_negative_entry_is_format_3_with_nothing_in_it_and_no_other_is() {
        let negative = encode_negative(meta());
        for i in 0..negative.len() {
            for bit in 0..8 {
                let mut damaged = negative.clone();
                damaged[i] ^= 1 << bit;
                assert!(decode(&damaged).is_err(), "flip at byte {i} bit {bit}");
            }
        }
        let mut relabelled = encode(meta(), b"[]");
        relabelled[0] = FORMAT_NEGATIVE;
        assert!(decode(&relabelled).is_err());
    }

    #[test]
    fn a_negative_entry_is_format_3_with_nothing_in_it() {
        let bytes = encode_negative(meta());
        assert_eq!(bytes[0], FORMAT_NEGATIVE);
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.meta.shape, Shape::Missing);
        assert_eq!(decoded.meta.expires_at_ms, meta().expires_at_ms);
        assert_eq!(decoded.payload().unwrap(), b"");
    }
}
