//! The command line and the wiring: settings in, every part built, the server or a command run.

/// The command line (clap).
pub mod cli;
/// The command-line tools: warm, snapshots, users, cache, config, demo data.
pub mod commands;
/// Building and running the application.
pub mod startup;
