//! The command line (clap). Global flags override the configuration file and the environment.

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::FlagOverrides;

#[derive(Debug, Parser)]
#[command(
    name = "reelcache",
    version,
    about = "A caching TMDB movie API server in one binary",
    long_about = "A caching TMDB movie API server in one binary.\n\nSettings come from defaults, \
                  then --config FILE, then environment variables, then these flags. See \
                  config.example.toml for every setting.",
    after_help = "TMDB_API_KEY holds the TMDB credential (without one, reelcache serves offline). \
                  Every setting has an environment variable: --help lists them.",
    after_long_help = crate::config::environment_help(),
    mut_args = name_environment_variables,
)]
pub struct Cli {
    /// TOML configuration file (see config.example.toml)
    #[arg(long, global = true, value_name = "FILE", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8000 (port 0 picks a free port)
    #[arg(long, global = true, value_name = "ADDR", help_heading = GLOBAL)]
    pub listen: Option<String>,
    /// Data directory holding the cache and the account database
    #[arg(long, global = true, value_name = "DIR", help_heading = GLOBAL)]
    pub data_dir: Option<String>,
    /// TMDB API base URL
    #[arg(long, global = true, value_name = "URL", help_heading = GLOBAL)]
    pub tmdb_base_url: Option<String>,
    /// Shared page cache in Redis instead of the embedded store, e.g. redis://127.0.0.1:6379/0
    #[arg(long, global = true, value_name = "URL", help_heading = GLOBAL)]
    pub cache_url: Option<String>,
    /// Serve only the data directory; never contact TMDB
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub offline: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The heading of the flags every command takes, so that a subcommand's `--help` shows its own
/// flags apart from them.
const GLOBAL: &str = "Global options";

/// Appends each flag's environment variables to its help (`[env: REELCACHE_LISTEN]`), taken from
/// the settings table so that they cannot drift. Not clap's own `env`: clap would then read the
/// variable itself, as if it were the flag, and `config check` would name the wrong source.
fn name_environment_variables(arg: clap::Arg) -> clap::Arg {
    let Some(spec) = arg.get_long().and_then(crate::config::setting_of_flag) else {
        return arg;
    };
    let names: Vec<&str> = std::iter::once(spec.env()).chain(spec.alias).collect();
    let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
    arg.help(format!("{help} [env: {}]", names.join(", ")))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default)
    Serve,
    /// Fill the cache from TMDB: trending, popular, then details and recommendations of every
    /// movie on those pages. Skips what is still fresh; interrupt and re-run to continue.
    Warm(WarmArgs),
    /// Export or import the cache as one portable file
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Cache statistics and clearing (through the running server when there is one)
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Configuration tools
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage accounts (works while the server runs)
    #[command(subcommand)]
    User(UserCommand),
    /// Back up and restore the account database
    #[command(subcommand)]
    Db(DbCommand),
    /// Tools for reelcache's own development
    #[command(subcommand, hide = true)]
    Dev(DevCommand),
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Print what the staff endpoint GET /api/utils/cache/ returns
    Stats,
    /// Remove every cache entry, one namespace, or one key (never users or favorites)
    Clear {
        /// Only this namespace, e.g. trending_movies
        #[arg(long, conflicts_with = "key")]
        namespace: Option<String>,
        /// Only this key, e.g. movie:550
        #[arg(long)]
        key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, where each value came from, secrets redacted
    Check,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Write a consistent copy of the account database (users, tokens, favorites, settings) to
    /// FILE; safe while the server runs
    Backup {
        /// Where to write the copy (must not exist yet)
        file: std::path::PathBuf,
    },
    /// Put a backup back as the account database; the server must be stopped. The database it
    /// replaces is kept as reelcache.db.before-restore
    Restore {
        /// A file written by `reelcache db backup`
        file: std::path::PathBuf,
    },
    /// Copy the SQLite account database of the data directory (users with their password
    /// hashes, live refresh tokens, favorites, settings) into an empty PostgreSQL database, in
    /// one transaction, and check the counts; the server must be stopped
    MigrateTo {
        /// The target: postgres://user:password@host:port/database (it must hold no accounts)
        url: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input
    Create {
        /// The new account's name (unique, whatever the letter case)
        username: String,
        /// Make the account staff (may use the /api/utils/ staff endpoints)
        #[arg(long)]
        admin: bool,
        /// The account's email address
        #[arg(long)]
        email: Option<String>,
        /// Read the password from standard input (the only way: never on the command line)
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Grant staff to an account, or take it away with --revoke
    SetAdmin {
        /// The account to change
        username: String,
        /// Take staff away instead of granting it
        #[arg(long)]
        revoke: bool,
    },
    /// List accounts
    List,
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Regenerate the synthetic demo snapshot (data/demo.rcsnap) from the built-in fake TMDB
    MakeDemo {
        /// Where to write the snapshot
        file: PathBuf,
    },
    /// Write the compression dictionary's bytes (src/cache/lz4_dict_v1.bin) as they were made
    MakeDict {
        /// Where to write the dictionary
        file: PathBuf,
    },
    /// Fill the data directory's cache with synthetic entries, for scale benchmarks
    Fill(FillArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct FillArgs {
    /// How many entries to store
    #[arg(long)]
    pub entries: u64,
    /// `page`: recommendation pages of 20 items (~14 KB of JSON, served at
    /// /api/movies/{1..=N}/recommendations/); `movie`: movie details (~1.5 KB, served at
    /// /api/movies/{1..=N}/)
    #[arg(long, value_enum, default_value = "page")]
    pub shape: FillShape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FillShape {
    Page,
    Movie,
}

#[derive(Debug, Clone, clap::Args)]
pub struct WarmArgs {
    /// Trending pages per time window (day and week)
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=500))]
    pub trending_pages: u32,
    /// Popular pages
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=500))]
    pub popular_pages: u32,
    /// Recommendation pages per movie (TMDB has at most 2)
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=500))]
    pub recommendation_pages: u32,
    /// Do not fetch movie details
    #[arg(long)]
    pub no_details: bool,
    /// Requests in flight at once (all still pass the TMDB rate limiter)
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,
    /// At most this many TMDB fetches (what is still fresh costs nothing); the rest is left
    /// for the next run. Default: no bound
    #[arg(long, value_name = "CALLS", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub budget: Option<u64>,
    /// Exit 1 when more requests than this fail: a count (10) or a share of the requests made
    /// (5%). Default: any, so long as something was fetched (fetching nothing and failing
    /// anything always exits 1)
    #[arg(long, value_name = "COUNT|PERCENT%", default_value = "100%")]
    pub max_failures: crate::service::warm::FailureBudget,
    /// Also fetch the poster of every movie on the warmed pages, at this TMDB size (w342 is
    /// what the built-in front end shows)
    #[arg(long, value_name = "SIZE", value_parser = clap::builder::PossibleValuesParser::new(crate::domain::image::SIZES))]
    pub images: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Write the cache to FILE
    Export {
        /// Where to write the snapshot
        file: PathBuf,
        /// Only these namespaces (repeatable), e.g. trending_movies
        #[arg(long = "namespace", value_name = "NAMESPACE")]
        namespaces: Vec<String>,
        /// Free text stored in the snapshot's header
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Check FILE completely, then load it into the cache
    Import {
        /// A file written by `reelcache snapshot export`
        file: PathBuf,
    },
}

impl Cli {
    /// The command line, and the settings given on it as flags. Only what was typed counts as a
    /// flag (not a default), so `config check` names the right source.
    pub fn parse_with_flags() -> (Cli, FlagOverrides) {
        let matches = Cli::command().get_matches();
        let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        (cli, flags_given(&matches))
    }
}

/// Every global flag that names a setting (`--listen`, `--tmdb-base-url`, ...) and was given.
fn flags_given(matches: &clap::ArgMatches) -> FlagOverrides {
    let command = Cli::command();
    command
        .get_arguments()
        .filter_map(|arg| Some((arg.get_id().as_str(), arg.get_long()?)))
        .filter(|(_, long)| crate::config::setting_of_flag(long).is_some())
        .filter(|(id, _)| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
        .filter_map(|(id, long)| {
            let value = matches.get_raw(id)?.next()?.to_string_lossy().into_owned();
            Some((long, value))
        })
        .fold(FlagOverrides::default(), |flags, (long, value)| {
            flags.set(&format!("--{long}"), value)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags_of(args: &[&str]) -> Vec<(&'static str, String)> {
        let matches = Cli::command().try_get_matches_from(args).unwrap();
        let flags = flags_given(&matches);
        crate::config::SPECS
            .iter()
            .filter_map(|spec| flags.value_of(spec.key))
            .map(|(value, flag)| (flag, value.to_owned()))
            .collect()
    }

    #[test]
    fn only_typed_flags_count_wherever_they_are_given() {
        assert!(flags_of(&["reelcache"]).is_empty());
        assert_eq!(
            flags_of(&["reelcache", "warm", "--listen", "127.0.0.1:9", "--offline"]),
            [
                ("--listen", "127.0.0.1:9".to_owned()),
                ("--offline", "true".to_owned())
            ]
        );
        assert_eq!(
            flags_of(&[
                "reelcache",
                "--tmdb-base-url",
                "http://h/3",
                "config",
                "check"
            ]),
            [("--tmdb-base-url", "http://h/3".to_owned())]
        );
    }
}
