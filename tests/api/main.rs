//! Black-box tests: the real application on port 0, a temporary data directory, and a fake TMDB
//! on 127.0.0.1 that records what it was asked. No test touches the network or sleeps for a TTL.
//! Tests that need something this machine may lack (a `redis-server`, root) live in
//! `tests/system`, whose own harness reports them as ignored when it is missing.

#[path = "../support/helpers.rs"]
mod helpers;
#[path = "../support/process.rs"]
mod process;

mod admin;
mod binary;
mod cache;
mod cli;
mod docs;
mod encoding;
mod fast_path;
mod favorites;
mod hot_tier;
mod images;
mod layers;
mod limits;
mod login_limits;
mod movies;
mod offline;
mod operations;
mod operations_env;
mod readme;
mod resilience;
mod thinking_ahead;
mod upstream;
mod users;
mod validation;
