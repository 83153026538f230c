//! Images through reelcache: `GET /api/images/{size}/{file}` answered from the image cache
//! (memory, then disk), else fetched once from TMDB's image server however many ask at once,
//! kept, and served. Offline, only what is stored is served; anything else is a 404.
//!
//! Where the image server is: `images.base_url` when configured, else what TMDB's
//! `/configuration` says (asked once a day when online; until it answers, TMDB's usual host).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

pub use crate::cache::images::StoredImage;
use crate::cache::images::{ImageStats, ImageStore};
use crate::clock::Clock;
use crate::counters::Counters;
use crate::domain::Requester;
use crate::domain::image::ImagePath;
use crate::error::ApiError;
use crate::service::movies::flight::SingleFlight;
use crate::telemetry::spawn_blocking;
use crate::tmdb::images::DEFAULT_BASE_URL;
use crate::tmdb::{TmdbClient, TmdbError};

/// How long `/configuration`'s answer is used before it is asked again.
const CONFIGURATION_TTL: Duration = Duration::from_secs(24 * 3600);
/// After `/configuration` failed, how long the default host is used before asking again.
const CONFIGURATION_RETRY: Duration = Duration::from_secs(300);
/// How long the image server's 404 for a path is remembered, and for how many paths at most:
/// names that do not exist cost one upstream call per path and 10 minutes, not one per request.
const MISSING_FOR_MS: u64 = 600_000;
const MISSING_KEYS: usize = 10_000;

/// How an image request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageOutcome {
    /// From the image cache.
    Hit,
    /// Fetched from TMDB for this request (or joined a fetch in flight: `coalesced`).
    Miss { coalesced: bool },
}

pub struct ImageServiceParts {
    pub store: Arc<ImageStore>,
    pub tmdb: TmdbClient,
    pub clock: Clock,
    pub counters: Arc<Counters>,
    pub components: crate::service::components::Components,
    pub offline: bool,
    /// `images.base_url`: `None` asks TMDB's `/configuration`.
    pub base_url: Option<String>,
    /// The largest image fetched (bigger answers are refused, never stored).
    pub max_file_bytes: u64,
    /// How long one image fetch may take, retry included.
    pub deadline: Duration,
}

#[derive(Clone)]
pub struct ImageService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<ImageStore>,
    tmdb: TmdbClient,
    clock: Clock,
    counters: Arc<Counters>,
    offline: bool,
    configured_base: Option<String>,
    /// What `/configuration` said, and until when it is used.
    discovered_base: Mutex<Option<(String, Instant)>>,
    /// Held while `/configuration` is asked: one lookup at a time, the others wait for it.
    discovering: tokio::sync::Mutex<()>,
    /// Paths the image server answered 404 for, with until when (Unix ms).
    missing: quick_cache::sync::Cache<String, u64>,
    flights: SingleFlight<StoredImage>,
    max_file_bytes: u64,
    deadline: Duration,
}

impl ImageService {
    pub fn new(parts: ImageServiceParts) -> ImageService {
        ImageService {
            inner: Arc::new(Inner {
                store: parts.store,
                tmdb: parts.tmdb,
                clock: parts.clock,
                counters: parts.counters,
                offline: parts.offline,
                configured_base: parts.base_url,
                discovered_base: Mutex::new(None),
                discovering: tokio::sync::Mutex::new(()),
                missing: quick_cache::sync::Cache::new(MISSING_KEYS),
                flights: SingleFlight::new(parts.components),
                max_file_bytes: parts.max_file_bytes,
                deadline: parts.deadline,
            }),
        }
    }

    /// The image from memory when it is there: no I/O, nothing counted (the fast path's
    /// question; it counts the hit with [`Self::count_hit`] once it answers).
    pub fn peek(&self, path: &ImagePath) -> Option<StoredImage> {
        self.inner.store.get_memory(&path.to_string())
    }

    pub fn count_hit(&self) {
        Counters::incr(&self.inner.counters.image_hits);
    }

    /// The image, from the cache or fetched (once, whoever else asks meanwhile).
    pub async fn get(
        &self,
        path: &ImagePath,
        who: Requester,
    ) -> Result<(StoredImage, ImageOutcome), ApiError> {
        let key = path.to_string();
        if let Some(image) = self.inner.store.get_memory(&key) {
            Counters::incr(&self.inner.counters.image_hits);
            return Ok((image, ImageOutcome::Hit));
        }
        let store = self.inner.store.clone();
        let lookup = key.clone();
        if let Some(image) = spawn_blocking(move || store.get(&lookup)).await {
            Counters::incr(&self.inner.counters.image_hits);
            return Ok((image, ImageOutcome::Hit));
        }
        Counters::incr(&self.inner.counters.image_misses);
        if self.inner.offline {
            return Err(ApiError::NotFound(
                "This image is not in the image cache, and the server is offline".to_owned(),
            ));
        }
        if self
            .inner
            .missing
            .get(&key)
            .is_some_and(|until| self.inner.clock.now_ms() < until)
        {
            return Err(not_found());
        }
        let inner = self.inner.clone();
        let wanted = path.clone();
        let (result, coalesced) = self
            .inner
            .flights
            .run(
                &key,
                async move { inner.fetch_and_store(&wanted, who).await },
            )
            .await;
        if coalesced {
            Counters::incr(&self.inner.counters.image_coalesced);
        }
        result.map(|image| (image, ImageOutcome::Miss { coalesced }))
    }

    /// Fetches and keeps `path` unless it is stored already (warm runs); `Ok(false)`: it was.
    pub async fn warm(&self, path: &ImagePath) -> Result<bool, ApiError> {
        match self.get(path, Requester::Background).await? {
            (_, ImageOutcome::Hit) => Ok(false),
            (_, ImageOutcome::Miss { .. }) => Ok(true),
        }
    }

    pub fn stats(&self) -> ImageStats {
        self.inner.store.stats()
    }

    /// Where images are fetched from now (`None` offline).
    pub fn base_url(&self) -> Option<String> {
        if self.inner.offline {
            return None;
        }
        Some(
            self.inner
                .current_base()
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
        )
    }

    /// Removes every stored image; how many there were.
    pub async fn clear(&self) -> Result<u64, ApiError> {
        let store = self.inner.store.clone();
        Ok(spawn_blocking(move || store.clear()).await)
    }

    pub(crate) fn store(&self) -> &Arc<ImageStore> {
        &self.inner.store
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("TMDB's image server has no such image".to_owned())
}

impl Inner {
    fn current_base(&self) -> Option<String> {
        if let Some(base) = &self.configured_base {
            return Some(base.clone());
        }
        let discovered = crate::sync::lock(&self.discovered_base);
        discovered.as_ref().map(|(base, _)| base.clone())
    }

    /// The image server's base URL: configured, or `/configuration`'s (asked again once its
    /// day is over, by one request at a time, as background work; a failed answer keeps the
    /// last known one, or TMDB's usual host, for 5 minutes).
    async fn base(&self) -> String {
        if let Some(base) = &self.configured_base {
            return base.clone();
        }
        let known = || {
            crate::sync::lock(&self.discovered_base)
                .clone()
                .filter(|(_, until)| Instant::now() < *until)
        };
        if let Some((base, _)) = known() {
            return base;
        }
        let _only_one = self.discovering.lock().await;
        if let Some((base, _)) = known() {
            return base;
        }
        let known = crate::sync::lock(&self.discovered_base).clone();
        let (base, keep_for) = match self.tmdb.image_base_url(Requester::Background).await {
            Ok(base) => (base, CONFIGURATION_TTL),
            Err(e) => {
                tracing::warn!(error = %e, "TMDB's /configuration did not say where images are");
                let fallback = known.map_or_else(|| DEFAULT_BASE_URL.to_owned(), |(b, _)| b);
                (fallback, CONFIGURATION_RETRY)
            }
        };
        *crate::sync::lock(&self.discovered_base) = Some((base.clone(), Instant::now() + keep_for));
        base
    }

    async fn fetch_and_store(
        &self,
        path: &ImagePath,
        who: Requester,
    ) -> Result<StoredImage, ApiError> {
        // Stored by a fetch that ended between this request's look and its flight.
        let store = self.store.clone();
        let key = path.to_string();
        if let Some(image) = spawn_blocking(move || store.get(&key)).await {
            return Ok(image);
        }
        let base = self.base().await;
        let bytes = self
            .tmdb
            .get_image(&base, path, self.max_file_bytes, self.deadline, who)
            .await
            .map_err(|e| match e {
                TmdbError::NotFound => {
                    self.missing
                        .insert(path.to_string(), self.clock.now_ms() + MISSING_FOR_MS);
                    not_found()
                }
                TmdbError::InvalidBody(reason) => ApiError::Upstream(format!(
                    "TMDB's image server sent no usable image ({reason})"
                )),
                other => ApiError::from(other),
            })?;
        let image = StoredImage::new(path, path.expected_type(), self.clock.now_ms(), bytes);
        let store = self.store.clone();
        let keep = image.clone();
        // A disk that refuses the write costs the image its place on disk, not its answer.
        let _ = spawn_blocking(move || store.put(&keep)).await;
        Ok(image)
    }
}
