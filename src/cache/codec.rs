//! The payload codec: one LZ4 block per entry.
//!
//! Format 2 entries are compressed with LZ4-HC against [`DICTIONARY_V1`], a dictionary of TMDB's
//! JSON vocabulary built into the binary: field names, the shape of list items and movie details,
//! genre and language values. A TMDB page repeats that vocabulary in every item, and most of what
//! a fresh LZ4 block cannot reference in its first items is in the dictionary. Any LZ4 block
//! decoder reads the result given the same dictionary; decompression costs what plain LZ4 costs.
//! Format 1 entries (plain LZ4, no dictionary) are still read.
//!
//! The dictionary is part of the on-disk format: its bytes never change. A different dictionary
//! would be a new format byte. `reelcache dev make-dict` shows how version 1 was made.

use std::cell::RefCell;

use lzzzz::lz4_hc;

/// Dictionary version 1: made by `reelcache dev make-dict` from the synthetic catalogue (two movie
/// details and two list pages' `results`, compact JSON). Frozen; see `docs/FORMATS.md`.
pub static DICTIONARY_V1: &[u8] = include_bytes!("lz4_dict_v1.bin");

/// xxh3-64 of [`DICTIONARY_V1`]; a test holds the file to it.
pub const DICTIONARY_V1_HASH: u64 = 0x29ed_aeab_f3c4_b2aa;

/// LZ4-HC level. Level 3 gets nearly all of HC's gain on TMDB pages (0.37 of the raw bytes with
/// the dictionary, against 0.36 at level 9) at half the time; see BENCHMARKS.md "Compression".
const LEVEL: i32 = 3;

/// The dictionary loaded into an HC stream once per thread, and a working stream reset before each
/// block. Both are about 256 KiB; blocking-pool threads that compress keep one pair each.
struct Streams {
    dictionary: lz4_hc::Compressor<'static>,
    work: lz4_hc::Compressor<'static>,
}

thread_local! {
    static STREAMS: RefCell<Option<Streams>> = const { RefCell::new(None) };
}

fn new_streams() -> Option<Streams> {
    Some(Streams {
        dictionary: lz4_hc::Compressor::with_dict(DICTIONARY_V1, LEVEL).ok()?,
        work: lz4_hc::Compressor::new().ok()?,
    })
}

/// Compresses `raw` as one LZ4 block against [`DICTIONARY_V1`], appended to `out`.
pub fn compress_into(raw: &[u8], out: &mut Vec<u8>) {
    let done = !raw.is_empty()
        && STREAMS.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                *slot = new_streams();
            }
            let Some(Streams { dictionary, work }) = slot.as_mut() else {
                return false;
            };
            // A reset, then the dictionary attached (not copied), then the level: the attached
            // stream does not carry its level over.
            work.attach_dict(None, LEVEL);
            work.attach_dict(Some(dictionary), LEVEL);
            work.set_compression_level(LEVEL);
            let start = out.len();
            match work.next_to_vec(raw, out) {
                Ok(_) => true,
                Err(_) => {
                    out.truncate(start);
                    false
                }
            }
        });
    if !done {
        // An empty input, or an HC stream that could not be allocated.
        compress_fast_into(raw, out);
    }
}

/// The same block format from the fast LZ4 compressor (~0.44 of the raw bytes instead of ~0.37).
fn compress_fast_into(raw: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&lz4_flex::block::compress_with_dict(raw, DICTIONARY_V1));
}

/// Compresses `raw` as one plain LZ4 block (no dictionary: format 1), appended to `out`, with
/// liblz4's fast compressor, which takes about half the instructions of `lz4_flex`'s on TMDB
/// pages; it is the one compression on a miss's way to its answer.
pub fn compress_plain_into(raw: &[u8], out: &mut Vec<u8>) {
    if raw.is_empty()
        || lzzzz::lz4::compress_to_vec(raw, out, lzzzz::lz4::ACC_LEVEL_DEFAULT).is_err()
    {
        out.extend_from_slice(&lz4_flex::block::compress(raw));
    }
}

/// Decompresses one block into `out`, which must be exactly the payload's length. `dictionary`
/// says whether the block was made against [`DICTIONARY_V1`] (format 2) or alone (format 1).
pub fn decompress_into(compressed: &[u8], out: &mut [u8], dictionary: bool) -> Option<usize> {
    let written = if dictionary {
        lz4_flex::block::decompress_into_with_dict(compressed, out, DICTIONARY_V1)
    } else {
        lz4_flex::block::decompress_into(compressed, out)
    };
    written.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_blocks_decode_as_lz4_blocks() {
        let page =
            crate::dev::fake_tmdb::catalog::trending("day", 3, "en-US")["results"].to_string();
        for raw in [page.as_bytes(), b"", b"x"] {
            let mut block = vec![7];
            compress_plain_into(raw, &mut block);
            let mut back = vec![0; raw.len()];
            assert_eq!(
                decompress_into(&block[1..], &mut back, false),
                Some(raw.len())
            );
            assert_eq!(back, raw);
        }
    }

    #[test]
    fn the_dictionary_is_the_frozen_version_1() {
        assert_eq!(
            xxhash_rust::xxh3::xxh3_64(DICTIONARY_V1),
            DICTIONARY_V1_HASH,
            "src/cache/lz4_dict_v1.bin changed: every stored format-2 entry depends on its bytes"
        );
    }

    #[test]
    fn blocks_round_trip_with_the_dictionary_and_from_any_thread() {
        let page = crate::dev::fake_tmdb::catalog::popular(7, "en-US").to_string();
        for raw in [
            page.as_bytes(),
            b"",
            b"[]",
            "[{\"title\":\"君の名は。\"}]".as_bytes(),
        ] {
            let mut out = Vec::new();
            compress_into(raw, &mut out);
            let mut back = vec![0; raw.len()];
            assert_eq!(decompress_into(&out, &mut back, true), Some(raw.len()));
            assert_eq!(back, raw);
            let again = std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        let mut again = Vec::new();
                        compress_into(raw, &mut again);
                        again
                    })
                    .join()
                    .unwrap()
            });
            assert_eq!(again, out, "same bytes from another thread");
        }
    }

    #[test]
    fn the_dictionary_pays_for_itself_on_a_tmdb_page() {
        let page = crate::dev::fake_tmdb::catalog::trending("day", 3, "en-US").to_string();
        let mut with = Vec::new();
        compress_into(page.as_bytes(), &mut with);
        let plain = lz4_flex::block::compress(page.as_bytes());
        assert!(
            with.len() * 10 < plain.len() * 9,
            "{} bytes with the dictionary against {} without",
            with.len(),
            plain.len()
        );
    }
}
