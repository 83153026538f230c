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
    pub accounts: AccountService,
    pub favorites: FavoriteService,
    /// Who may read `/metrics`.
    pub metrics_access: crate::config::MetricsAccess,
    /// CORS origins; `None`: any origin.
    pub cors_origins: Option<Arc<[String]>>,
    /// Per-client request limits and the client address rules.
    pub client_limiter: crate::http::client_limit::ClientLimiter,
    /// Cache hygiene (expired entries, size bound); `None` offline.
    pub sweeper: Option<crate::cache::sweeper::Sweeper>,
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
    pub health: Arc<crate::sync::Recent<(warp::http::StatusCode, serde_json::Value)>>,
    pub clock: Clock,
    /// Absolute base for pagination links (`https://movies.example.com`), or `None` for
    /// path-and-query links.
    pub public_url: Option<Arc<str>>,
    /// Mixed into every ETag: the rendered body depends on the link base as well as the payload.
    pub etag_salt: u64,
    /// Dropped with the last clone of the state: lets shutdown wait until nothing holds the stores.
    pub(crate) _alive: tokio::sync::mpsc::Sender<()>,
}
