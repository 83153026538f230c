//! Opening a data directory: its lock, the account database, the page cache (sled or Redis), the
//! TMDB client and the services, wired into one `AppState`. The server and every command that
//! needs the stores open it this way.

use super::startup::StartupError;
use crate::cache::hot::HotTier;
use crate::cache::{PageCache, RedisStore, SledSlot, Store};
use crate::clock::Clock;
use crate::config::Settings;
use crate::counters::Counters;
use crate::service::movies::{MovieService, MovieServiceParts};
use crate::service::state::{AppState, AppStateInner};
use crate::tmdb::TmdbClient;
use std::fs::File;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

/// The stores and services of one data directory, without a listener: what the server and the
/// command-line tools share.
pub struct Opened {
    pub state: AppState,
    /// Closed when every clone of `state` is gone.
    pub state_released: tokio::sync::mpsc::Receiver<()>,
    /// Held while the directory is in use: one process per data directory.
    pub lock: File,
}

impl Opened {
    /// Locks the data directory, opens the cache (moving a damaged one aside) and builds the
    /// services.
    pub async fn open(settings: &Settings, clock: Clock) -> Result<Opened, StartupError> {
        let lock = lock_data_dir(&settings.data_dir)?;
        let counters = Arc::new(Counters::default());
        let components = crate::service::components::Components::default();
        let store = open_store(settings, &clock).await?;
        // Redis bounds itself (maxmemory and its eviction policy): no size bound of ours, shown
        // as 0.
        let max_bytes = match store {
            Store::Sled(_) => settings.cache.max_bytes,
            Store::Redis(_) => 0,
        };
        // Other instances write a shared Redis too: a hot copy is checked against it after a
        // second at the latest, so a page refreshed or cleared elsewhere is seen here soon.
        let hot_residence = match store {
            Store::Sled(_) => None,
            Store::Redis(_) => Some(std::time::Duration::from_secs(1)),
        };
        let cache = PageCache::new(
            store,
            counters.clone(),
            max_bytes,
            HotTier::new(settings.cache.hot_bytes, hot_residence),
        );
        let mut tmdb = TmdbClient::new(&settings.tmdb, &settings.resilience, counters.clone())
            .map_err(StartupError::Other)?;
        if let Some(rate) = cache.shared_rate("tmdb", settings.tmdb.rps) {
            tmdb = tmdb.share_rate(Box::new(SharedTmdbRate(rate)));
        }
        let image_store = {
            let (dir, images) = (settings.data_dir.clone(), settings.images.clone());
            tokio::task::spawn_blocking(move || {
                crate::cache::images::ImageStore::open(&dir, images.max_bytes, images.memory_bytes)
            })
            .await
            .map_err(|e| StartupError::Other(format!("opening the image cache: {e}")))?
        };
        let images =
            crate::service::images::ImageService::new(crate::service::images::ImageServiceParts {
                store: Arc::new(image_store),
                tmdb: tmdb.clone(),
                clock: clock.clone(),
                counters: counters.clone(),
                components: components.clone(),
                offline: settings.is_offline(),
                base_url: settings.images.base_url.clone(),
                max_file_bytes: settings.images.max_file_bytes,
                deadline: settings.resilience.deadline,
            });
        let movies = MovieService::new(MovieServiceParts {
            cache: cache.clone(),
            tmdb,
            clock: clock.clone(),
            ttl: settings.ttl.clone(),
            resilience: settings.resilience.clone(),
            default_language: settings.language,
            counters: counters.clone(),
            components: components.clone(),
            offline: settings.is_offline(),
        });
        let db = open_accounts(settings).await?;
        if matches!(db, crate::db::AccountStore::Postgres(_)) && settings.auth.jwt_secret.is_none()
        {
            return Err(StartupError::Other(SHARED_SECRET_NEEDED.to_owned()));
        }
        let secret = crate::service::auth::secret::load_or_create(
            settings.auth.jwt_secret.as_ref(),
            &settings.data_dir,
        )
        .map_err(StartupError::Other)?;
        let tokens = crate::service::auth::jwt::Tokens::new(
            &secret,
            settings.auth.access_ttl,
            settings.auth.refresh_ttl,
        );
        let accounts = crate::service::accounts::AccountService::new(
            db,
            tokens,
            cache.clone(),
            clock.clone(),
            settings.ttl.user,
            crate::service::accounts::Hashing::new(
                settings.auth.hash_slots(),
                settings.auth.hash_wait,
            ),
        );
        let favorites = crate::service::favorites::FavoriteService::new(accounts.clone());
        let settings_service = crate::service::settings::SettingService::new(accounts.db().clone());
        let (alive, state_released) = tokio::sync::mpsc::channel(1);
        let state = AppState::new(AppStateInner {
            _alive: alive,
            images,
            accounts,
            favorites,
            settings: settings_service,
            metrics_access: settings.http.metrics,
            cors_origins: settings.http.cors_origins.as_deref().map(Arc::from),
            client_limiter: crate::service::client_limit::ClientLimiter::new(
                &settings.clients,
                counters.clone(),
            )
            .shared(cache.shared_windows(), &settings.clients),
            // Redis expires entries by their TTL and bounds itself: nothing to sweep there.
            sweeper: (!settings.is_offline() && !cache.expires_by_itself()).then(|| {
                crate::cache::sweeper::Sweeper::new(
                    cache.clone(),
                    counters.clone(),
                    clock.clone(),
                    settings.resilience.stale_grace,
                    settings.cache.sweep_every,
                )
            }),
            lifecycle: crate::service::lifecycle::Lifecycle::default(),
            warm_runs: Arc::new(crate::service::warm_runs::WarmRuns::new(clock.clone())),
            change_feed: Arc::new(crate::service::change_feed::ChangeFeed::new(
                movies.clone(),
                settings.changes.every,
                &settings.data_dir,
                clock.clone(),
            )),
            warm_settings: settings.warm.clone(),
            started: std::time::Instant::now(),
            movies,
            cache,
            counters,
            components,
            health: Arc::new(crate::sync::Recent::new(std::time::Duration::from_secs(1))),
            clock,
            etag_salt: settings.public_url.as_deref().map_or(0, |url| {
                crate::cache::envelope::payload_hash(url.as_bytes())
            }),
            public_url: settings.public_url.as_deref().map(Arc::from),
        });
        Ok(Opened {
            state,
            state_released,
            lock,
        })
    }
}

/// The configured page store: Redis when a cache URL is set, else sled in the data directory.
async fn open_store(settings: &Settings, clock: &Clock) -> Result<Store, StartupError> {
    if let Some(url) = &settings.cache.url {
        let redis = RedisStore::open(
            &settings.cache,
            settings.resilience.stale_grace,
            clock.clone(),
            settings.is_offline(),
        )
        .map_err(|e| StartupError::Cache(e.to_string()))?;
        tracing::info!(
            %url,
            prefix = redis.prefix(),
            "page cache in Redis, shared with every instance on it"
        );
        return Ok(Store::Redis(redis));
    }
    let data_dir = settings.data_dir.clone();
    let cache_settings = settings.cache.clone();
    let sled = tokio::task::spawn_blocking(move || SledSlot::open(&data_dir, &cache_settings))
        .await
        .map_err(|e| StartupError::Cache(e.to_string()))?
        .map_err(|e| StartupError::Cache(e.to_string()))?;
    Ok(Store::Sled(sled))
}

/// Creates the data directory and takes an exclusive lock on `<dir>/reelcache.lock`, so a second
/// process on the same directory is refused clearly instead of finding sled's lock and mistaking
/// it for damage.
pub fn lock_data_dir(dir: &Path) -> Result<File, StartupError> {
    let data_dir_error = |e: std::io::Error| StartupError::DataDir {
        path: dir.to_owned(),
        reason: e.to_string(),
    };
    crate::private_fs::create_dir(dir).map_err(data_dir_error)?;
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("reelcache.lock"))
        .map_err(data_dir_error)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StartupError::DataDirLocked(dir.to_owned())),
        Err(std::fs::TryLockError::Error(e)) => Err(data_dir_error(e)),
    }
}

/// Why an instance on PostgreSQL refuses to start without a configured signing secret.
const SHARED_SECRET_NEEDED: &str = "the accounts are in PostgreSQL (database.url), shared by \
    every instance, so every instance must sign tokens with the same secret: set \
    REELCACHE_AUTH_JWT_SECRET (or REELCACHE_JWT_SECRET_FILE) to the same value of at least 32 \
    characters on each, instead of letting each generate its own";

/// The account store the settings name: PostgreSQL when `database.url` is set, else SQLite in
/// the data directory.
pub async fn open_accounts(settings: &Settings) -> Result<crate::db::AccountStore, StartupError> {
    let store = if settings.database.url.is_some() {
        crate::db::AccountStore::Postgres(
            crate::db::PgStore::open(&settings.database)
                .await
                .map_err(|e| {
                    StartupError::Database(format!(
                        "PostgreSQL at {}: {e}",
                        settings
                            .database
                            .url
                            .as_ref()
                            .map(|u| u.target())
                            .unwrap_or_default()
                    ))
                })?,
        )
    } else {
        let data_dir = settings.data_dir.clone();
        crate::db::AccountStore::Sqlite(
            tokio::task::spawn_blocking(move || crate::db::Database::open(&data_dir))
                .await
                .map_err(|e| StartupError::Other(e.to_string()))?
                .map_err(|e| StartupError::Database(e.to_string()))?,
        )
    };
    Ok(store)
}

/// The TMDB rate of every instance on one Redis: slots of a GCRA bucket kept there.
struct SharedTmdbRate(crate::cache::SharedRate);

impl crate::tmdb::budget::RateSlots for SharedTmdbRate {
    fn take(
        &self,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Option<std::time::Duration>, ()>> + Send + '_>>
    {
        Box::pin(async move { self.0.take().await.map_err(drop) })
    }
}
