//! What the API does, apart from how it is asked: the movie service with its cache rules, accounts
//! and favorites, cache administration, health, limits. Services use the stores and the TMDB
//! client below them and never know HTTP.

/// Accounts: registration, login, tokens, profiles.
pub mod accounts;
/// The statistics' analytics: history, calls saved, recommendations.
pub mod analytics;
/// Passwords, JWTs, the signing secret, login throttling.
pub mod auth;
/// Cache statistics and clearing for staff, the admin socket and the command line.
pub mod cache_admin;
/// The per-client request limiter and the client's address.
/// TMDB's change list, polled to drop what it says was edited.
pub mod change_feed;
pub mod client_limit;
/// Components that stopped working, for `/health/`.
pub mod components;
/// Store and TMDB failures as client-visible errors.
pub mod errors;
/// A user's favorites.
pub mod favorites;
/// `/health/` and readiness: every check, reused for a second.
pub mod health;
/// Images through reelcache: the image cache in front of TMDB's image server.
pub mod images;
/// Where the server is between start and stop, for `/health/ready`.
pub mod lifecycle;
/// Offline search over the movies stored locally.
pub mod local_search;
/// The movie service: cache rules and TMDB calls.
pub mod movies;
/// The slowest routes, read from the request histograms.
pub mod route_latency;
/// Application settings.
pub mod settings;
/// The state shared by request handlers.
pub mod state;
/// Filling the cache ahead of demand.
pub mod warm;
/// The server's own warm runs: the schedule and the staff endpoint's.
pub mod warm_runs;
