//! `MovieService`: the rules of the product. A cacheable request goes key → cache → one coalesced
//! TMDB fetch → store, with stale copies served while revalidating or when TMDB fails; search and
//! popular go to TMDB every time and keep their last good answer for outages. Offline, only the
//! data directory answers. The HTTP layer only parses, calls one method here, and writes the
//! result.

mod access;
mod ahead;
mod changes;
mod dynamic_ttl;
pub mod endpoints;
mod fetch;
pub(crate) mod flight;
mod history;
mod named;
mod offline;
mod served;

pub use ahead::AheadStats;
pub use changes::Applied;
pub use endpoints::Endpoint;
pub use history::{Counts, HistoryStats};
pub use served::{
    CacheOutcome, Document, Freshness, HotHit, HotMiss, HotSlot, Served, StaleReason,
};

use std::sync::Arc;

use bytes::Bytes;

use crate::cache::hot::{HotEntry, LaterBody};
use crate::cache::{CacheKey, CachedEntry, EntryMeta, PageCache, Shape};
use crate::clock::Clock;
use crate::config::{ResilienceSettings, TtlSettings};
use crate::counters::Counters;
use crate::domain::coding::ContentCoding;
use crate::domain::list::ListMeta;
use crate::domain::{Language, Page, Region, Requester, SearchQuery};
use crate::error::ApiError;
use crate::service::local_search::LocalSearch;
use crate::tmdb::TmdbClient;

use endpoints::Kind;
use fetch::Request;
use flight::SingleFlight;

/// What the dynamic TTLs did since start.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct DynamicTtlStats {
    /// Refreshes that came back unchanged and were kept longer.
    pub lengthened: u64,
    /// Refreshes that came back changed and were kept shorter.
    pub shortened: u64,
    /// TMDB calls a fixed TTL would have made for the time entries were kept beyond it (an
    /// upper bound: as if every such entry had been read throughout).
    pub calls_saved: f64,
    /// Calls spent beyond a fixed TTL's on entries kept shorter.
    pub calls_spent: f64,
}

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
/// A fetched document, its entry's metadata, and where the first body rendered from it goes to
/// be kept in the hot tier once its write lands.
type Fetched = (Shape, Bytes, EntryMeta, LaterBody);

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
    ttl_counters: Arc<dynamic_ttl::TtlCounters>,
    ahead: ahead::SharedAhead,
    /// Until when the change feed counts as working (Unix ms; 0: never polled).
    feed_ok_until_ms: Arc<std::sync::atomic::AtomicU64>,
    /// Outcomes per namespace over the last hour and day.
    history: Arc<history::History>,
    /// Set while a staff namespace refresh runs (one at a time).
    refreshing_namespace: Arc<std::sync::atomic::AtomicBool>,
}

impl MovieService {
    /// Waits for the stored pages' re-encoding to finish (bounded), before counting them.
    pub async fn settle_cache(&self) {
        if !self.cache.settle(std::time::Duration::from_secs(30)).await {
            tracing::warn!("some pages keep their fast encoding: re-encoding took over 30 s");
        }
    }

    pub fn new(parts: MovieServiceParts) -> MovieService {
        let ahead = Arc::new(ahead::Ahead::new(
            parts.resilience.refresh_ahead_budget,
            parts.resilience.refresh_ahead_keys,
            parts.offline,
        ));
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
            ttl_counters: Arc::default(),
            ahead,
            feed_ok_until_ms: Arc::default(),
            history: Arc::new(history::History::new()),
            refreshing_namespace: Arc::default(),
        }
    }

    /// What the dynamic TTLs did (see `dynamic_ttl.rs`).
    pub fn dynamic_ttl_stats(&self) -> DynamicTtlStats {
        let c = &self.ttl_counters;
        let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
        DynamicTtlStats {
            lengthened: load(&c.lengthened),
            shortened: load(&c.shortened),
            calls_saved: load(&c.saved_milli) as f64 / 1000.0,
            calls_spent: load(&c.spent_milli) as f64 / 1000.0,
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

    /// What a miss of `request` asks TMDB; its answer is stored under `key`.
    fn request_of<E: Endpoint>(
        &self,
        request: &E,
        key: CacheKey,
        language: &Language,
        who: Requester,
    ) -> Request {
        let upstream = request.upstream(&self.ttl);
        let mut params = Vec::with_capacity(upstream.params.len() + 2);
        params.push(("language", language.as_str().to_owned()));
        params.extend(upstream.params);
        params.extend(request.page().map(|page| ("page", page.to_string())));
        Request {
            requester: who,
            key,
            ttl: upstream.ttl,
            kind: upstream.kind,
            path: upstream.path,
            params,
            what: upstream.what,
            previous: None,
        }
    }

    /// Answers a cached endpoint's request (the full route's way, and `warm`'s): the hot tier,
    /// then [`MovieService::cached_miss`]. `who` is whose share of the upstream budget a miss
    /// takes (see `tmdb::budget`).
    pub async fn cached<E: Endpoint>(
        &self,
        request: E,
        language: &Language,
        who: Requester,
    ) -> Result<Served, ApiError> {
        match self.hot(&request, language) {
            Ok(hit) => Ok(self.serve_hot_for(hit, who)),
            Err(miss) => self.cached_miss(miss, request, language, who).await,
        }
    }

    /// A request the hot tier had no fresh body for (as [`MovieService::hot`] found, on either
    /// door): the store, then TMDB (`fetch.rs`). The fetch is described only here: on a hot
    /// hit nothing but the key is needed, and building a fetch (path, parameters, description)
    /// would be most of the hit's work. After a list page's miss, the next page is prefetched.
    pub async fn cached_miss<E: Endpoint>(
        &self,
        miss: HotMiss,
        request: E,
        language: &Language,
        who: Requester,
    ) -> Result<Served, ApiError> {
        let served = self
            .through_cache(self.request_of(&request, miss.key, language, who))
            .await?;
        // A warm run fetches exactly its plan (and its budget counts every call).
        if let (Some(page), Requester::Client(_)) = (request.page(), who) {
            self.prefetch_after(&served, page, |other| {
                let other = request.at_page(other);
                let key = other.key(self.key_language(language));
                self.request_of(&other, key, language, Requester::Background)
            });
        }
        Ok(served)
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
            previous: None,
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
            previous: None,
        })
        .await
    }

    /// The hot tier's fresh body for `key`, if it has one (never offline, where every entry is
    /// served as stale). Only a lookup: nothing is counted until `serve_hot`.
    fn hot_entry(&self, key: &CacheKey, now_ms: u64) -> Option<HotEntry> {
        if self.offline {
            return None;
        }
        self.cache.hot().get(key.as_str(), now_ms)
    }

    /// Is this request a fresh body in the hot tier? Only a lookup: nothing is counted until
    /// [`MovieService::serve_hot`] (or, for a miss, [`MovieService::cached_miss`]).
    pub fn hot<E: Endpoint>(&self, request: &E, language: &Language) -> Result<HotHit, HotMiss> {
        let key = request.key(self.key_language(language));
        let now_ms = self.clock.now_ms();
        match self.hot_entry(&key, now_ms) {
            Some(entry) => Ok(HotHit { key, entry, now_ms }),
            None => Err(HotMiss { key }),
        }
    }

    /// Serves what [`MovieService::hot`] found: counts the hit and notes the read.
    pub fn serve_hot(&self, hit: HotHit) -> Served {
        self.serve_hot_for(hit, Requester::Client(None))
    }

    /// As `serve_hot`; only a client's read counts towards refresh-ahead (warm runs' do not).
    fn serve_hot_for(&self, hit: HotHit, who: Requester) -> Served {
        let HotHit { key, entry, now_ms } = hit;
        if matches!(who, Requester::Client(_)) {
            self.note_read(key.as_str(), &entry.meta, now_ms);
        }
        // The store does not see this read: note it for the size bound's LRU order (skipped,
        // never waited for, when the log is busy).
        self.cache.usage().touch(key.as_str(), now_ms);
        Counters::incr(&self.counters.hits);
        Counters::incr(&self.counters.hot_hits);
        self.record_outcome(key.namespace_label(), CacheOutcome::Hit);
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
        self.record_outcome(namespace, outcome);
        let meta = Some(entry.meta);
        Served::new(Document::Cached(entry), outcome, meta, now_ms)
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

    /// The body of a hot-tier hit in `coding` (see [`Served::coding_for`]): compressed the
    /// first time any client asks for that coding, then kept with the entry. `None` when
    /// `served` is no hot hit (render it instead).
    pub fn coded(&self, served: &Served, coding: ContentCoding) -> Option<(Bytes, ContentCoding)> {
        let entry = served.from_hot.as_ref()?;
        Some(entry.coded(coding, || Counters::incr(&self.counters.compressions)))
    }

    /// Keeps a rendered body in the hot tier, when `served` allows it.
    fn remember_rendered(&self, served: &Served, body: &Bytes) {
        if let Some(later) = &served.later {
            later.rendered(self.cache.hot(), body);
        }
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
impl MovieService {
    /// Counts an outcome: in `/metrics` and in the last hour's and day's history.
    fn record_outcome(&self, namespace: &'static str, outcome: CacheOutcome) {
        crate::measure::cache_outcome(namespace, outcome.as_str());
        let event = match outcome {
            CacheOutcome::Hit => history::Event::Hit,
            CacheOutcome::Stale => history::Event::Stale,
            CacheOutcome::Miss => history::Event::Miss,
            CacheOutcome::Bypass => history::Event::Bypass,
        };
        self.history.add(namespace, self.clock.now_ms(), event);
    }

    /// Outcomes per namespace over the last hour and the last day.
    pub fn history(&self) -> history::HistoryStats {
        self.history.stats(self.clock.now_ms())
    }
}
