//! `reelcache cache stats|clear`, through a running server's control socket or on the store.

use super::*;

/// `reelcache cache stats|clear`: through the running server's admin socket when a server holds
/// the data directory, otherwise directly on the store.
pub async fn run_cache(
    settings: &Settings,
    command: &crate::app::cli::CacheCommand,
) -> Result<(), CommandError> {
    use crate::app::cli::CacheCommand;
    use crate::ops::admin_socket::{self, Request};
    let request = match command {
        CacheCommand::Compact => return run_compact(settings).await,
        CacheCommand::Stats => Request::Stats,
        CacheCommand::Clear { namespace, key } => Request::Clear {
            namespace: namespace.clone(),
            key: key.clone(),
        },
    };
    let answer = match Opened::open(settings, Clock::system()).await {
        Ok(opened) => {
            let result = match &request {
                Request::Stats => crate::service::cache_admin::stats(&opened.state).await,
                Request::Clear { namespace, key } => crate::service::cache_admin::clear(
                    &opened.state,
                    namespace.as_deref(),
                    key.as_deref(),
                )
                .await
                .map(|c| serde_json::to_value(c).expect("serialises")),
            };
            close(opened).await;
            result.map_err(|e| match e {
                crate::error::ApiError::Validation { message, .. } => CommandError::usage(message),
                other => CommandError::runtime(other.to_string()),
            })?
        }
        Err(crate::app::startup::StartupError::DataDirLocked(_)) => {
            let answer = admin_socket::send(&settings.data_dir, &request)
                .await
                .map_err(CommandError::runtime)?;
            if !answer.ok {
                let message = answer.error.unwrap_or_default();
                return Err(if answer.client_error {
                    CommandError::usage(message)
                } else {
                    CommandError::runtime(message)
                });
            }
            answer.data
        }
        Err(e) => return Err(CommandError::runtime(e.to_string())),
    };
    match command {
        CacheCommand::Stats => println!(
            "{}",
            serde_json::to_string_pretty(&answer).expect("serialises")
        ),
        CacheCommand::Compact => {}
        CacheCommand::Clear { .. } => println!(
            "{} ({} removed)",
            answer["message"].as_str().unwrap_or("cleared"),
            answer["removed"]
        ),
    }
    Ok(())
}

/// `reelcache cache compact`: on the stopped server's data directory only (a running server
/// holds its lock), and only for the embedded store.
async fn run_compact(settings: &Settings) -> Result<(), CommandError> {
    if settings.cache.url.is_some() {
        return Err(CommandError::usage(
            "the page cache is in Redis (cache.url): Redis manages its own memory; compact \
             applies to the embedded store",
        ));
    }
    let lock = match crate::app::open::lock_data_dir(&settings.data_dir) {
        Ok(lock) => lock,
        Err(crate::app::startup::StartupError::DataDirLocked(dir)) => {
            return Err(CommandError::runtime(format!(
                "a server is running on {}: stop it first (compaction rewrites the store)",
                dir.display()
            )));
        }
        Err(e) => return Err(CommandError::runtime(e.to_string())),
    };
    let (data_dir, cache) = (settings.data_dir.clone(), settings.cache.clone());
    let compacted = crate::telemetry::spawn_blocking(move || {
        crate::cache::SledStore::compact(&data_dir, &cache)
    })
    .await
    .map_err(|e| {
        CommandError::runtime(format!("compaction failed, the store is unchanged: {e}"))
    })?;
    drop(lock);
    let mb = |bytes: u64| bytes as f64 / 1e6;
    println!(
        "compacted: {} records kept; {:.1} MB on disk before, {:.1} MB after",
        compacted.records,
        mb(compacted.bytes_before),
        mb(compacted.bytes_after)
    );
    Ok(())
}
