//! Offline answers: whatever the data directory holds, whatever its age, and search over the
//! titles stored locally. Nothing here opens a network connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::served::StaleReason;
use super::{CacheOutcome, Document, MovieService, Served};
use crate::cache::{CacheKey, CachedEntry, ListMeta, Lookup, Shape};
use crate::counters::Counters;
use crate::domain::{Language, MAX_PAGE, Page, SearchQuery};
use crate::error::ApiError;

/// Offline, a list's pagination describes what this data directory holds, not what TMDB had:
/// `total_pages` is the last page of the run 1, 2, ... that is stored, `count` the items on
/// those pages, so `next` never points at a page that would be a 503. Worked out by reading the
/// entries' headers page by page, and remembered for a few seconds per list (a cache clear can
/// change it) in a bounded table.
#[derive(Clone, Default)]
pub(super) struct HeldPages {
    lists: Arc<Mutex<HashMap<String, (Instant, Held)>>>,
}

#[derive(Clone, Copy, Debug)]
struct Held {
    pages: u32,
    results: u64,
}

impl HeldPages {
    const FRESH: Duration = Duration::from_secs(5);
    /// Lists remembered at once; past it the table starts again (the data is a file's worth).
    const LISTS: usize = 4096;
}

/// `trending_movies:day:page:` of `trending_movies:day:page:3`.
fn page_prefix(key: &CacheKey) -> Option<&str> {
    let key = key.as_str();
    key.rfind("page:").map(|at| &key[..at + "page:".len()])
}

pub(super) fn offline_miss(what: &str) -> ApiError {
    ApiError::UpstreamUnavailable {
        message: format!(
            "reelcache is running offline (no TMDB credential, or --offline) and {what} is not \
             in its data"
        ),
        retry_after: None,
    }
}

impl MovieService {
    /// Fresh entries are hits; expired ones are served as stale; nothing stored is a 503.
    pub(super) async fn offline_lookup(
        &self,
        key: &CacheKey,
        what: &str,
    ) -> Result<Served, ApiError> {
        let ns = key.namespace_label();
        let now_ms = self.clock.now_ms();
        match self.cache.get(key, now_ms).await {
            Lookup::Missing { .. } => Err(self.negative_hit(ns)),
            Lookup::Fresh(entry) => {
                let entry = self.as_held(key, entry).await;
                Ok(self.serve_entry(ns, entry, CacheOutcome::Hit, now_ms))
            }
            Lookup::Expired(entry) => {
                let entry = self.as_held(key, entry).await;
                Ok(self
                    .serve_entry(ns, entry, CacheOutcome::Stale, now_ms)
                    .because(StaleReason::Offline))
            }
            Lookup::Miss => {
                Counters::incr(&self.counters.misses);
                self.record_outcome(ns, CacheOutcome::Miss);
                Err(offline_miss(what))
            }
        }
    }

    /// A list page whose numbers say what is held here (see `HeldPages`); other entries as
    /// they are.
    async fn as_held(&self, key: &CacheKey, mut entry: CachedEntry) -> CachedEntry {
        let (Shape::List(meta), Some(prefix)) = (entry.meta.shape, page_prefix(key)) else {
            return entry;
        };
        let held = self.held_pages(prefix).await;
        let (pages, results) = if meta.page <= held.pages {
            (held.pages, held.results)
        } else {
            // Beyond a gap: this page is here, the ones after it may not be.
            (meta.page, held.results + u64::from(meta.items))
        };
        entry.meta.shape = Shape::List(ListMeta {
            total_pages: pages,
            total_results: results,
            ..meta
        });
        // The body differs from the one an online server renders for the same entry.
        entry.meta.etag ^= (u64::from(pages) << 40) ^ results.rotate_left(17);
        entry
    }

    async fn held_pages(&self, prefix: &str) -> Held {
        if let Some((at, held)) = crate::sync::lock(&self.held.lists).get(prefix)
            && at.elapsed() < HeldPages::FRESH
        {
            return *held;
        }
        let now_ms = self.clock.now_ms();
        let mut held = Held {
            pages: 0,
            results: 0,
        };
        while held.pages < MAX_PAGE {
            let key = CacheKey::from_stored(format!("{prefix}{}", held.pages + 1));
            let entry = match self.cache.get(&key, now_ms).await {
                Lookup::Fresh(entry) | Lookup::Expired(entry) => entry,
                Lookup::Missing { .. } | Lookup::Miss => break,
            };
            let Shape::List(meta) = entry.meta.shape else {
                break;
            };
            held.pages += 1;
            held.results += u64::from(meta.items);
            // TMDB's own end.
            if held.pages >= meta.total_pages {
                break;
            }
        }
        let mut lists = crate::sync::lock(&self.held.lists);
        if lists.len() >= HeldPages::LISTS {
            lists.clear();
        }
        lists.insert(prefix.to_owned(), (Instant::now(), held));
        held
    }

    /// Search over every movie stored locally (region does not apply offline).
    pub(super) async fn offline_search(
        &self,
        query: &SearchQuery,
        language: &Language,
        page: Page,
    ) -> Result<Served, ApiError> {
        let index = self
            .local_search
            .index(&self.cache, self.key_language(language))
            .await;
        if index.is_empty() {
            return Err(offline_miss(&format!("any movie in language {language}")));
        }
        let (meta, raw) = index.search(query.as_str(), page);
        Counters::incr(&self.counters.hits);
        self.record_outcome(crate::cache::key::SEARCH, CacheOutcome::Hit);
        Ok(Served::new(
            Document::Fetched {
                shape: Shape::List(meta),
                raw,
            },
            CacheOutcome::Hit,
            None,
            self.clock.now_ms(),
        ))
    }
}
