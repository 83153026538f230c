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
        CacheCommand::Clear { .. } => println!(
            "{} ({} removed)",
            answer["message"].as_str().unwrap_or("cleared"),
            answer["removed"]
        ),
    }
    Ok(())
}
