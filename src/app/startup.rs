//! `Application`: a data directory opened (`app::open`), the listener bound, the server run until
//! stopped and the stores closed cleanly. Tests build the same application on port 0 with a
//! temporary data directory.

use std::fs::File;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::open::Opened;
use crate::cache::SledStore;
use crate::clock::Clock;
use crate::config::{CacheSettings, SeedSnapshot, Settings};
use crate::service::state::AppState;

/// Why the server could not start (configuration problems are `ConfigError`, before this).
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    #[error(
        "data directory {0} is in use by another reelcache process (stop it, or use another --data-dir)"
    )]
    DataDirLocked(PathBuf),
    #[error("cache store: {0}")]
    Cache(String),
    #[error("{0}")]
    Database(String),
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
    #[error("{0}")]
    Other(String),
}

/// How long shutdown waits for the last request task to let go of the state.
const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub struct Application {
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    state: AppState,
    /// Closed when every clone of `state` is gone.
    state_released: tokio::sync::mpsc::Receiver<()>,
    /// How long in-flight requests may take to finish once shutdown starts.
    shutdown_grace: std::time::Duration,
    shutdown_delay: std::time::Duration,
    serve: crate::http::server::ServeSettings,
    data_dir: PathBuf,
    /// For folding sled's log at shutdown (`fold_sled_log`).
    cache_settings: CacheSettings,
    /// Held for the process's lifetime: one server per data directory.
    _lock: File,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        Self::build_with_clock(settings, Clock::system()).await
    }

    /// As `build`, with the clock freshness is judged by (tests move it).
    pub async fn build_with_clock(
        settings: Settings,
        clock: Clock,
    ) -> Result<Application, StartupError> {
        let Opened {
            state,
            state_released,
            lock,
        } = Opened::open(&settings, clock).await?;
        if let Some(reason) = settings.offline_reason() {
            tracing::warn!(
                "running OFFLINE ({reason}): serving only the data directory, never contacting TMDB"
            );
            seed_if_empty(&state, &settings.seed_snapshot).await;
        }

        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(|e| StartupError::Bind {
                addr: settings.listen,
                reason: e.to_string(),
            })?;
        let local_addr = listener.local_addr().map_err(|e| StartupError::Bind {
            addr: settings.listen,
            reason: e.to_string(),
        })?;
        Ok(Application {
            listener,
            local_addr,
            state,
            state_released,
            shutdown_grace: settings.resilience.shutdown_grace,
            shutdown_delay: settings.resilience.shutdown_delay,
            serve: serve_settings(&settings),
            data_dir: settings.data_dir.clone(),
            cache_settings: settings.cache.clone(),
            _lock: lock,
        })
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves (and for `shutdown_delay` after it, not ready), then
    /// stops accepting, gives in-flight requests
    /// `shutdown_grace` to finish, stops the sweeper, flushes the cache, and returns once nothing
    /// holds the stores any more, so the data directory can be reopened.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let Application {
            listener,
            state,
            mut state_released,
            shutdown_grace,
            shutdown_delay,
            serve,
            data_dir,
            cache_settings,
            _lock,
            ..
        } = self;
        let fold_dir = data_dir.clone();
        let cache = state.cache.clone();
        let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
        // Each background task runs supervised: a panic in one is caught, noted for `/health/`
        // (which then reports it), and the server goes on without it.
        let components = state.components.clone();
        let sweeper = state.sweeper.clone().map(|sweeper| {
            let mut stopping = stopping.clone();
            components.spawn(
                "sweeper",
                sweeper.run(async move {
                    let _ = stopping.wait_for(|s| *s).await;
                }),
            )
        });
        // A disk that refused the store's writes: reopened once it takes them again.
        let supervisor = cache.sled().cloned().map(|slot| {
            let mut stopping = stopping.clone();
            components.spawn(
                "cache_store_supervisor",
                slot.supervise(async move {
                    let _ = stopping.wait_for(|s| *s).await;
                }),
            )
        });
        let upkeep = {
            let mut stopping = stopping.clone();
            components.spawn(
                "metrics_upkeep",
                crate::measure::upkeep(async move {
                    let _ = stopping.wait_for(|s| *s).await;
                }),
            )
        };
        // Hot entries fetched again before they expire (returns at once when it is off).
        let ahead = {
            let mut stopping = stopping.clone();
            components.spawn(
                "refresh_ahead",
                state.movies.clone().refresh_ahead(async move {
                    let _ = stopping.wait_for(|s| *s).await;
                }),
            )
        };
        let warm_schedule = {
            let mut stopping = stopping.clone();
            components.spawn(
                "warm_schedule",
                state.warm_runs.clone().schedule(
                    state.movies.clone(),
                    state.counters.clone(),
                    state.warm_settings.clone(),
                    async move {
                        let _ = stopping.wait_for(|s| *s).await;
                    },
                ),
            )
        };
        let change_feed = {
            let mut stopping = stopping.clone();
            components.spawn(
                "change_feed",
                state.change_feed.clone().run(async move {
                    let _ = stopping.wait_for(|s| *s).await;
                }),
            )
        };
        let admin = {
            let mut stopping = stopping.clone();
            components.spawn(
                "admin_socket",
                crate::ops::admin_socket::serve(data_dir, state.clone(), async move {
                    let _ = stopping.wait_for(|s| *s).await;
                }),
            )
        };
        let lifecycle = state.lifecycle.clone();
        let server = crate::http::server::serve(listener, state, serve, async move {
            shutdown.await;
            if !shutdown_delay.is_zero() {
                // Not ready any more, but still answering: a load balancer sees the 503 on its
                // next probe and stops sending before anything is refused.
                lifecycle.draining();
                tracing::info!(
                    delay = %humantime::format_duration(shutdown_delay),
                    "stopping: /health/ready answers 503; still serving for the shutdown delay"
                );
                tokio::time::sleep(shutdown_delay).await;
            }
            let _ = stopping_tx.send(true);
        });
        let mut grace_over = stopping.clone();
        tokio::select! {
            () = server => {}
            () = async {
                let _ = grace_over.wait_for(|s| *s).await;
                tokio::time::sleep(shutdown_grace).await;
            } => {
                tracing::warn!(
                    grace = %humantime::format_duration(shutdown_grace),
                    "in-flight requests did not finish within the shutdown grace; closing them"
                );
            }
        }
        if let Some(sweeper) = sweeper {
            let _ = sweeper.await;
        }
        if let Some(supervisor) = supervisor {
            let _ = supervisor.await;
        }
        let _ = admin.await;
        let _ = upkeep.await;
        let _ = ahead.await;
        let _ = warm_schedule.await;
        let _ = change_feed.await;
        if let Err(e) = cache.flush().await {
            tracing::warn!(error = %e, "flushing the cache at shutdown failed");
        }
        let fold = cache.log_to_fold();
        drop(cache);
        // Connection tasks drop their clone of the state just after the server future ends.
        if tokio::time::timeout(RELEASE_WAIT, state_released.recv())
            .await
            .is_err()
        {
            tracing::warn!("some request state was still held at shutdown");
        } else {
            fold_sled_log(fold, &fold_dir, &cache_settings).await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Folds sled's log into its snapshot (`SledStore::fold_log`) when `fold` says there is one and
/// every handle on the store goes within a second (a task still holding one keeps sled's files;
/// the next start then replays). Call with the data directory locked and the store closed.
pub(crate) async fn fold_sled_log(
    fold: Option<crate::cache::sled_store::FoldToken>,
    data_dir: &Path,
    cache: &CacheSettings,
) {
    let Some(fold) = fold else {
        return;
    };
    if !fold.wait_released(std::time::Duration::from_secs(1)).await {
        tracing::debug!("the cache is still in use: its log is not folded");
        return;
    }
    let (dir, cache) = (data_dir.to_owned(), cache.clone());
    let started = std::time::Instant::now();
    let folded = tokio::task::spawn_blocking(move || SledStore::fold_log(&dir, &cache))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    match folded {
        Ok(()) => tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "folded the cache's log into its snapshot"
        ),
        Err(error) => tracing::warn!(%error, "folding the cache's log into its snapshot failed"),
    }
}

/// File descriptors kept out of the connection limit: the stores, SQLite, the TMDB and Redis
/// pools, the admin socket and whatever the runtime opens.
const RESERVED_FDS: u64 = 256;

/// The accept loop's bounds. The connection limit stays below the open-files limit (less what
/// the process needs besides), so clients can never use up the descriptors the stores need.
fn serve_settings(settings: &Settings) -> crate::http::server::ServeSettings {
    let http = &settings.http;
    let mut total = http.max_connections;
    if let Some(open_files) = open_files_limit() {
        // Whatever the limit, connections get at least half of it.
        let room = open_files
            .saturating_sub(RESERVED_FDS)
            .max(open_files / 2)
            .max(1);
        if (total as u64) > room {
            tracing::warn!(
                configured = total,
                open_files_limit = open_files,
                "REELCACHE_MAX_CONNECTIONS is above what the open-files limit leaves; using {room} \
                 (raise LimitNOFILE / ulimit -n to allow more)"
            );
            total = room as usize;
        }
    }
    crate::http::server::ServeSettings {
        header_timeout: http.header_timeout,
        body_timeout: http.body_timeout,
        limits: crate::http::connections::ConnectionLimits {
            total,
            per_client: http.max_connections_per_client,
            trusted: settings.clients.trusted_proxies.clone().into(),
        },
    }
}

/// This process's soft limit on open files.
fn open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct passed.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// Offline with an empty cache: load the seed snapshot once (by default the demo data compiled
/// into the binary). A missing or bad seed is logged loudly, never fatal: the server still
/// serves what it can.
async fn seed_if_empty(state: &AppState, seed: &SeedSnapshot) {
    let source: (String, Box<dyn std::io::Read + Send>) = match seed {
        SeedSnapshot::None => return,
        SeedSnapshot::Builtin => (
            "the built-in demo data".to_owned(),
            Box::new(crate::cache::snapshot::DEMO),
        ),
        SeedSnapshot::File(path) => match File::open(path) {
            Ok(file) => (path.display().to_string(), Box::new(file)),
            Err(e) => {
                tracing::error!(
                    error = %e,
                    "the seed snapshot {} (REELCACHE_SEED_SNAPSHOT) cannot be read: serving \
                     offline with only what the cache holds",
                    path.display()
                );
                return;
            }
        },
    };
    if !state.cache.is_empty().await {
        return;
    }
    let (name, reader) = source;
    let cache = state.cache.clone();
    let images = state.images.store().clone();
    let started = std::time::Instant::now();
    let result = tokio::task::spawn_blocking(move || {
        crate::cache::snapshot::import_from(&cache, Some(&images), reader, &mut |_| {})
    })
    .await;
    match result {
        Ok(Ok((header, summary))) => tracing::info!(
            entries = summary.entries,
            elapsed_ms = started.elapsed().as_millis() as u64,
            description = %header.description,
            "imported {name} into the empty cache"
        ),
        Ok(Err(e)) => tracing::error!(error = %e, "the seed snapshot {name} was not imported"),
        Err(e) => tracing::error!(error = %e, "importing the seed snapshot failed"),
    }
}
