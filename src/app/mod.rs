//! The command line and the wiring: settings in, every part built, the server or a command run.

/// The allocator's settings.
pub mod allocator;
/// The command line (clap).
pub mod cli;
/// The command-line tools: warm, snapshots, users, cache, config, demo data.
pub mod commands;
/// `reelcache dev fill`: synthetic store fills for scale benchmarks.
pub mod dev_fill;
/// Opening a data directory: the stores, the client and the services wired together.
pub mod open;
/// Building and running the application.
pub mod startup;
