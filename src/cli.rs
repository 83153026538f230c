//! The command line (clap). Global flags override the configuration file and the environment.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::FlagOverrides;

#[derive(Debug, Parser)]
#[command(
    name = "reelcache",
    version,
    about = "A caching TMDB movie API server in one binary",
    long_about = "A caching TMDB movie API server in one binary.\n\nSettings come from defaults, \
                  then --config FILE, then environment variables, then these flags. See \
                  config.example.toml for every setting."
)]
pub struct Cli {
    /// TOML configuration file (see config.example.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8000 (port 0 picks a free port) [env: REELCACHE_LISTEN]
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Data directory holding the cache [env: REELCACHE_DATA_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// TMDB API base URL [env: TMDB_BASE_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub tmdb_base_url: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default)
    Serve,
}

impl Cli {
    pub fn flag_overrides(&self) -> FlagOverrides {
        FlagOverrides {
            listen: self.listen.clone(),
            data_dir: self.data_dir.clone(),
            tmdb_base_url: self.tmdb_base_url.clone(),
        }
    }
}
