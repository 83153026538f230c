//! The command-line tools other than `serve`, one file each: `warm`, `snapshots` (export and
//! import), `user`, `db` (backup and restore), `cache` (stats and clear), `config` (check) and
//! `demo` (`dev make-demo`); `progress` is the bar they show. Each opens the data directory the
//! same way the server does (`open` below). The imports here are the ones they share
//! (`use super::*`).

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::app::cli::WarmArgs;
use crate::app::open::Opened;
use crate::cache::snapshot::{self, SnapshotHeader};
use crate::clock::Clock;
use crate::config::{Credential, Settings};
use crate::service::warm::{WarmError, WarmPlan, WarmProgress, WarmReport, warm};

/// A failed command: what to print and the exit status.
#[derive(Debug)]
pub struct CommandError {
    pub status: u8,
    pub message: String,
}

impl CommandError {
    pub(crate) fn runtime(message: impl Into<String>) -> CommandError {
        CommandError {
            status: 1,
            message: message.into(),
        }
    }
    fn usage(message: impl Into<String>) -> CommandError {
        CommandError {
            status: 2,
            message: message.into(),
        }
    }
}

/// Exit status of a run stopped by Ctrl-C, as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;

mod cache;
mod config;
mod db;
mod demo;
mod progress;
mod snapshots;
mod user;
mod warm;

pub use cache::run_cache;
pub use config::{print_config_summary, run_config_check};
pub use db::run_db;
pub use demo::{DEMO_DESCRIPTION, DEMO_EPOCH_MS, run_make_demo};
use progress::Progress;
pub use snapshots::{run_export, run_import};
pub use user::run_user;
pub use warm::run_warm;

/// Opens the data directory for a command. Commands fetch exactly what they are asked to:
/// no prefetching of next pages.
pub(crate) async fn open(settings: &Settings, clock: Clock) -> Result<Opened, CommandError> {
    let mut settings = settings.clone();
    settings.resilience.prefetch = false;
    Opened::open(&settings, clock)
        .await
        .map_err(|e| CommandError::runtime(e.to_string()))
}

/// Flushes the cache and waits until nothing holds it.
pub(crate) async fn close(opened: Opened) {
    drop(release(opened).await);
}

/// `close`, for a command that wrote many entries: before the data directory is let go, sled's
/// log is folded into its snapshot (`SledStore::fold_log`), so that the command pays for it
/// rather than the server's next start.
pub(crate) async fn close_after_bulk_write(opened: Opened, settings: &Settings) {
    let fold = opened.state.cache.log_to_fold();
    let lock = release(opened).await;
    crate::app::startup::fold_sled_log(fold, &settings.data_dir, &settings.cache).await;
    drop(lock);
}

/// Flushes the cache and waits until nothing holds it; the data directory's lock is returned.
async fn release(opened: Opened) -> std::fs::File {
    let Opened {
        state,
        mut state_released,
        lock,
    } = opened;
    if let Err(e) = state.cache.flush().await {
        tracing::warn!(error = %e, "flushing the cache failed");
    }
    drop(state);
    let _ = state_released.recv().await;
    lock
}
