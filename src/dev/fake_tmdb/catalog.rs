//! A synthetic movie catalogue shaped like TMDB's v3 responses (field names, types, key order,
//! sizes: ~13–16 KB per list page). Every title, overview and number is generated from the movie's
//! id, so the same request always gets the same bytes. None of it is real TMDB data.

use serde_json::{Value, json};

use super::words::{ADJECTIVES, GENRES, IMAGE_CHARS, LANGUAGES, NOUNS, WORDS};

/// How many movies exist. Ids are sparse, like TMDB's: `FIRST_ID + k * ID_STRIDE`.
pub const CATALOG_SIZE: u32 = 5000;
const FIRST_ID: u32 = 11;
const ID_STRIDE: u32 = 13;
pub const PAGE_SIZE: u32 = 20;

/// SplitMix64: a tiny, well-known mixing function; all we need is determinism.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A deterministic stream of numbers for one movie and one purpose.
struct Rng(u64);

impl Rng {
    fn new(id: u32, purpose: u64) -> Rng {
        Rng(mix(u64::from(id) ^ (purpose << 40)))
    }
    fn next(&mut self) -> u64 {
        self.0 = mix(self.0);
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

pub fn id_of(index: u32) -> u32 {
    FIRST_ID + (index % CATALOG_SIZE) * ID_STRIDE
}

pub fn exists(id: u32) -> bool {
    id >= FIRST_ID
        && (id - FIRST_ID).is_multiple_of(ID_STRIDE)
        && (id - FIRST_ID) / ID_STRIDE < CATALOG_SIZE
}

/// Every movie id in the catalogue.
pub fn all_ids() -> impl Iterator<Item = u32> {
    (0..CATALOG_SIZE).map(id_of)
}

pub fn title(id: u32) -> String {
    let mut rng = Rng::new(id, 1);
    let adjective = ADJECTIVES[rng.below(ADJECTIVES.len())];
    let noun = NOUNS[rng.below(NOUNS.len())];
    match rng.below(4) {
        0 => format!("The {adjective} {noun}"),
        1 => format!("{adjective} {noun}"),
        2 => format!("{noun} of the {adjective}"),
        _ => format!("The {noun} {}", 2 + rng.below(3)),
    }
}

fn localized_title(id: u32, language: &str) -> String {
    if language.starts_with("en") {
        title(id)
    } else {
        format!("{} ({language})", title(id))
    }
}

fn overview(id: u32) -> String {
    let mut rng = Rng::new(id, 2);
    let words = 35 + rng.below(40);
    let mut text = String::with_capacity(words * 7);
    let mut sentence_start = true;
    for i in 0..words {
        let word = WORDS[rng.below(WORDS.len())];
        if sentence_start {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                text.extend(first.to_uppercase());
                text.push_str(chars.as_str());
            }
        } else {
            text.push_str(word);
        }
        sentence_start = i % 12 == 11;
        text.push_str(if sentence_start { ". " } else { " " });
    }
    text.truncate(text.trim_end().len());
    text.push('.');
    text
}

/// A backdrop's path: one movie in 25 has none, as on TMDB. Nothing serves these images.
fn image_path(id: u32, purpose: u64) -> Value {
    let mut rng = Rng::new(id, purpose);
    if rng.below(25) == 0 {
        return Value::Null;
    }
    Value::String(format!("/{}.jpg", image_name(&mut rng)))
}

fn image_name(rng: &mut Rng) -> String {
    (0..27)
        .map(|_| IMAGE_CHARS[rng.below(IMAGE_CHARS.len())] as char)
        .collect()
}

/// Every movie's poster, as the fake's image server serves it (`poster.rs`): an SVG, so the
/// synthetic poster can carry its title.
pub fn poster_path(id: u32) -> String {
    format!("/{}.svg", image_name(&mut Rng::new(id, 9)))
}

/// The movie whose poster is `file` (`poster_path` without its `/`).
pub fn poster_owner(file: &str) -> Option<u32> {
    static OWNERS: std::sync::LazyLock<std::collections::HashMap<String, u32>> =
        std::sync::LazyLock::new(|| {
            all_ids()
                .map(|id| (poster_path(id)[1..].to_owned(), id))
                .collect()
        });
    OWNERS.get(file).copied()
}

/// A movie's release year, when it has a release date.
pub fn release_year(id: u32) -> Option<String> {
    let date = release_date(id);
    (!date.is_empty()).then(|| date[..4].to_owned())
}

fn release_date(id: u32) -> String {
    let mut rng = Rng::new(id, 3);
    if rng.below(40) == 0 {
        return String::new();
    }
    format!(
        "{}-{:02}-{:02}",
        1950 + rng.below(76),
        1 + rng.below(12),
        1 + rng.below(28)
    )
}

fn genre_ids(id: u32) -> Vec<u32> {
    let mut rng = Rng::new(id, 4);
    let n = rng.below(4);
    let mut ids: Vec<u32> = (0..n).map(|_| GENRES[rng.below(GENRES.len())].0).collect();
    ids.dedup();
    ids
}

fn vote_average(id: u32) -> Value {
    let mut rng = Rng::new(id, 5);
    let tenths = 30 + rng.below(60) as u32;
    if tenths.is_multiple_of(10) {
        // TMDB sometimes writes whole numbers without a fraction.
        json!(tenths / 10)
    } else {
        json!(f64::from(tenths) / 10.0)
    }
}

fn popularity(id: u32) -> f64 {
    let mut rng = Rng::new(id, 6);
    // One correctly rounded division, so the value survives a trip through JSON text unchanged.
    (rng.below(500_000) + 1000) as f64 / 1000.0
}

/// A list item, as popular/search return them (keys in TMDB's alphabetical order).
pub fn list_item(id: u32, language: &str, media_type: bool) -> Value {
    let mut rng = Rng::new(id, 7);
    let mut item = json!({
        "adult": false,
        "backdrop_path": image_path(id, 8),
        "genre_ids": genre_ids(id),
        "id": id,
        "original_language": LANGUAGES[rng.below(LANGUAGES.len())],
        "original_title": title(id),
        "overview": overview(id),
        "popularity": popularity(id),
        "poster_path": poster_path(id),
        "release_date": release_date(id),
        "title": localized_title(id, language),
        "video": false,
        "vote_average": vote_average(id),
        "vote_count": rng.below(30_000),
    });
    if media_type {
        item["media_type"] = json!("movie");
    }
    item
}

/// A paged list document.
pub fn page_document(
    ids: &[u32],
    page: u32,
    total_pages: u32,
    total_results: u64,
    language: &str,
    media_type: bool,
) -> Value {
    json!({
        "page": page,
        "results": ids.iter().map(|id| list_item(*id, language, media_type)).collect::<Vec<_>>(),
        "total_pages": total_pages,
        "total_results": total_results,
    })
}

/// Ids on one page of a list that walks the catalogue from `offset` with `stride`.
fn walk(page: u32, offset: u32, stride: u32) -> Vec<u32> {
    (0..PAGE_SIZE)
        .map(|i| id_of(offset + ((page - 1) * PAGE_SIZE + i) * stride))
        .collect()
}

pub fn trending(window: &str, page: u32, language: &str) -> Value {
    let (offset, stride) = if window == "day" { (0, 7) } else { (3, 11) };
    page_document(
        &walk(page, offset, stride),
        page,
        1000,
        20_000,
        language,
        true,
    )
}

pub fn popular(page: u32, language: &str) -> Value {
    page_document(&walk(page, 1, 17), page, 38_029, 760_569, language, false)
}

/// Recommendations: 40 results (2 pages), like TMDB's cap; a page past the end is empty.
pub fn recommendations(id: u32, page: u32, language: &str) -> Value {
    let ids: Vec<u32> = if page <= 2 {
        let base = (id - FIRST_ID) / ID_STRIDE;
        walk(page, base + 1, 29)
    } else {
        Vec::new()
    };
    page_document(&ids, page, 2, 40, language, true)
}

/// Titles containing `query` (case-insensitive), best popularity first, paginated by 20.
pub fn search(query: &str, page: u32, language: &str) -> Value {
    let needle = query.to_lowercase();
    let mut hits: Vec<u32> = all_ids()
        .filter(|id| title(*id).to_lowercase().contains(&needle))
        .collect();
    hits.sort_by(|a, b| popularity(*b).total_cmp(&popularity(*a)));
    let total = hits.len() as u64;
    let total_pages = (total.div_ceil(u64::from(PAGE_SIZE))).max(1) as u32;
    let start = ((page - 1) * PAGE_SIZE) as usize;
    let ids: Vec<u32> = hits
        .iter()
        .skip(start)
        .take(PAGE_SIZE as usize)
        .copied()
        .collect();
    page_document(&ids, page, total_pages, total, language, false)
}

/// Movie details, with the fields of TMDB's `MovieDetailsResponse`.
pub fn details(id: u32, language: &str) -> Value {
    let mut rng = Rng::new(id, 10);
    let genres: Vec<Value> = genre_ids(id)
        .into_iter()
        .map(|g| {
            let name = GENRES
                .iter()
                .find(|(gid, _)| *gid == g)
                .map_or("", |(_, n)| n);
            json!({"id": g, "name": name})
        })
        .collect();
    json!({
        "adult": false,
        "backdrop_path": image_path(id, 8),
        "belongs_to_collection": null,
        "budget": rng.below(200) * 1_000_000,
        "genres": genres,
        "homepage": "",
        "id": id,
        "imdb_id": format!("tt{:07}", id * 3),
        "origin_country": ["US"],
        "original_language": "en",
        "original_title": title(id),
        "overview": overview(id),
        "popularity": popularity(id),
        "poster_path": poster_path(id),
        "production_companies": [{"id": 1 + rng.below(9000), "logo_path": null, "name": "Synthetic Pictures", "origin_country": "US"}],
        "production_countries": [{"iso_3166_1": "US", "name": "United States of America"}],
        "release_date": release_date(id),
        "revenue": rng.below(900) * 1_000_000,
        "runtime": 80 + rng.below(80),
        "spoken_languages": [{"english_name": "English", "iso_639_1": "en", "name": "English"}],
        "status": "Released",
        "tagline": "",
        "title": localized_title(id, language),
        "video": false,
        "vote_average": vote_average(id),
        "vote_count": rng.below(30_000),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_deterministic_and_tmdb_sized() {
        let a = serde_json::to_vec(&trending("day", 3, "en-US")).unwrap();
        let b = serde_json::to_vec(&trending("day", 3, "en-US")).unwrap();
        assert_eq!(a, b);
        assert!(
            (10_000..22_000).contains(&a.len()),
            "page is {} bytes",
            a.len()
        );
        let ids: Vec<u32> = trending("week", 1, "en-US")["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_u64().unwrap() as u32)
            .collect();
        assert_eq!(ids.len(), 20);
        assert!(ids.iter().all(|id| exists(*id)));
    }

    #[test]
    fn search_finds_titles() {
        let doc = search("harbor", 1, "en-US");
        let results = doc["results"].as_array().unwrap();
        assert!(!results.is_empty());
        assert!(results.iter().all(|m| {
            m["title"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("harbor")
        }));
        assert_eq!(search("zzzz-nothing", 1, "en-US")["total_pages"], 1);
    }
}
