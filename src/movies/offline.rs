//! Offline answers: whatever the data directory holds, whatever its age, and search over the
//! titles stored locally. Nothing here opens a network connection.

use super::{CacheOutcome, Document, MovieService, Served, record_cache_outcome};
use crate::cache::{CacheKey, Lookup, Shape};
use crate::counters::Counters;
use crate::domain::{Language, Page, SearchQuery};
use crate::error::ApiError;

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
        let ns = crate::metrics_export::namespace_label(key.namespace());
        let now_ms = self.clock.now_ms();
        match self.cache.get(key, now_ms).await {
            Lookup::Fresh(entry) => Ok(self.serve_entry(ns, entry, CacheOutcome::Hit, now_ms)),
            Lookup::Expired(entry) => Ok(self.serve_entry(ns, entry, CacheOutcome::Stale, now_ms)),
            Lookup::Miss => {
                Counters::incr(&self.counters.misses);
                record_cache_outcome(ns, CacheOutcome::Miss);
                Err(offline_miss(what))
            }
        }
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
        record_cache_outcome(crate::cache::key::SEARCH, CacheOutcome::Hit);
        Ok(Served {
            document: Document::Fetched {
                shape: Shape::List(meta),
                raw,
            },
            outcome: CacheOutcome::Hit,
            freshness: None,
            now_ms: self.clock.now_ms(),
            hot: None,
        })
    }
}
