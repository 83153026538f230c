//! The cached endpoints: what a request names in the page cache and what a miss asks TMDB. Each
//! is one type here; both HTTP doors parse a request into it, and `MovieService::hot` and
//! `MovieService::cached` do the rest (hot tier, store, single flight, stale copies, prefetch of
//! the next page, offline) the same way for all of them.
//!
//! A new cached endpoint is one type here, one key constructor in `cache/key.rs`, and one route
//! entry in `http/movies/mod.rs` (the README's Development section shows the change).

use std::time::Duration;

use crate::cache::CacheKey;
use crate::config::TtlSettings;
use crate::domain::{Language, MovieId, Page, TimeWindow};

/// One cached endpoint's request.
pub trait Endpoint: Copy + Send + Sync + std::fmt::Debug + 'static {
    /// Its cache key; `language` is `None` for the configured default.
    fn key(&self, language: Option<&Language>) -> CacheKey;

    /// What a miss asks TMDB, built only on a miss (on a hit the key is all that is needed).
    /// The service adds `language` (first) and `page` (last) to the parameters.
    fn upstream(&self, ttl: &TtlSettings) -> Upstream;

    /// A list's page (lists prefetch the next one after a miss); `None` for a single document.
    fn page(&self) -> Option<Page> {
        None
    }

    /// The same request for another page of its list.
    fn at_page(self, _page: Page) -> Self {
        self
    }
}

/// Which TMDB document an endpoint returns. A TMDB 404 means "no such movie" only for documents
/// that belong to a movie; for the global lists it is TMDB misbehaving.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    GlobalList,
    MovieList,
    Movie,
}

/// What a miss asks TMDB, and how long the answer is kept.
pub struct Upstream {
    pub ttl: Duration,
    pub kind: Kind,
    /// TMDB's path, e.g. `/movie/550`.
    pub path: String,
    /// Parameters besides `language` and `page`.
    pub params: Vec<(&'static str, String)>,
    /// How logs and errors name the document, e.g. `movie 550`.
    pub what: String,
}

/// `GET /api/movies/trending/?time_window=&page=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trending {
    pub window: TimeWindow,
    pub page: Page,
}

impl Endpoint for Trending {
    fn key(&self, language: Option<&Language>) -> CacheKey {
        CacheKey::trending(self.window, language, self.page)
    }

    fn upstream(&self, ttl: &TtlSettings) -> Upstream {
        let window = self.window.as_str();
        Upstream {
            ttl: ttl.trending,
            kind: Kind::GlobalList,
            path: format!("/trending/movie/{window}"),
            params: Vec::new(),
            what: format!("trending ({window}) page {}", self.page),
        }
    }

    fn page(&self) -> Option<Page> {
        Some(self.page)
    }

    fn at_page(self, page: Page) -> Self {
        Trending { page, ..self }
    }
}

/// `GET /api/movies/{movie_id}/recommendations/?page=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recommendations {
    pub id: MovieId,
    pub page: Page,
}

impl Endpoint for Recommendations {
    fn key(&self, language: Option<&Language>) -> CacheKey {
        CacheKey::recommendations(self.id, language, self.page)
    }

    fn upstream(&self, ttl: &TtlSettings) -> Upstream {
        let Recommendations { id, page } = self;
        Upstream {
            ttl: ttl.recommendations,
            kind: Kind::MovieList,
            path: format!("/movie/{id}/recommendations"),
            params: Vec::new(),
            what: format!("recommendations page {page} for movie {id}"),
        }
    }

    fn page(&self) -> Option<Page> {
        Some(self.page)
    }

    fn at_page(self, page: Page) -> Self {
        Recommendations { page, ..self }
    }
}

/// `GET /api/movies/{movie_id}/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Details {
    pub id: MovieId,
}

impl Endpoint for Details {
    fn key(&self, language: Option<&Language>) -> CacheKey {
        CacheKey::movie(self.id, language)
    }

    fn upstream(&self, ttl: &TtlSettings) -> Upstream {
        let id = self.id;
        Upstream {
            ttl: ttl.details,
            kind: Kind::Movie,
            path: format!("/movie/{id}"),
            params: Vec::new(),
            what: format!("movie {id}"),
        }
    }
}
