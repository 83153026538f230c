//! reelcache: a TMDB movie API server with a persistent, pagination-aware page cache.
//!
//! The layers, top to bottom; every import points down (`tests/api/layers.rs` holds the code to
//! it, and `docs/ARCHITECTURE.md` walks through it):
//!
//! - [`app`]: the command line and the wiring: reads the settings, builds every part, runs the
//!   server or a command.
//! - [`http`] and [`ops`]: the doors. `http` answers the API (a fast path for hot hits before
//!   warp's filters, then the full route); `ops` answers operators (the admin socket, the
//!   metrics text).
//! - [`service`]: what the API does: movies (the cache rules and TMDB), accounts, favorites,
//!   settings, health, limits, warming.
//! - [`tmdb`], [`cache`], [`db`]: the client and the stores: TMDB over HTTP, the page cache
//!   (sled or Redis), SQLite.
//! - The ground floor, used by all: [`config`], [`domain`], [`error`], [`clock`], [`counters`],
//!   [`measure`], [`telemetry`], [`sync`], [`hex`], [`private_fs`].
//! - [`dev`]: tools for tests, demo data and benchmarks (a fake TMDB, synthetic fills); only
//!   `app` and the tests use it.

pub mod app;
pub mod http;
pub mod ops;
pub mod service;

pub mod cache;
pub mod db;
pub mod tmdb;

/// The clock freshness is judged by.
pub mod clock;
/// Settings: defaults, file, environment, flags.
pub mod config;
/// Process-wide counters of cache and upstream events.
pub mod counters;
/// Validated request values.
pub mod domain;
/// `ApiError`: every failure a client can see.
pub mod error;
/// Hex digits without the formatting machinery.
pub mod hex;
/// The metric families and their recording (exposed by `ops::metrics`).
pub mod measure;
/// Owner-only files and directories in the data directory.
pub mod private_fs;
/// Locks that a panic cannot poison.
pub mod sync;
/// Logging and the blocking-work helper.
pub mod telemetry;

pub mod dev;
