//! How the cache's built-in compression dictionary was made (`reelcache dev make-dict`). The
//! cache itself only ever reads the frozen file (`src/cache/lz4_dict_v1.bin`).

/// The bytes of dictionary version 1 as they were made: the details of the synthetic catalogue's
/// first two movies, then the `results` of its popular page 1 and trending (week) page 5, compact
/// JSON, in that order. Kept to show how the frozen file came about;
/// [`DICTIONARY_V1`](crate::cache::codec::DICTIONARY_V1) is what is used, whatever this returns
/// after the catalogue changes.
pub fn make_dictionary() -> Vec<u8> {
    use crate::dev::fake_tmdb::catalog;
    let mut out = Vec::new();
    for id in [catalog::id_of(0), catalog::id_of(1)] {
        out.extend(catalog::details(id, "en-US").to_string().into_bytes());
    }
    for page in [
        catalog::popular(1, "en-US"),
        catalog::trending("week", 5, "en-US"),
    ] {
        out.extend(page["results"].to_string().into_bytes());
    }
    out
}
