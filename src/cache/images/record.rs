//! One stored image as bytes: the file an image is kept in, and the value of an image record in
//! a snapshot. Format version 1 (documented in `docs/FORMATS.md`):
//!
//! ```text
//! magic         8 bytes  "RCIMG\r\n\x1a"
//! version       u16 LE   1
//! type          u8       1 JPEG, 2 PNG, 3 WebP, 4 GIF, 5 SVG
//! reserved      u8       0
//! stored_at_ms  u64 LE   when it was fetched (Unix milliseconds)
//! key_len       u16 LE
//! key           UTF-8    "w342/kqjL17yufvn9OVLyXYpvtyrFfak.jpg"
//! len           u32 LE   length of the image bytes
//! bytes         len bytes, exactly as TMDB's image server sent them
//! crc32         u32 LE   CRC-32 (IEEE) of every byte before it
//! ```
//!
//! Decoding checks every field (and that nothing follows the bytes): a torn write, a flipped bit
//! or a file moved under another name is refused, never served.

use bytes::Bytes;

use crate::domain::image::{ImagePath, ImageType};

pub const MAGIC: &[u8; 8] = b"RCIMG\r\n\x1a";
pub const VERSION: u16 = 1;
/// The most image bytes one record holds.
pub const MAX_LEN: u32 = crate::domain::image::MAX_IMAGE_BYTES;
const MAX_KEY: usize = 256;

/// An image as stored and served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredImage {
    pub key: String,
    pub kind: ImageType,
    pub stored_at_ms: u64,
    /// CRC-32 of `bytes` (the ETag's; not the record's checksum, which covers the header too).
    pub crc32: u32,
    pub bytes: Bytes,
}

impl StoredImage {
    pub fn new(path: &ImagePath, kind: ImageType, stored_at_ms: u64, bytes: Bytes) -> Self {
        StoredImage {
            key: path.to_string(),
            kind,
            stored_at_ms,
            crc32: crc32fast::hash(&bytes),
            bytes,
        }
    }

    /// A strong validator: the bytes' checksum and length (TMDB's image paths are immutable,
    /// so the same path always has the same bytes).
    pub fn etag(&self) -> String {
        format!("\"i{:08x}-{:x}\"", self.crc32, self.bytes.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("not an image record (bad magic bytes)")]
    Magic,
    #[error("image record format version {0} is not supported (this build reads version 1)")]
    Version(u16),
    #[error("image record is damaged: {0}")]
    Damaged(&'static str),
}

pub fn encode(image: &StoredImage) -> Vec<u8> {
    let mut out = Vec::with_capacity(30 + image.key.len() + image.bytes.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.push(image.kind as u8);
    out.push(0);
    out.extend_from_slice(&image.stored_at_ms.to_le_bytes());
    out.extend_from_slice(&(image.key.len() as u16).to_le_bytes());
    out.extend_from_slice(image.key.as_bytes());
    out.extend_from_slice(&(image.bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&image.bytes);
    let checksum = crc32fast::hash(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if self.0.len() < n {
            return Err(RecordError::Damaged("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }
}

/// The record in `bytes`, fully checked. `bytes` is shared, not copied.
pub fn decode(bytes: Bytes) -> Result<StoredImage, RecordError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(RecordError::Magic);
    }
    if bytes.len() < 4 {
        return Err(RecordError::Damaged("truncated"));
    }
    let (covered, tail) = bytes.split_at(bytes.len() - 4);
    let version = u16::from_le_bytes([
        *covered.get(8).ok_or(RecordError::Damaged("truncated"))?,
        *covered.get(9).ok_or(RecordError::Damaged("truncated"))?,
    ]);
    if version != VERSION {
        return Err(RecordError::Version(version));
    }
    if crc32fast::hash(covered) != u32::from_le_bytes(tail.try_into().expect("4 bytes")) {
        return Err(RecordError::Damaged("checksum does not match"));
    }
    let mut at = Cursor(covered);
    if at.take(8).map_err(|_| RecordError::Magic)? != MAGIC {
        return Err(RecordError::Magic);
    }
    let version = u16::from_le_bytes(at.array()?);
    if version != VERSION {
        return Err(RecordError::Version(version));
    }
    let [code, _reserved] = at.array()?;
    let kind = ImageType::from_code(code).ok_or(RecordError::Damaged("unknown image type"))?;
    let stored_at_ms = u64::from_le_bytes(at.array()?);
    let key_len = u16::from_le_bytes(at.array()?) as usize;
    if key_len == 0 || key_len > MAX_KEY {
        return Err(RecordError::Damaged("implausible key length"));
    }
    let key = std::str::from_utf8(at.take(key_len)?)
        .map_err(|_| RecordError::Damaged("key is not UTF-8"))?
        .to_owned();
    let path: ImagePath = key
        .parse()
        .map_err(|_| RecordError::Damaged("key is not an image path"))?;
    if path.expected_type() != kind {
        return Err(RecordError::Damaged("type does not match the file name"));
    }
    let len = u32::from_le_bytes(at.array()?);
    if len > MAX_LEN {
        return Err(RecordError::Damaged("implausible length"));
    }
    if at.0.len() != len as usize {
        return Err(RecordError::Damaged("length does not match"));
    }
    let start = covered.len() - len as usize;
    let body = bytes.slice(start..covered.len());
    Ok(StoredImage {
        key,
        kind,
        stored_at_ms,
        crc32: crc32fast::hash(&body),
        bytes: body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredImage {
        let path = ImagePath::parse("w342", "abc.svg").unwrap();
        StoredImage::new(&path, ImageType::Svg, 42, Bytes::from_static(b"<svg/>"))
    }

    #[test]
    fn round_trips_and_refuses_every_damage() {
        let image = sample();
        let encoded = encode(&image);
        assert_eq!(decode(Bytes::from(encoded.clone())).unwrap(), image);
        // Any one byte changed is refused.
        for at in 0..encoded.len() {
            let mut damaged = encoded.clone();
            damaged[at] ^= 0x01;
            assert!(decode(Bytes::from(damaged)).is_err(), "byte {at}");
        }
        for cut in 0..encoded.len() {
            assert!(decode(Bytes::from(encoded[..cut].to_vec())).is_err());
        }
        let mut longer = encoded.clone();
        longer.push(0);
        assert!(decode(Bytes::from(longer)).is_err());
    }
}
