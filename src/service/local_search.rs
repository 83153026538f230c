//! Offline search: every movie the cache knows (from list pages and details), searched by title
//! and original title, ranked exact → prefix → substring, then by popularity, and paginated like
//! TMDB (20 a page). The index is built from the store on the first offline search for a
//! language and kept: offline, the store does not change while the server runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::cache::{ListMeta, PageCache, Shape, envelope, key};
use crate::domain::{Language, MAX_PAGE, Page};

const PAGE_SIZE: usize = 20;

struct IndexedMovie {
    id: u64,
    title: String,
    original_title: String,
    popularity: f64,
    /// The movie as a list item, TMDB's JSON.
    item: Box<RawValue>,
}

/// Every movie known in one language.
pub struct LocalIndex {
    movies: Vec<IndexedMovie>,
}

#[derive(Deserialize)]
struct ItemFields {
    id: u64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    original_title: String,
    #[serde(default)]
    popularity: f64,
}

/// The language a stored key belongs to: `Some` only for a canonical language segment
/// (`fr-FR`, `de`), which cannot be confused with `day`, `page`, `region` or a region (`US`).
fn key_language(stored_key: &str) -> Option<String> {
    stored_key
        .split(':')
        .skip(1)
        .find(|segment| {
            segment
                .as_bytes()
                .first()
                .is_some_and(u8::is_ascii_lowercase)
                && Language::parse(segment).is_some_and(|l| l.as_str() == *segment)
        })
        .map(str::to_owned)
}

/// A list item built from a details object, for movies known only from their page.
fn item_from_details(details: &serde_json::Value) -> Option<Box<RawValue>> {
    let mut item = serde_json::Map::new();
    for field in [
        "adult",
        "backdrop_path",
        "id",
        "original_language",
        "original_title",
        "overview",
        "popularity",
        "poster_path",
        "release_date",
        "title",
        "video",
        "vote_average",
        "vote_count",
    ] {
        if let Some(v) = details.get(field) {
            item.insert(field.to_owned(), v.clone());
        }
    }
    let genre_ids: Vec<serde_json::Value> = details
        .get("genres")
        .and_then(|g| g.as_array())
        .map(|genres| genres.iter().filter_map(|g| g.get("id").cloned()).collect())
        .unwrap_or_default();
    item.insert("genre_ids".to_owned(), serde_json::Value::Array(genre_ids));
    serde_json::value::to_raw_value(&item).ok()
}

impl LocalIndex {
    /// Reads every entry of `language` (`None`: the default language). Blocking.
    pub fn build(cache: &PageCache, language: Option<&Language>) -> LocalIndex {
        let wanted = language.map(|l| l.as_str().to_owned());
        let mut by_id: HashMap<u64, IndexedMovie> = HashMap::new();
        for item in cache.scan_blocking("") {
            let Ok((stored_key, bytes)) = item else {
                continue;
            };
            if key_language(&stored_key) != wanted {
                continue;
            }
            let Ok(decoded) = envelope::decode(&bytes) else {
                continue;
            };
            let Ok(payload) = decoded.payload() else {
                continue;
            };
            match decoded.meta.shape {
                Shape::List(_) => {
                    let Ok(items) = serde_json::from_slice::<Vec<Box<RawValue>>>(&payload) else {
                        continue;
                    };
                    for raw in items {
                        if let Ok(fields) = serde_json::from_str::<ItemFields>(raw.get()) {
                            by_id.entry(fields.id).or_insert_with(|| IndexedMovie {
                                id: fields.id,
                                title: fields.title.to_lowercase(),
                                original_title: fields.original_title.to_lowercase(),
                                popularity: fields.popularity,
                                item: raw,
                            });
                        }
                    }
                }
                Shape::Object if key::namespace_of(&stored_key) == key::MOVIE => {
                    let Ok(details) = serde_json::from_slice::<serde_json::Value>(&payload) else {
                        continue;
                    };
                    let Ok(fields) = serde_json::from_value::<ItemFields>(details.clone()) else {
                        continue;
                    };
                    if by_id.contains_key(&fields.id) {
                        continue;
                    }
                    if let Some(item) = item_from_details(&details) {
                        by_id.insert(
                            fields.id,
                            IndexedMovie {
                                id: fields.id,
                                title: fields.title.to_lowercase(),
                                original_title: fields.original_title.to_lowercase(),
                                popularity: fields.popularity,
                                item,
                            },
                        );
                    }
                }
                Shape::Object | Shape::Missing => {}
            }
        }
        LocalIndex {
            movies: by_id.into_values().collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.movies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.movies.is_empty()
    }

    /// One page of results as TMDB would shape it: the list numbers and the `results` array.
    pub fn search(&self, query: &str, page: Page) -> (ListMeta, Bytes) {
        let needle = query.to_lowercase();
        let rank = |text: &str| {
            if text == needle {
                Some(0)
            } else if text.starts_with(&needle) {
                Some(1)
            } else if text.contains(&needle) {
                Some(2)
            } else {
                None
            }
        };
        let mut hits: Vec<(u8, &IndexedMovie)> = self
            .movies
            .iter()
            .filter_map(|m| {
                let best = match (rank(&m.title), rank(&m.original_title)) {
                    (Some(a), Some(b)) => a.min(b),
                    (a, b) => a.or(b)?,
                };
                Some((best, m))
            })
            .collect();
        hits.sort_by(|(ra, a), (rb, b)| {
            ra.cmp(rb)
                .then(b.popularity.total_cmp(&a.popularity))
                .then(a.id.cmp(&b.id))
        });
        let total = hits.len();
        let total_pages = total.div_ceil(PAGE_SIZE).clamp(1, MAX_PAGE as usize);
        let start = (page.get() as usize - 1) * PAGE_SIZE;
        let items: Vec<&RawValue> = hits
            .iter()
            .skip(start)
            .take(PAGE_SIZE)
            .map(|(_, m)| m.item.as_ref())
            .collect();
        let results = serde_json::to_vec(&items).expect("raw values serialise");
        (
            ListMeta {
                page: page.get(),
                total_pages: total_pages as u32,
                total_results: total as u64,
                items: items.len() as u32,
            },
            Bytes::from(results),
        )
    }
}

/// Indexes per language, built on first use.
#[derive(Clone, Default)]
pub struct LocalSearch {
    indexes: Arc<Mutex<HashMap<Option<String>, Arc<LocalIndex>>>>,
}

impl LocalSearch {
    /// The index for `language` (`None`: default), building it if needed.
    pub async fn index(&self, cache: &PageCache, language: Option<&Language>) -> Arc<LocalIndex> {
        let slot = language.map(|l| l.as_str().to_owned());
        if let Some(index) = crate::sync::lock(&self.indexes).get(&slot) {
            return index.clone();
        }
        let cache = cache.clone();
        let language = language.cloned();
        let index = Arc::new(
            crate::telemetry::spawn_blocking(move || LocalIndex::build(&cache, language.as_ref()))
                .await,
        );
        tracing::info!(movies = index.len(), "offline search index built");
        crate::sync::lock(&self.indexes)
            .entry(slot)
            .or_insert(index)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_languages_are_told_apart_from_other_segments() {
        assert_eq!(key_language("trending_movies:day:page:2"), None);
        assert_eq!(
            key_language("trending_movies:day:fr-FR:page:2").as_deref(),
            Some("fr-FR")
        );
        assert_eq!(key_language("movie:550:de").as_deref(), Some("de"));
        assert_eq!(key_language("popular_movies:region:US:page:1"), None);
        assert_eq!(key_language("recommended_movies:12:page:1"), None);
    }
}
