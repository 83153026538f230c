//! `MovieService`: the rules of the product. A cacheable request goes key → cache → TMDB → store;
//! search and popular go straight to TMDB. The HTTP layer only parses, calls one method here, and
//! writes what it gets back.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::cache::{CacheError, CacheKey, CachedEntry, EntryMeta, Lookup, PageCache, Shape};
use crate::clock::Clock;
use crate::config::TtlSettings;
use crate::counters::Counters;
use crate::domain::{Language, MovieId, Page, Region, SearchQuery, TimeWindow};
use crate::error::ApiError;
use crate::local_search::LocalSearch;
use crate::tmdb::{self, TmdbClient, TmdbError};

/// How a response was produced, as reported in `X-Cache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Miss,
    Stale,
    Bypass,
}

impl CacheOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "HIT",
            CacheOutcome::Miss => "MISS",
            CacheOutcome::Stale => "STALE",
            CacheOutcome::Bypass => "BYPASS",
        }
    }
}

/// A TMDB document ready to be written: either still compressed in its cache entry, or just
/// fetched.
#[derive(Debug)]
pub enum Document {
    Cached(CachedEntry),
    Fetched { shape: Shape, raw: Bytes },
}

impl Document {
    pub fn shape(&self) -> Shape {
        match self {
            Document::Cached(entry) => entry.meta.shape,
            Document::Fetched { shape, .. } => *shape,
        }
    }

    /// The document's JSON between `prefix` and `suffix`, in one buffer.
    pub fn render(&self, prefix: &[u8], suffix: &[u8]) -> Result<Vec<u8>, CacheError> {
        match self {
            Document::Cached(entry) => entry.render(prefix, suffix),
            Document::Fetched { raw, .. } => Ok([prefix, &raw[..], suffix].concat()),
        }
    }
}

/// What a service call produced.
#[derive(Debug)]
pub struct Served {
    pub document: Document,
    pub outcome: CacheOutcome,
    /// The entry's timestamps and payload hash, for cacheable documents.
    pub freshness: Option<EntryMeta>,
    /// The service's notion of now, for `Age` and `max-age`.
    pub now_ms: u64,
}

/// Which TMDB document an endpoint returns. A TMDB 404 means "no such movie" only for documents
/// that belong to a movie; for the global lists it is TMDB misbehaving.
#[derive(Debug, Clone, Copy)]
enum Kind {
    GlobalList,
    MovieList,
    Movie,
}

/// Everything `MovieService` is built from.
pub struct MovieServiceParts {
    pub cache: PageCache,
    pub tmdb: TmdbClient,
    pub clock: Clock,
    pub ttl: TtlSettings,
    pub default_language: Language,
    pub counters: Arc<Counters>,
    /// Never call TMDB; serve stored entries whatever their age.
    pub offline: bool,
}

#[derive(Clone)]
pub struct MovieService {
    cache: PageCache,
    tmdb: TmdbClient,
    clock: Clock,
    ttl: Arc<TtlSettings>,
    default_language: Language,
    counters: Arc<Counters>,
    offline: bool,
    local_search: LocalSearch,
}

impl MovieService {
    pub fn new(parts: MovieServiceParts) -> MovieService {
        MovieService {
            cache: parts.cache,
            tmdb: parts.tmdb,
            clock: parts.clock,
            ttl: Arc::new(parts.ttl),
            default_language: parts.default_language,
            counters: parts.counters,
            offline: parts.offline,
            local_search: LocalSearch::default(),
        }
    }

    pub fn is_offline(&self) -> bool {
        self.offline
    }

    pub fn default_language(&self) -> &Language {
        &self.default_language
    }

    /// The language as it appears in cache keys: `None` for the default.
    fn key_language<'a>(&self, language: &'a Language) -> Option<&'a Language> {
        (*language != self.default_language).then_some(language)
    }

    pub async fn trending(
        &self,
        window: TimeWindow,
        language: &Language,
        page: Page,
    ) -> Result<Served, ApiError> {
        let key = CacheKey::trending(window, self.key_language(language), page);
        let path = format!("/trending/movie/{}", window.as_str());
        let params = [("language", language.as_str()), ("page", &page.to_string())]
            .map(|(k, v)| (k, v.to_owned()));
        let what = format!("trending ({}) page {page}", window.as_str());
        self.through_cache(
            key,
            self.ttl.trending,
            Kind::GlobalList,
            (&path, &params),
            &what,
        )
        .await
    }

    pub async fn recommendations(
        &self,
        id: MovieId,
        language: &Language,
        page: Page,
    ) -> Result<Served, ApiError> {
        let key = CacheKey::recommendations(id, self.key_language(language), page);
        let path = format!("/movie/{id}/recommendations");
        let params = [("language", language.as_str()), ("page", &page.to_string())]
            .map(|(k, v)| (k, v.to_owned()));
        let what = format!("recommendations page {page} for movie {id}");
        self.through_cache(
            key,
            self.ttl.recommendations,
            Kind::MovieList,
            (&path, &params),
            &what,
        )
        .await
    }

    pub async fn details(&self, id: MovieId, language: &Language) -> Result<Served, ApiError> {
        let key = CacheKey::movie(id, self.key_language(language));
        let path = format!("/movie/{id}");
        let params = [("language", language.as_str().to_owned())];
        let what = format!("movie {id}");
        self.through_cache(key, self.ttl.details, Kind::Movie, (&path, &params), &what)
            .await
    }

    /// Popular: asked of TMDB every time while it answers; each good answer is kept as the last
    /// known page, which is what offline mode serves.
    pub async fn popular(
        &self,
        language: &Language,
        region: Option<&Region>,
        page: Page,
    ) -> Result<Served, ApiError> {
        let key = CacheKey::popular(self.key_language(language), region, page);
        if self.offline {
            return self
                .offline_lookup(&key, &format!("popular page {page}"))
                .await;
        }
        let params = popular_params(language, region, page);
        let served = self.bypass("/movie/popular", &params).await?;
        if let Document::Fetched { shape, raw } = &served.document {
            self.cache
                .put(&key, *shape, raw, served.now_ms, self.ttl.trending)
                .await;
        }
        Ok(served)
    }

    /// Popular for `warm`: skipped when a fresh copy is stored, fetched and stored otherwise.
    pub async fn warm_popular(&self, language: &Language, page: Page) -> Result<Served, ApiError> {
        let key = CacheKey::popular(self.key_language(language), None, page);
        let params = popular_params(language, None, page);
        let what = format!("popular page {page}");
        self.through_cache(
            key,
            self.ttl.trending,
            Kind::GlobalList,
            ("/movie/popular", &params),
            &what,
        )
        .await
    }

    pub async fn search(
        &self,
        query: &SearchQuery,
        language: &Language,
        region: Option<&Region>,
        page: Page,
    ) -> Result<Served, ApiError> {
        let mut params = vec![
            ("query", query.as_str().to_owned()),
            ("language", language.as_str().to_owned()),
            ("page", page.to_string()),
        ];
        if let Some(region) = region {
            params.push(("region", region.as_str().to_owned()));
        }
        if self.offline {
            return self.offline_search(query, language, page).await;
        }
        self.bypass("/search/movie", &params).await
    }

    /// Search over every movie stored locally (region does not apply offline).
    async fn offline_search(
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
        record_cache_outcome(CacheOutcome::Hit);
        Ok(Served {
            document: Document::Fetched {
                shape: Shape::List(meta),
                raw,
            },
            outcome: CacheOutcome::Hit,
            freshness: None,
            now_ms: self.clock.now_ms(),
        })
    }

    /// Offline: whatever is stored, fresh (HIT) or not (STALE).
    async fn offline_lookup(&self, key: &CacheKey, what: &str) -> Result<Served, ApiError> {
        let now_ms = self.clock.now_ms();
        match self.cache.get(key, now_ms).await {
            Lookup::Fresh(entry) => Ok(self.serve_entry(entry, CacheOutcome::Hit, now_ms)),
            Lookup::Expired(entry) => Ok(self.serve_entry(entry, CacheOutcome::Stale, now_ms)),
            Lookup::Miss => {
                Counters::incr(&self.counters.misses);
                record_cache_outcome(CacheOutcome::Miss);
                Err(offline_miss(what))
            }
        }
    }

    fn serve_entry(&self, entry: CachedEntry, outcome: CacheOutcome, now_ms: u64) -> Served {
        match outcome {
            CacheOutcome::Stale => Counters::incr(&self.counters.stale),
            _ => Counters::incr(&self.counters.hits),
        }
        record_cache_outcome(outcome);
        Served {
            freshness: Some(entry.meta),
            document: Document::Cached(entry),
            outcome,
            now_ms,
        }
    }

    /// Search and popular change too often to serve from cache while TMDB answers.
    async fn bypass(&self, path: &str, params: &[(&str, String)]) -> Result<Served, ApiError> {
        Counters::incr(&self.counters.bypasses);
        record_cache_outcome(CacheOutcome::Bypass);
        let (shape, raw) = self.fetch(Kind::GlobalList, path, params).await?;
        Ok(Served {
            document: Document::Fetched { shape, raw },
            outcome: CacheOutcome::Bypass,
            freshness: None,
            now_ms: self.clock.now_ms(),
        })
    }

    /// key → cache → TMDB → store. Only a validated 200 is stored. Offline, stored entries are
    /// served whatever their age and a miss is a 503 naming what is missing (`what`).
    async fn through_cache(
        &self,
        key: CacheKey,
        ttl: Duration,
        kind: Kind,
        (path, params): (&str, &[(&str, String)]),
        what: &str,
    ) -> Result<Served, ApiError> {
        if self.offline {
            return self.offline_lookup(&key, what).await;
        }
        let now_ms = self.clock.now_ms();
        match self.cache.get(&key, now_ms).await {
            Lookup::Fresh(entry) => {
                tracing::debug!(%key, "cache hit");
                return Ok(self.serve_entry(entry, CacheOutcome::Hit, now_ms));
            }
            Lookup::Expired(_) => tracing::debug!(%key, "cache entry expired"),
            Lookup::Miss => tracing::debug!(%key, "cache miss"),
        }
        Counters::incr(&self.counters.misses);
        record_cache_outcome(CacheOutcome::Miss);
        let (shape, raw) = self.fetch(kind, path, params).await?;
        let now_ms = self.clock.now_ms();
        let meta = self.cache.put(&key, shape, &raw, now_ms, ttl).await;
        Ok(Served {
            document: Document::Fetched { shape, raw },
            outcome: CacheOutcome::Miss,
            freshness: Some(meta),
            now_ms,
        })
    }

    /// One TMDB call, validated: a body that is not the expected JSON is an upstream error.
    async fn fetch(
        &self,
        kind: Kind,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<(Shape, Bytes), ApiError> {
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body = match self.tmdb.get(path, &params).await {
            Ok(body) => body,
            Err(TmdbError::NotFound) if matches!(kind, Kind::GlobalList) => {
                return Err(ApiError::Upstream(
                    "TMDB answered 404 for a list that always exists".to_owned(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let parsed = match kind {
            Kind::GlobalList | Kind::MovieList => {
                tmdb::parse_list(&body).map(|list| (Shape::List(list.meta), list.results))
            }
            Kind::Movie => tmdb::parse_object(&body).map(|raw| (Shape::Object, raw)),
        };
        parsed.map_err(|e| {
            Counters::incr(&self.counters.upstream_errors);
            tracing::warn!(path, error = %e, "TMDB body refused; nothing stored");
            ApiError::from(e)
        })
    }
}

fn popular_params(
    language: &Language,
    region: Option<&Region>,
    page: Page,
) -> Vec<(&'static str, String)> {
    let mut params = vec![
        ("language", language.as_str().to_owned()),
        ("page", page.to_string()),
    ];
    if let Some(region) = region {
        params.push(("region", region.as_str().to_owned()));
    }
    params
}

fn offline_miss(what: &str) -> ApiError {
    ApiError::UpstreamUnavailable {
        message: format!(
            "reelcache is running offline (no TMDB credential, or --offline) and {what} is not \
             in its data"
        ),
        retry_after: None,
    }
}

fn record_cache_outcome(outcome: CacheOutcome) {
    tracing::Span::current().record("cache", outcome.as_str());
}
