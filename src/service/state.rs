//! `AppState`: everything a request handler can reach, as one cheap `Clone` over `Arc`s.

use std::sync::Arc;

use crate::cache::PageCache;
use crate::clock::Clock;
use crate::counters::Counters;
use crate::service::accounts::AccountService;
use crate::service::favorites::FavoriteService;
use crate::service::movies::MovieService;

/// Cloned once per request (warp hands each handler its own), so it is one `Arc`: a clone is one
/// atomic increment instead of one per service handle.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl AppState {
    pub fn new(inner: AppStateInner) -> AppState {
        AppState(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

pub struct AppStateInner {
    pub movies: MovieService,
    /// TMDB's images through the image cache.
    pub images: crate::service::images::ImageService,
    pub accounts: AccountService,
    pub favorites: FavoriteService,
    pub settings: crate::service::settings::SettingService,
    /// Who may read `/metrics`.
    pub metrics_access: crate::config::MetricsAccess,
    /// CORS origins; `None`: any origin.
    pub cors_origins: Option<Arc<[String]>>,
    /// Per-client request limits and the client address rules.
    pub client_limiter: crate::service::client_limit::ClientLimiter,
    /// Cache hygiene (expired entries, size bound); `None` offline.
    pub sweeper: Option<crate::cache::sweeper::Sweeper>,
    /// TMDB's change list, polled.
    pub change_feed: Arc<crate::service::change_feed::ChangeFeed>,
    /// The server's warm runs (schedule and staff).
    pub warm_runs: Arc<crate::service::warm_runs::WarmRuns>,
    /// What a scheduled warm run covers, and the defaults of a staff one.
    pub warm_settings: crate::config::WarmSettings,
    /// Starting, serving or draining: whether `/health/ready` may say ready.
    pub lifecycle: crate::service::lifecycle::Lifecycle,
    /// When the process started, for uptime.
    pub started: std::time::Instant,
    pub cache: PageCache,
    pub counters: Arc<Counters>,
    /// Components that stopped working (a background task that panicked), for `/health/`.
    pub components: crate::service::components::Components,
    /// The last `/health/` answer (status, body), reused for a second: its store probe writes
    /// and flushes, and anyone may ask for it as often as the client limit allows.
    pub health: Arc<crate::sync::Recent<crate::service::health::Report>>,
    pub clock: Clock,
    /// Absolute base for pagination links (`https://movies.example.com`), or `None` for
    /// path-and-query links.
    pub public_url: Option<Arc<str>>,
    /// Mixed into every ETag: the rendered body depends on the link base as well as the payload.
    pub etag_salt: u64,
    /// Dropped with the last clone of the state: lets shutdown wait until nothing holds the stores.
    pub(crate) _alive: tokio::sync::mpsc::Sender<()>,
}

/// What `/metrics` reads at scrape time rather than records: plain numbers, so the exposition
/// needs nothing of the stores or the TMDB client.
pub struct Gauges {
    pub counters: crate::counters::CounterSnapshot,
    pub store_bytes: u64,
    pub store_entries: u64,
    pub store_max_bytes: u64,
    pub hot_entries: u64,
    pub hot_bytes: u64,
    /// 0 closed, 0.5 half-open, 1 open.
    pub breaker_open: f64,
    pub uptime: std::time::Duration,
    /// A shared Redis's `used_memory` and `maxmemory`, when the cache is there.
    pub redis_memory: Option<(u64, u64)>,
    /// PostgreSQL's pool, when the accounts are there.
    pub db_pool: Option<crate::db::postgres::PoolStatus>,
    pub refresh_ahead: crate::service::movies::AheadStats,
    pub dynamic_ttl: crate::service::movies::DynamicTtlStats,
    pub change_feed: crate::service::change_feed::FeedState,
}

impl AppStateInner {
    pub async fn gauges(&self) -> Gauges {
        let usage = self.cache.usage();
        let (hot_entries, hot_bytes) = self.cache.hot().usage();
        Gauges {
            counters: self.counters.snapshot(),
            store_bytes: usage.stored_bytes(),
            store_entries: usage.entries(),
            store_max_bytes: usage.max_bytes(),
            hot_entries,
            hot_bytes,
            breaker_open: match self.movies.tmdb().budget().breaker_state() {
                crate::tmdb::budget::BreakerState::Closed => 0.0,
                crate::tmdb::budget::BreakerState::HalfOpen => 0.5,
                crate::tmdb::budget::BreakerState::Open => 1.0,
            },
            uptime: self.started.elapsed(),
            refresh_ahead: self.movies.refresh_ahead_stats(),
            dynamic_ttl: self.movies.dynamic_ttl_stats(),
            change_feed: self.change_feed.stats().state,
            redis_memory: self
                .cache
                .shared_info()
                .await
                .map(|info| (info.used_memory, info.maxmemory)),
            db_pool: self.accounts.db().pool_status(),
        }
    }
}
