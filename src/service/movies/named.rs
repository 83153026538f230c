//! A cached endpoint's request named by its stored key: what refresh-ahead, the staff refresh
//! and the change feed fetch again when all they hold is `trending_movies:day:page:2`,
//! `recommended_movies:550:fr-FR:page:3` or `movie:550`. Parsing is the inverse of the key
//! constructors (`cache/key.rs`), and is checked against them: a key that would not be built
//! back the same is not one of ours.

use super::endpoints::{Details, Endpoint, Recommendations, Trending};
use super::{MovieService, fetch::Request};
use crate::cache::{CacheKey, Lookup, key};
use crate::domain::{Language, MovieId, Page, Requester, TimeWindow};
use crate::error::ApiError;

/// One of the cached endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    Trending(Trending),
    Recommendations(Recommendations),
    Details(Details),
}

impl Named {
    fn key(&self, language: Option<&Language>) -> CacheKey {
        match self {
            Named::Trending(e) => e.key(language),
            Named::Recommendations(e) => e.key(language),
            Named::Details(e) => e.key(language),
        }
    }
}

/// The endpoint and the key's language (`None`: the default) a stored key names.
pub fn parse(stored: &str) -> Option<(Named, Option<Language>)> {
    let parts: Vec<&str> = stored.split(':').collect();
    let page = |n: &str| Page::new(n.parse().ok()?);
    let id = |n: &str| MovieId::new(n.parse().ok()?);
    let language = |l: &str| Language::parse(l);
    let (named, lang) = match parts.as_slice() {
        [key::TRENDING, window, "page", n] => (
            Named::Trending(Trending {
                window: TimeWindow::parse(Some(window)).ok()?,
                page: page(n)?,
            }),
            None,
        ),
        [key::TRENDING, window, l, "page", n] => (
            Named::Trending(Trending {
                window: TimeWindow::parse(Some(window)).ok()?,
                page: page(n)?,
            }),
            Some(language(l)?),
        ),
        [key::RECOMMENDED, movie, "page", n] => (
            Named::Recommendations(Recommendations {
                id: id(movie)?,
                page: page(n)?,
            }),
            None,
        ),
        [key::RECOMMENDED, movie, l, "page", n] => (
            Named::Recommendations(Recommendations {
                id: id(movie)?,
                page: page(n)?,
            }),
            Some(language(l)?),
        ),
        [key::MOVIE, movie] => (Named::Details(Details { id: id(movie)? }), None),
        [key::MOVIE, movie, l] => (
            Named::Details(Details { id: id(movie)? }),
            Some(language(l)?),
        ),
        _ => return None,
    };
    (named.key(lang.as_ref()).as_str() == stored).then_some((named, lang))
}

/// The key of the page after `stored`'s in the same list (`None` for details, or past the last
/// page TMDB serves).
pub fn next_page_key(stored: &str) -> Option<String> {
    let (named, language) = parse(stored)?;
    let next =
        |page: Page| Page::new(page.get() + 1).filter(|p| p.get() <= crate::domain::MAX_PAGE);
    let named = match named {
        Named::Trending(e) => Named::Trending(e.at_page(next(e.page)?)),
        Named::Recommendations(e) => Named::Recommendations(e.at_page(next(e.page)?)),
        Named::Details(_) => return None,
    };
    Some(named.key(language.as_ref()).as_str().to_owned())
}

impl MovieService {
    /// What fetching `stored` again asks TMDB, as background work; `None` for a key that is not
    /// a cached endpoint's (search, popular, user data) or that names a language as the default.
    pub(super) fn request_for_key(&self, stored: &str) -> Option<Request> {
        let (named, language) = parse(stored)?;
        if language.as_ref() == Some(self.default_language()) {
            return None;
        }
        let key = CacheKey::from_stored(stored.to_owned());
        let language = language.unwrap_or_else(|| *self.default_language());
        let who = Requester::Background;
        Some(match named {
            Named::Trending(e) => self.request_of(&e, key, &language, who),
            Named::Recommendations(e) => self.request_of(&e, key, &language, who),
            Named::Details(e) => self.request_of(&e, key, &language, who),
        })
    }
}

impl MovieService {
    /// Fetches `stored` from TMDB now, whatever its freshness, and stores it (through the single
    /// flight and the dynamic TTL, as background work): the entry's new metadata.
    pub async fn refresh_now(&self, stored: &str) -> Result<crate::cache::EntryMeta, ApiError> {
        if self.offline {
            return Err(ApiError::Conflict(
                "offline: refreshing needs TMDB".to_owned(),
            ));
        }
        let mut request = self.request_for_key(stored).ok_or_else(|| {
            ApiError::validation(
                "key",
                "key must name a trending, recommendations or details entry",
            )
        })?;
        request.previous = match self.cache.get(&request.key, self.clock.now_ms()).await {
            Lookup::Fresh(entry) | Lookup::Expired(entry) => Some(entry.meta),
            Lookup::Missing { .. } | Lookup::Miss => None,
        };
        let key = request.key.clone();
        // A fetch whose write is still on the way would be joined, not repeated: after it.
        self.wait_landed(&key).await;
        let meta = self
            .coalesced_fetch(request)
            .await
            .0
            .map(|(_, _, meta, _)| meta)?;
        // Answered before its write lands: the staff are told it is done once it is stored (and
        // the hot tier holds no older body).
        self.wait_landed(&key).await;
        Ok(meta)
    }

    /// Waits (at most 5 s) until no fetch of `key` is in flight or writing what it fetched.
    async fn wait_landed(&self, key: &CacheKey) {
        let until = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.flights.is_running(key.as_str()) && tokio::time::Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    /// Refreshes every stored key in `namespace` (at most `limit`), four at a time, in the
    /// background (`""`: every refreshable entry, up to `limit`); how many it will refresh. One
    /// namespace refresh at a time (`Conflict`).
    pub async fn refresh_namespace(
        &self,
        namespace: &str,
        limit: usize,
    ) -> Result<usize, ApiError> {
        use std::sync::atomic::Ordering;
        /// Clears the flag however the refresh ends.
        struct Running(std::sync::Arc<std::sync::atomic::AtomicBool>);
        impl Drop for Running {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        if self.offline {
            return Err(ApiError::Conflict(
                "offline: refreshing needs TMDB".to_owned(),
            ));
        }
        if self
            .refreshing_namespace
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(ApiError::Conflict(
                "a namespace refresh is in progress; try again when it is done".to_owned(),
            ));
        }
        let running = Running(self.refreshing_namespace.clone());
        let cache = self.cache.clone();
        // "": every namespace (the keys that name a cached endpoint).
        let prefix = match namespace {
            "" => String::new(),
            namespace => format!("{namespace}:"),
        };
        let keys: Vec<String> = crate::telemetry::spawn_blocking(move || {
            cache
                .scan_blocking(&prefix)
                .filter_map(Result::ok)
                .map(|(key, _)| key)
                .filter(|key| parse(key).is_some())
                .take(limit)
                .collect::<Vec<String>>()
        })
        .await;
        let count = keys.len();
        let service = self.clone();
        tokio::spawn(async move {
            let _running = running;
            use futures_util::StreamExt;
            futures_util::stream::iter(keys)
                .for_each_concurrent(4, |key: String| {
                    let service = service.clone();
                    async move {
                        if let Err(error) = service.refresh_now(&key).await {
                            tracing::debug!(%key, %error, "refresh failed");
                        }
                    }
                })
                .await;
        });
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cached_key_parses_back_to_its_endpoint() {
        let fr = Language::parse("fr-FR").unwrap();
        let (page, id) = (Page::new(3).unwrap(), MovieId::new(550).unwrap());
        let trending = Named::Trending(Trending {
            window: TimeWindow::Week,
            page,
        });
        let recommendations = Named::Recommendations(Recommendations { id, page });
        let details = Named::Details(Details { id });
        for named in [trending, recommendations, details] {
            for language in [None, Some(fr)] {
                let key = named.key(language.as_ref());
                assert_eq!(parse(key.as_str()), Some((named, language)), "{key}");
            }
        }
    }

    #[test]
    fn the_next_page_of_a_list_has_its_key() {
        assert_eq!(
            next_page_key("trending_movies:day:fr-FR:page:3").as_deref(),
            Some("trending_movies:day:fr-FR:page:4")
        );
        assert_eq!(
            next_page_key("recommended_movies:550:page:1").as_deref(),
            Some("recommended_movies:550:page:2")
        );
        assert_eq!(next_page_key("trending_movies:day:page:500"), None);
        assert_eq!(next_page_key("movie:550"), None);
    }

    #[test]
    fn anything_else_is_not_a_cached_endpoint() {
        for key in [
            "movie:0",
            "movie:abc",
            "movie:550:xx-",
            "movie:550:page:1",
            "trending_movies:month:page:1",
            "trending_movies:day:page:0",
            "trending_movies:day:page:01",
            "recommended_movies:550:page",
            "popular_movies:page:1",
            "search_movies:q:the:page:1",
            "user:abc:1",
            "",
        ] {
            assert_eq!(parse(key), None, "{key}");
        }
    }
}
