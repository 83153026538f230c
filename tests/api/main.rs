//! Black-box tests: the real application on port 0, a temporary data directory, and a fake TMDB
//! on 127.0.0.1 that records what it was asked. No test touches the network or sleeps for a TTL.

mod admin;
mod binary;
mod cache;
mod cli;
mod disk;
mod docs;
mod fast_path;
mod favorites;
mod helpers;
mod hot_tier;
mod limits;
mod login_limits;
mod movies;
mod offline;
mod operations;
mod operations_env;
mod redis_server;
mod resilience;
mod scale_out;
mod scale_out_cli;
mod store_conformance;
mod upstream;
mod users;
mod validation;
