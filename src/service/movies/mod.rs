//! `MovieService`: the rules of the product. A cacheable request goes key → cache → one coalesced
//! TMDB fetch → store, with stale copies served while revalidating or when TMDB fails; search and
//! popular go to TMDB every time and keep their last good answer for outages. Offline, only the
//! data directory answers. The HTTP layer only parses, calls one method here, and writes the
//! result.

mod fetch;
mod flight;
mod offline;
mod served;

pub use served::{CacheOutcome, CachedRequest, Document, Freshness, HotHit, HotSlot, Served};

use std::sync::Arc;

use bytes::Bytes;

use crate::cache::hot::{Generation, HotEntry};
use crate::cache::{CacheKey, CachedEntry, EntryMeta, PageCache, Shape};
use crate::clock::Clock;
use crate::config::{ResilienceSettings, TtlSettings};
use crate::counters::Counters;
use crate::domain::list::ListMeta;
use crate::domain::{Language, MovieId, Page, Region, Requester, SearchQuery, TimeWindow};
use crate::error::ApiError;
use crate::service::local_search::LocalSearch;
use crate::tmdb::TmdbClient;

use fetch::{Kind, Request};
use flight::SingleFlight;

/// Everything `MovieService` is built from.
pub struct MovieServiceParts {
    pub cache: PageCache,
    pub tmdb: TmdbClient,
    pub clock: Clock,
    pub ttl: TtlSettings,
    pub resilience: ResilienceSettings,
    pub default_language: Language,
    pub counters: Arc<Counters>,
    /// Where a fetch task's panic is noted, for `/health/`.
    pub components: crate::service::components::Components,
    /// Never call TMDB; serve stored entries whatever their age.
    pub offline: bool,
}

/// A fetched and stored document, shared by every request that waited for it.
/// The hot-tier generation is the one right after the store took it (`None`: not stored here),
/// so a body of it is never kept over a later change.
type Fetched = (Shape, Bytes, EntryMeta, Option<Generation>);

#[derive(Clone)]
pub struct MovieService {
    cache: PageCache,
    tmdb: TmdbClient,
    clock: Clock,
    ttl: Arc<TtlSettings>,
    resilience: Arc<ResilienceSettings>,
    default_language: Language,
    counters: Arc<Counters>,
    offline: bool,
    local_search: LocalSearch,
    flights: SingleFlight<Fetched>,
    /// Search and popular: identical requests in flight share one TMDB call (nothing more is
    /// stored than the last good answer each call stores anyway).
    bypasses: SingleFlight<(Shape, Bytes)>,
    /// Offline: how many pages of each list the data directory holds.
    held: offline::HeldPages,
}

impl MovieService {
    /// Waits for the stored pages' re-encoding to finish (bounded), before counting them.
    pub async fn settle_cache(&self) {
        if !self.cache.settle(std::time::Duration::from_secs(30)).await {
            tracing::warn!("some pages keep their fast encoding: re-encoding took over 30 s");
        }
    }

    pub fn new(parts: MovieServiceParts) -> MovieService {
        MovieService {
            cache: parts.cache,
            tmdb: parts.tmdb,
            clock: parts.clock,
            ttl: Arc::new(parts.ttl),
            resilience: Arc::new(parts.resilience),
            default_language: parts.default_language,
            counters: parts.counters,
            offline: parts.offline,
            local_search: LocalSearch::default(),
            flights: SingleFlight::new(parts.components.clone()),
            bypasses: SingleFlight::new(parts.components),
            held: offline::HeldPages::default(),
        }
    }

    pub fn is_offline(&self) -> bool {
        self.offline
    }

    pub fn default_language(&self) -> &Language {
        &self.default_language
    }

    pub fn tmdb(&self) -> &TmdbClient {
        &self.tmdb
    }

    /// The language as it appears in cache keys: `None` for the default.
    fn key_language<'a>(&self, language: &'a Language) -> Option<&'a Language> {
        (*language != self.default_language).then_some(language)
    }

    fn trending_key(&self, window: TimeWindow, language: &Language, page: Page) -> CacheKey {
        CacheKey::trending(window, self.key_language(language), page)
    }

    fn recommendations_key(&self, id: MovieId, language: &Language, page: Page) -> CacheKey {
        CacheKey::recommendations(id, self.key_language(language), page)
    }

    fn details_key(&self, id: MovieId, language: &Language) -> CacheKey {
        CacheKey::movie(id, self.key_language(language))
    }

    fn trending_request(
        &self,
        window: TimeWindow,
        language: &Language,
        page: Page,
        who: Requester,
    ) -> Request {
        Request {
            requester: who,
            key: self.trending_key(window, language, page),
            ttl: self.ttl.trending,
            kind: Kind::GlobalList,
            path: format!("/trending/movie/{}", window.as_str()),
            params: vec![
                ("language", language.as_str().to_owned()),
                ("page", page.to_string()),
            ],
            what: format!("trending ({}) page {page}", window.as_str()),
        }
    }

    fn recommendations_request(
        &self,
        id: MovieId,
        language: &Language,
        page: Page,
        who: Requester,
    ) -> Request {
        Request {
            requester: who,
            key: self.recommendations_key(id, language, page),
            ttl: self.ttl.recommendations,
            kind: Kind::MovieList,
            path: format!("/movie/{id}/recommendations"),
            params: vec![
                ("language", language.as_str().to_owned()),
                ("page", page.to_string()),
            ],
            what: format!("recommendations page {page} for movie {id}"),
        }
    }

    /// `who` is whose share of the upstream budget a miss takes (see `tmdb::budget`).
    pub async fn trending(
        &self,
        window: TimeWindow,
        language: &Language,
        page: Page,
        who: Requester,
    ) -> Result<Served, ApiError> {
        let key = self.trending_key(window, language, page);
        let served = self
            .through_hot(&key, || self.trending_request(window, language, page, who))
            .await?;
        self.prefetch_after(&served, page, |next| {
            self.trending_request(window, language, next, Requester::Background)
        });
        Ok(served)
    }

    pub async fn recommendations(
        &self,
        id: MovieId,
        language: &Language,
        page: Page,
        who: Requester,
    ) -> Result<Served, ApiError> {
        let key = self.recommendations_key(id, language, page);
        let served = self
            .through_hot(&key, || {
                self.recommendations_request(id, language, page, who)
            })
            .await?;
        self.prefetch_after(&served, page, |next| {
            self.recommendations_request(id, language, next, Requester::Background)
        });
        Ok(served)
    }

    pub async fn details(
        &self,
        id: MovieId,
        language: &Language,
        who: Requester,
    ) -> Result<Served, ApiError> {
        let key = self.details_key(id, language);
        self.through_hot(&key, || Request {
            requester: who,
            key: key.clone(),
            ttl: self.ttl.details,
            kind: Kind::Movie,
            path: format!("/movie/{id}"),
            params: vec![("language", language.as_str().to_owned())],
            what: format!("movie {id}"),
        })
        .await
    }

    fn popular_request(
        &self,
        language: &Language,
        region: Option<&Region>,
        page: Page,
        who: Requester,
    ) -> Request {
        let mut params = vec![
            ("language", language.as_str().to_owned()),
            ("page", page.to_string()),
        ];
        if let Some(region) = region {
            params.push(("region", region.as_str().to_owned()));
        }
        Request {
            requester: who,
            key: CacheKey::popular(self.key_language(language), region, page),
            ttl: self.ttl.trending,
            kind: Kind::GlobalList,
            path: "/movie/popular".to_owned(),
            params,
            what: format!("popular page {page}"),
        }
    }

    /// Popular: asked of TMDB every time while it answers. Each good answer is kept as the last
    /// known page: what offline mode serves, and what answers when TMDB fails.
    pub async fn popular(
        &self,
        language: &Language,
        region: Option<&Region>,
        page: Page,
        who: Requester,
    ) -> Result<Served, ApiError> {
        let request = self.popular_request(language, region, page, who);
        if self.offline {
            return self.offline_lookup(&request.key, &request.what).await;
        }
        self.bypass(request).await
    }

    /// Popular for `warm`: skipped when a fresh copy is stored, fetched and stored otherwise.
    pub async fn warm_popular(&self, language: &Language, page: Page) -> Result<Served, ApiError> {
        self.through_cache(self.popular_request(language, None, page, Requester::Background))
            .await
    }

    pub async fn search(
        &self,
        query: &SearchQuery,
        language: &Language,
        region: Option<&Region>,
        page: Page,
        who: Requester,
    ) -> Result<Served, ApiError> {
        if self.offline {
            return self.offline_search(query, language, page).await;
        }
        let mut params = vec![
            ("query", query.as_str().to_owned()),
            ("language", language.as_str().to_owned()),
            ("page", page.to_string()),
        ];
        if let Some(region) = region {
            params.push(("region", region.as_str().to_owned()));
        }
        self.bypass(Request {
            requester: who,
            key: CacheKey::search(query.as_str(), self.key_language(language), region, page),
            ttl: self.ttl.trending,
            kind: Kind::GlobalList,
            path: "/search/movie".to_owned(),
            params,
            what: format!("search '{}' page {page}", query.as_str()),
        })
        .await
    }

    /// The hot tier, then `through_cache`. `request` is built only when the hot tier has no
    /// body: on a hot hit nothing else is needed, and building a fetch (path, parameters,
    /// description) would be most of the hit's work.
    async fn through_hot(
        &self,
        key: &CacheKey,
        request: impl FnOnce() -> Request,
    ) -> Result<Served, ApiError> {
        match self.hot_hit(key) {
            Some(served) => Ok(served),
            None => self.through_cache(request()).await,
        }
    }

    /// A fresh finished body from the hot tier, counted as a hit.
    fn hot_hit(&self, key: &CacheKey) -> Option<Served> {
        let now_ms = self.clock.now_ms();
        let entry = self.hot_entry(key, now_ms)?;
        Some(self.serve_hot_entry(key, entry, now_ms))
    }

    /// The hot tier's fresh body for `key`, if it has one (never offline, where every entry is
    /// served as stale). Only a lookup: nothing is counted until `serve_hot`.
    fn hot_entry(&self, key: &CacheKey, now_ms: u64) -> Option<HotEntry> {
        if self.offline {
            return None;
        }
        self.cache.hot().get(key.as_str(), now_ms)
    }

    /// The cache key of a cached endpoint's request.
    fn key_of(&self, request: &CachedRequest, language: &Language) -> CacheKey {
        match *request {
            CachedRequest::Trending { window, page } => self.trending_key(window, language, page),
            CachedRequest::Recommendations { id, page } => {
                self.recommendations_key(id, language, page)
            }
            CachedRequest::Details { id } => self.details_key(id, language),
        }
    }

    /// The fast path's question: is this request a fresh body in the hot tier? Only a lookup:
    /// nothing is counted until [`MovieService::serve_hot`].
    pub fn hot(&self, request: &CachedRequest, language: &Language) -> Option<HotHit> {
        let key = self.key_of(request, language);
        let now_ms = self.clock.now_ms();
        let entry = self.hot_entry(&key, now_ms)?;
        Some(HotHit { key, entry, now_ms })
    }

    /// Answers a cached endpoint's request (the full route's way: hot tier, store, TMDB).
    pub async fn cached(
        &self,
        request: CachedRequest,
        language: &Language,
        who: Requester,
    ) -> Result<Served, ApiError> {
        match request {
            CachedRequest::Trending { window, page } => {
                self.trending(window, language, page, who).await
            }
            CachedRequest::Recommendations { id, page } => {
                self.recommendations(id, language, page, who).await
            }
            CachedRequest::Details { id } => self.details(id, language, who).await,
        }
    }

    /// Serves what [`MovieService::hot`] found: counts the hit and notes the read.
    pub fn serve_hot(&self, hit: HotHit) -> Served {
        let HotHit { key, entry, now_ms } = hit;
        self.serve_hot_entry(&key, entry, now_ms)
    }

    fn serve_hot_entry(&self, key: &CacheKey, entry: HotEntry, now_ms: u64) -> Served {
        // The store does not see this read: note it for the size bound's LRU order (skipped,
        // never waited for, when the log is busy).
        self.cache.usage().touch(key.as_str(), now_ms);
        Counters::incr(&self.counters.hits);
        record_cache_outcome(key.namespace_label(), CacheOutcome::Hit);
        Served::from_hot(entry, now_ms)
    }

    fn serve_entry(
        &self,
        namespace: &'static str,
        entry: CachedEntry,
        outcome: CacheOutcome,
        now_ms: u64,
    ) -> Served {
        match outcome {
            CacheOutcome::Stale => Counters::incr(&self.counters.stale),
            _ => Counters::incr(&self.counters.hits),
        }
        record_cache_outcome(namespace, outcome);
        Served {
            meta: Some(entry.meta),
            document: Document::Cached(entry),
            outcome,
            now_ms,
            hot: None,
        }
    }

    /// The response body of `served`: `prefix`, the document's JSON, then what `suffix` makes of
    /// a list's numbers (`None` for a single document). A fresh body is kept in the hot tier in
    /// the same call, so the next hit is that body as it is.
    pub fn render(
        &self,
        served: &Served,
        prefix: &[u8],
        suffix: impl FnOnce(Option<&ListMeta>) -> Vec<u8>,
    ) -> Result<Bytes, ApiError> {
        let list = match served.document.shape() {
            Some(Shape::List(meta)) => Some(meta),
            _ => None,
        };
        let body = served
            .document
            .render(prefix, &suffix(list.as_ref()))
            .map_err(|e| ApiError::Internal(format!("rendering a cached page: {e}")))?;
        self.remember_rendered(served, &body);
        Ok(body)
    }

    /// Keeps a rendered body in the hot tier, when `served` allows it.
    fn remember_rendered(&self, served: &Served, body: &Bytes) {
        if let (Some(slot), Some(meta)) = (&served.hot, &served.meta) {
            self.cache.hot().insert(
                slot.key.as_str(),
                slot.generation,
                *meta,
                body.clone(),
                served.now_ms,
            );
        }
    }
}

/// Counts the outcome in the metrics. (The request's span gets the outcome the client saw, from
/// its `X-Cache`, in `http::observe::finish`.)
fn record_cache_outcome(namespace: &'static str, outcome: CacheOutcome) {
    crate::measure::cache_outcome(namespace, outcome.as_str());
}
