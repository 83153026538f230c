//! Snapshots: the whole page cache (or some namespaces) in one portable file, independent of
//! sled's on-disk format, so a prepared data set moves between machines and reelcache versions.
//! Format (documented in `docs/FORMATS.md`):
//!
//! ```text
//! magic        8 bytes   "RCSNAP\r\n"
//! version      u16 LE    2 (1: the same without image records; still read)
//! header_len   u32 LE
//! header       bincode 2 standard: SnapshotHeader
//! records      0x01, key_len u16 LE, key (UTF-8), value_len u32 LE, value (a cache envelope)
//!              0x02, key_len u16 LE, key (UTF-8, "w342/abc.jpg"), value_len u32 LE,
//!                    value (an image record, `cache/images/record.rs`): version 2 only
//! end          0xFF, record count u64 LE, XXH3-64 u64 LE of every byte before the 0xFF
//! ```
//!
//! Import reads the whole file and checks everything (magic, version, every record's envelope
//! checksum, the count, the file hash, nothing after the end) before it writes a single entry.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use bincode::{Decode, Encode};
use xxhash_rust::xxh3::Xxh3;

use crate::cache::images::{ImageStore, StoredImage, record as image_record};
use crate::cache::{CacheKey, PageCache, envelope, key};

pub const MAGIC: &[u8; 8] = b"RCSNAP\r\n";
pub const VERSION: u16 = 2;
/// The oldest version this build reads.
const OLDEST_VERSION: u16 = 1;
const RECORD: u8 = 0x01;
const IMAGE: u8 = 0x02;
/// The namespace images are counted under (and asked for by, in `--namespace`).
pub const IMAGES: &str = "images";
const END: u8 = 0xFF;
/// Keys are short; anything longer is damage.
const MAX_KEY: usize = 1024;
const MAX_HEADER: u32 = 1024 * 1024;
const MAX_VALUE: u32 = 128 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct SnapshotHeader {
    /// When the snapshot was written, Unix milliseconds.
    pub created_at_ms: u64,
    /// `reelcache <version>` that wrote it.
    pub producer: String,
    /// Free text; the demo snapshot says here that its data is synthetic.
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read {0}")]
    Io(String),
    #[error("not a reelcache snapshot (bad magic bytes)")]
    Magic,
    #[error(
        "snapshot format version {0} is not supported (this build reads versions \
         {OLDEST_VERSION} to {VERSION})"
    )]
    Version(u16),
    #[error("snapshot is damaged: {0}")]
    Damaged(String),
    #[error("snapshot is truncated")]
    Truncated,
    #[error("cache store: {0}")]
    Store(String),
}

/// What an export or import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotSummary {
    pub entries: u64,
    pub bytes: u64,
    pub namespaces: std::collections::BTreeMap<String, u64>,
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// A writer that hashes what passes through it.
struct HashingWriter<W: Write> {
    inner: W,
    hash: Xxh3,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes every entry whose namespace is in `namespaces` (all movie data and every image when
/// empty; `images` names the images; user data never travels in snapshots) to `path`,
/// atomically (a temporary file renamed into place). Blocking. `progress` is called with bytes
/// written.
pub fn export(
    cache: &PageCache,
    images: Option<&ImageStore>,
    path: &Path,
    namespaces: &[String],
    header: &SnapshotHeader,
    progress: &mut dyn FnMut(u64),
) -> Result<SnapshotSummary, SnapshotError> {
    let io = |e: std::io::Error| SnapshotError::Io(format!("{}: {e}", path.display()));
    let tmp = path.with_extension("partial");
    let file = File::create(&tmp).map_err(io)?;
    let mut out = HashingWriter {
        inner: BufWriter::new(file),
        hash: Xxh3::new(),
        written: 0,
    };
    let header_bytes =
        bincode::encode_to_vec(header, bincode_config()).expect("encoding to a Vec cannot fail");
    out.write_all(MAGIC).map_err(io)?;
    out.write_all(&VERSION.to_le_bytes()).map_err(io)?;
    out.write_all(&(header_bytes.len() as u32).to_le_bytes())
        .map_err(io)?;
    out.write_all(&header_bytes).map_err(io)?;

    let mut summary = SnapshotSummary::default();
    for item in cache.scan_blocking("") {
        let (key, value) = item.map_err(|e| SnapshotError::Store(e.to_string()))?;
        let namespace = key::namespace_of(&key).to_owned();
        let wanted = if namespaces.is_empty() {
            key::SNAPSHOT_NAMESPACES.contains(&namespace.as_str())
        } else {
            namespaces.contains(&namespace)
        };
        if !wanted {
            continue;
        }
        // Never export what would be refused on import.
        let Ok(decoded) = envelope::decode(&value) else {
            tracing::warn!(%key, "skipping an unreadable entry");
            continue;
        };
        // Negative entries live minutes and are this instance's view of TMDB: not demo data
        // (and format 3, which builds before it take for damage).
        if decoded.meta.shape == envelope::Shape::Missing {
            continue;
        }
        if key.len() > MAX_KEY {
            tracing::warn!(%key, "skipping an unreadable entry");
            continue;
        }
        // An entry still in the fast encoding (its re-encoding had not come when this ran) is
        // written in the small one: the file is the same whatever the encoder thread got to.
        let value = match decoded.uses_dictionary() {
            true => value,
            false => match decoded.payload() {
                Ok(raw) => bytes::Bytes::from(envelope::encode(decoded.meta, &raw)),
                Err(_) => {
                    tracing::warn!(%key, "skipping an unreadable entry");
                    continue;
                }
            },
        };
        out.write_all(&[RECORD]).map_err(io)?;
        out.write_all(&(key.len() as u16).to_le_bytes())
            .map_err(io)?;
        out.write_all(key.as_bytes()).map_err(io)?;
        out.write_all(&(value.len() as u32).to_le_bytes())
            .map_err(io)?;
        out.write_all(&value).map_err(io)?;
        summary.entries += 1;
        *summary.namespaces.entry(namespace).or_default() += 1;
        progress(out.written);
    }
    let images_wanted = namespaces.is_empty() || namespaces.iter().any(|n| n == IMAGES);
    if let Some(images) = images.filter(|_| images_wanted) {
        for image in images.scan() {
            let value = image_record::encode(&image);
            if image.key.len() > MAX_KEY || value.len() > MAX_VALUE as usize {
                continue;
            }
            out.write_all(&[IMAGE]).map_err(io)?;
            out.write_all(&(image.key.len() as u16).to_le_bytes())
                .map_err(io)?;
            out.write_all(image.key.as_bytes()).map_err(io)?;
            out.write_all(&(value.len() as u32).to_le_bytes())
                .map_err(io)?;
            out.write_all(&value).map_err(io)?;
            summary.entries += 1;
            *summary.namespaces.entry(IMAGES.to_owned()).or_default() += 1;
            progress(out.written);
        }
    }
    let digest = out.hash.digest();
    out.write_all(&[END]).map_err(io)?;
    out.write_all(&summary.entries.to_le_bytes()).map_err(io)?;
    out.write_all(&digest.to_le_bytes()).map_err(io)?;
    summary.bytes = out.written;
    let file = out.inner.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(summary)
}

/// A reader over a snapshot that hashes what it reads and counts bytes.
struct SnapshotReader<R: Read> {
    inner: R,
    hash: Xxh3,
    read: u64,
}

impl<R: Read> SnapshotReader<R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), SnapshotError> {
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => SnapshotError::Truncated,
            _ => SnapshotError::Io(e.to_string()),
        })?;
        self.hash.update(buf);
        self.read += buf.len() as u64;
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut buf = [0; N];
        self.exact(&mut buf)?;
        Ok(buf)
    }

    fn vec(&mut self, len: usize) -> Result<Vec<u8>, SnapshotError> {
        let mut buf = vec![0; len];
        self.exact(&mut buf)?;
        Ok(buf)
    }
}

/// One record of a snapshot, checked.
enum Record {
    /// A page-cache entry: its key and envelope.
    Page(String, Vec<u8>),
    Image(StoredImage),
}

/// Reads a snapshot from start to end, verifying everything, and hands each record to `visit`.
fn read(
    source: impl Read,
    visit: &mut dyn FnMut(Record) -> Result<(), SnapshotError>,
    progress: &mut dyn FnMut(u64),
) -> Result<(SnapshotHeader, SnapshotSummary), SnapshotError> {
    let mut r = SnapshotReader {
        inner: BufReader::new(source),
        hash: Xxh3::new(),
        read: 0,
    };
    let magic: [u8; 8] = r.array().map_err(|_| SnapshotError::Magic)?;
    if &magic != MAGIC {
        return Err(SnapshotError::Magic);
    }
    let version = u16::from_le_bytes(r.array()?);
    if !(OLDEST_VERSION..=VERSION).contains(&version) {
        return Err(SnapshotError::Version(version));
    }
    let header_len = u32::from_le_bytes(r.array()?);
    if header_len > MAX_HEADER {
        return Err(SnapshotError::Damaged("implausible header length".into()));
    }
    let header_bytes = r.vec(header_len as usize)?;
    let (header, _): (SnapshotHeader, usize) =
        bincode::decode_from_slice(&header_bytes, bincode_config())
            .map_err(|e| SnapshotError::Damaged(format!("header: {e}")))?;

    let mut summary = SnapshotSummary::default();
    loop {
        let before_tag = r.hash.digest();
        let [tag] = r.array()?;
        match tag {
            RECORD => {
                let key_len = u16::from_le_bytes(r.array()?) as usize;
                if key_len == 0 || key_len > MAX_KEY {
                    return Err(SnapshotError::Damaged("implausible key length".into()));
                }
                let key = String::from_utf8(r.vec(key_len)?)
                    .map_err(|_| SnapshotError::Damaged("a key is not UTF-8".into()))?;
                let namespace = key::namespace_of(&key).to_owned();
                if !key::SNAPSHOT_NAMESPACES.contains(&namespace.as_str()) {
                    return Err(SnapshotError::Damaged(format!(
                        "unknown namespace in key '{key}'"
                    )));
                }
                let value_len = u32::from_le_bytes(r.array()?);
                if value_len > MAX_VALUE {
                    return Err(SnapshotError::Damaged("implausible value length".into()));
                }
                let value = r.vec(value_len as usize)?;
                envelope::decode(&value)
                    .map_err(|e| SnapshotError::Damaged(format!("entry '{key}': {e}")))?;
                summary.entries += 1;
                summary.bytes = r.read;
                *summary.namespaces.entry(namespace).or_default() += 1;
                visit(Record::Page(key, value))?;
                progress(r.read);
            }
            IMAGE if version >= 2 => {
                let key_len = u16::from_le_bytes(r.array()?) as usize;
                if key_len == 0 || key_len > MAX_KEY {
                    return Err(SnapshotError::Damaged("implausible key length".into()));
                }
                let key = String::from_utf8(r.vec(key_len)?)
                    .map_err(|_| SnapshotError::Damaged("a key is not UTF-8".into()))?;
                let value_len = u32::from_le_bytes(r.array()?);
                if value_len > MAX_VALUE {
                    return Err(SnapshotError::Damaged("implausible value length".into()));
                }
                let value = r.vec(value_len as usize)?;
                let image = image_record::decode(bytes::Bytes::from(value))
                    .map_err(|e| SnapshotError::Damaged(format!("image '{key}': {e}")))?;
                if image.key != key {
                    return Err(SnapshotError::Damaged(format!(
                        "image '{key}' holds '{}'",
                        image.key
                    )));
                }
                summary.entries += 1;
                summary.bytes = r.read;
                *summary.namespaces.entry(IMAGES.to_owned()).or_default() += 1;
                visit(Record::Image(image))?;
                progress(r.read);
            }
            END => {
                let count = u64::from_le_bytes(r.array()?);
                let digest = u64::from_le_bytes(r.array()?);
                if count != summary.entries {
                    return Err(SnapshotError::Damaged(format!(
                        "{} entries found, {count} recorded",
                        summary.entries
                    )));
                }
                if digest != before_tag {
                    return Err(SnapshotError::Damaged(
                        "file checksum does not match".into(),
                    ));
                }
                let mut extra = [0u8; 1];
                if r.inner
                    .read(&mut extra)
                    .map_err(|e| SnapshotError::Io(e.to_string()))?
                    != 0
                {
                    return Err(SnapshotError::Damaged("bytes after the end marker".into()));
                }
                summary.bytes = r.read;
                return Ok((header, summary));
            }
            _ => return Err(SnapshotError::Damaged("unknown record tag".into())),
        }
    }
}

/// Checks a whole snapshot without changing anything.
pub fn verify(
    path: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<(SnapshotHeader, SnapshotSummary), SnapshotError> {
    read(open(path)?, &mut |_| Ok(()), progress)
}

fn open(path: &Path) -> Result<File, SnapshotError> {
    File::open(path).map_err(|e| SnapshotError::Io(format!("{}: {e}", path.display())))
}

/// Passes reads through, keeping a copy of every byte read.
struct Tee<'a, R: Read, W: Write> {
    inner: R,
    copy: &'a mut W,
}

impl<R: Read, W: Write> Read for Tee<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// A private copy of a snapshot is kept in memory up to this, in an unnamed temporary file past
/// it.
const COPY_IN_MEMORY: usize = 64 * 1024 * 1024;

/// Verifies the whole file, then loads it: entries in the snapshot replace entries with the same
/// key; other entries are kept. Blocking.
///
/// The file is read once: verified while it is copied to a private, unnamed copy, and the copy
/// is what is loaded. A file changed (or replaced) by someone else meanwhile can therefore not
/// be loaded half: what is loaded is exactly what was verified.
pub fn import(
    cache: &PageCache,
    images: Option<&ImageStore>,
    path: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<(SnapshotHeader, SnapshotSummary), SnapshotError> {
    import_from(cache, images, open(path)?, progress)
}

/// The synthetic demo data, compiled in: a binary started anywhere, with no data directory
/// prepared, serves the demo offline. `data/demo.rcsnap` is what `dev make-demo` writes; this is
/// that file as it was when the binary was built.
pub static DEMO: &[u8] = include_bytes!("../../data/demo.rcsnap");

/// `import` from any reader, read once in the same way. Images go to `images` (skipped
/// without one); an image the disk refuses is left out, as any cache write that fails.
pub fn import_from(
    cache: &PageCache,
    images: Option<&ImageStore>,
    source: impl Read,
    progress: &mut dyn FnMut(u64),
) -> Result<(SnapshotHeader, SnapshotSummary), SnapshotError> {
    let copy_error = |e: std::io::Error| SnapshotError::Io(format!("a private copy: {e}"));
    let mut copy = tempfile::spooled_tempfile(COPY_IN_MEMORY);
    read(
        Tee {
            inner: source,
            copy: &mut copy,
        },
        &mut |_| Ok(()),
        &mut |_| {},
    )?;
    copy.seek(SeekFrom::Start(0)).map_err(copy_error)?;
    let mut batch = Vec::with_capacity(BATCH);
    let flush = |batch: &mut Vec<(CacheKey, Vec<u8>)>| {
        cache
            .put_batch_blocking(std::mem::take(batch))
            .map_err(|e| SnapshotError::Store(e.to_string()))
    };
    let result = read(
        &mut copy,
        &mut |record| {
            match record {
                Record::Page(key, value) => {
                    batch.push((CacheKey::from_stored(key), value));
                    if batch.len() >= BATCH {
                        flush(&mut batch)?;
                    }
                }
                Record::Image(image) => {
                    if let Some(images) = images {
                        let _ = images.put(&image);
                    }
                }
            }
            Ok(())
        },
        progress,
    )?;
    flush(&mut batch)?;
    Ok(result)
}

const BATCH: usize = 512;

/// Size of a file, for progress bars.
pub fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cache::{EntryMeta, Shape, SledSlot, Store, hot::HotTier};

    fn cache_in(dir: &Path) -> PageCache {
        let settings = crate::config::Settings::defaults_in(dir);
        let slot = SledSlot::open(dir, &settings.cache).unwrap();
        PageCache::new(
            Store::Sled(slot),
            Arc::new(crate::counters::Counters::default()),
            0,
            HotTier::new(0, None),
        )
    }

    fn test_header() -> SnapshotHeader {
        SnapshotHeader {
            created_at_ms: 1,
            producer: "test".into(),
            description: String::new(),
        }
    }

    fn test_meta() -> EntryMeta {
        EntryMeta {
            stored_at_ms: 5,
            expires_at_ms: 10,
            etag: 0,
            shape: Shape::Object,
            raw_len: 0,
        }
    }

    fn entry(id: u32) -> Vec<u8> {
        envelope::encode(test_meta(), format!(r#"{{"id":{id}}}"#).as_bytes())
    }

    #[test]
    fn a_file_changed_during_an_import_never_leaves_half_of_it_imported() {
        let source = tempfile::tempdir().unwrap();
        let cache = cache_in(source.path());
        // More entries than one batch, so a load that fails late would have written some.
        let entries: Vec<(CacheKey, Vec<u8>)> = (1..=3 * BATCH as u32)
            .map(|id| (CacheKey::from_stored(format!("movie:{id}")), entry(id)))
            .collect();
        cache.put_batch_blocking(entries).unwrap();
        let file = source.path().join("snap.rcsnap");
        let header = test_header();
        export(&cache, None, &file, &[], &header, &mut |_| {}).unwrap();

        let target = tempfile::tempdir().unwrap();
        let cache = cache_in(target.path());
        // Someone rewrites the file as soon as the import has read its first record: its end no
        // longer matches what came before.
        let mut changed = false;
        let result = import(&cache, None, &file, &mut |_| {
            if !changed {
                changed = true;
                let mut bytes = std::fs::read(&file).unwrap();
                let near_end = bytes.len() - 40;
                bytes[near_end] ^= 0xFF;
                std::fs::write(&file, bytes).unwrap();
            }
        });
        let stored = cache.scan_blocking("").count();
        match result {
            Ok((_, summary)) => assert_eq!(stored as u64, summary.entries),
            Err(e) => assert_eq!(stored, 0, "failed ({e}) after writing {stored} entries"),
        }
        assert!(changed, "the file was changed during the import");
    }

    #[test]
    fn a_snapshot_is_the_same_whichever_encoding_its_entries_were_stored_in() {
        let header = test_header();
        let meta = test_meta();
        let raw = br#"{"id":7,"title":"A title, a title, a title"}"#;
        let mut files = Vec::new();
        for encoded in [
            envelope::encode_fast(meta, raw),
            envelope::encode(meta, raw),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let cache = cache_in(dir.path());
            let key = CacheKey::from_stored("movie:7".to_owned());
            cache.put_batch_blocking(vec![(key, encoded)]).unwrap();
            let file = dir.path().join("snap.rcsnap");
            export(&cache, None, &file, &[], &header, &mut |_| {}).unwrap();
            files.push(std::fs::read(&file).unwrap());
        }
        assert_eq!(files[0], files[1]);
        // And it reads back as the document stored.
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_in(dir.path());
        let file = dir.path().join("snap.rcsnap");
        std::fs::write(&file, &files[0]).unwrap();
        import(&cache, None, &file, &mut |_| {}).unwrap();
        let (_, value) = cache.scan_blocking("").next().unwrap().unwrap();
        let decoded = envelope::decode(&value).unwrap();
        assert!(decoded.uses_dictionary());
        assert_eq!(decoded.payload().unwrap(), raw);
    }
}
