//! reelcache: a TMDB movie API server with a persistent, pagination-aware page cache.

/// Accounts: registration, login, tokens, profiles.
pub mod accounts;
/// The local control socket of a running server.
pub mod admin_socket;
/// Passwords, JWTs, the signing secret, login throttling.
pub mod auth;
/// The page cache: keys, the entry envelope, the stores.
pub mod cache;
/// Cache statistics and clearing for staff, the admin socket and the command line.
pub mod cache_admin;
/// The command line.
pub mod cli;
/// The clock freshness is judged by.
pub mod clock;
/// The command-line tools: warm, snapshots, demo data.
pub mod commands;
/// Components that stopped working, for `/health/`.
pub mod components;
/// Settings: defaults, file, environment, flags.
pub mod config;
/// Process-wide counters of cache and upstream events.
pub mod counters;
/// SQLite: users, favorites, settings.
pub mod db;
/// Synthetic store fills for scale benchmarks.
pub mod dev_fill;
/// Validated request values.
pub mod domain;
/// `ApiError` and the contract's error envelope.
pub mod error;
/// A fake TMDB with synthetic data, for tests, demo data and benchmarks.
pub mod fake_tmdb;
/// A user's favorites.
pub mod favorites;
/// Hex digits without the formatting machinery.
pub mod hex;
/// Routes, filters, responses.
pub mod http;
/// Where the server is between start and stop, for `/health/ready`.
pub mod lifecycle;
/// Offline search over the movies stored locally.
pub mod local_search;
/// Prometheus metrics.
pub mod metrics_export;
/// The movie service: cache rules and TMDB calls.
pub mod movies;
/// Owner-only files and directories in the data directory.
pub mod private_fs;
/// CPU, memory and file descriptors of the process, for `/metrics`.
pub mod process_metrics;
/// Portable snapshot files of the cache.
pub mod snapshot;
/// Building and running the application.
pub mod startup;
/// The state shared by request handlers.
pub mod state;
/// Locks that a panic cannot poison.
pub mod sync;
/// Logging and the blocking-work helper.
pub mod telemetry;
/// The TMDB client.
pub mod tmdb;
/// Filling the cache ahead of demand.
pub mod warm;
