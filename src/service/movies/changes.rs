//! What TMDB's change feed does to the page cache (the polling is `service/change_feed.rs`): a
//! movie TMDB lists as edited has its stored details and recommendation pages dropped, or,
//! where people read them (hot in the read record), fetched again at once. While the feed
//! works, details are kept `ttl.details_with_feed` (7 days) instead of `ttl.details`: an edit
//! reaches the cache within one poll rather than one TTL.

use std::sync::atomic::Ordering;

use super::MovieService;
use crate::cache::CacheKey;
use crate::domain::{MovieId, Page};

/// Recommendation pages TMDB serves per movie (two, at most).
const RECOMMENDATION_PAGES: u32 = 2;

/// What one changed movie did to the cache.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Entries dropped.
    pub invalidated: u64,
    /// Hot entries fetched again instead.
    pub refreshed: u64,
}

impl MovieService {
    /// The feed polled TMDB successfully: details may live long until `ok_until_ms` (two poll
    /// intervals later, so one missed poll does not shorten them, two do).
    pub fn feed_succeeded(&self, ok_until_ms: u64) {
        self.feed_ok_until_ms.store(ok_until_ms, Ordering::Relaxed);
    }

    /// Whether details are kept for `ttl.details_with_feed` now.
    pub(super) fn feed_is_working(&self) -> bool {
        self.clock.now_ms() < self.feed_ok_until_ms.load(Ordering::Relaxed)
    }

    /// Drops (or, when hot and `may_refresh`, refreshes) the stored details and recommendation
    /// pages of movie `id`, in the default language (other languages' entries expire by their
    /// TTL, which the feed does not lengthen). A refresh waits for nothing: while client misses
    /// keep the upstream budget busy, hot entries are dropped like the others.
    pub async fn apply_change(&self, id: u32, may_refresh: bool) -> Applied {
        let mut applied = Applied::default();
        let Some(movie) = MovieId::new(id) else {
            return applied;
        };
        let mut keys = vec![CacheKey::movie(movie, None)];
        keys.extend(
            (1..=RECOMMENDATION_PAGES)
                .filter_map(Page::new)
                .map(|page| CacheKey::recommendations(movie, None, page)),
        );
        let now_ms = self.clock.now_ms();
        for key in keys {
            let hot = may_refresh
                && !self.tmdb.budget().is_busy()
                && self
                    .ahead
                    .score(key.as_str(), now_ms)
                    .is_some_and(|score| score >= super::access::HOT);
            if hot {
                let service = self.clone();
                applied.refreshed += 1;
                tokio::spawn(async move {
                    if let Err(error) = service.refresh_now(key.as_str()).await {
                        tracing::debug!(%key, %error, "refreshing a changed movie failed");
                    }
                });
            } else if self.cache.remove(&key).await {
                applied.invalidated += 1;
            }
        }
        applied
    }
}
