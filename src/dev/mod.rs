//! Tools for tests, demo data and benchmarks. Only `app` (the `dev` commands) and the tests use
//! them; nothing the server runs depends on them.

/// How the built-in compression dictionary was made.
pub mod dictionary;
/// A fake TMDB with synthetic data, for tests, demo data and benchmarks.
pub mod fake_tmdb;
