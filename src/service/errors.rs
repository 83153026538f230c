//! How the failures of the stores and of TMDB reach clients: the one place they become
//! [`ApiError`]s.

use crate::db::DbError;
use crate::error::ApiError;
use crate::tmdb::TmdbError;

/// `Retry-After` of a write refused by a full or read-only disk: an operator has to act.
const STORAGE_RETRY_AFTER_S: u64 = 30;
/// `Retry-After` while the account database cannot be reached: it reconnects by itself.
const UNAVAILABLE_RETRY_AFTER_S: u64 = 5;

impl From<DbError> for ApiError {
    /// A database failure is never the client's fault. A disk that refuses the write (full,
    /// read-only) is a 503 to retry later, not a 500: nothing is broken, and reads still work.
    fn from(err: DbError) -> ApiError {
        if err.is_storage_refusal() {
            // Every refused write lands here: said once per 10 s, not once per request.
            static LOGGED: crate::telemetry::LogEvery = crate::telemetry::LogEvery::ten_seconds();
            if let Some(suppressed) = LOGGED.ready() {
                tracing::error!(
                    error = %err,
                    suppressed,
                    "the database cannot be written (is the disk full?)"
                );
            }
            return ApiError::Unavailable {
                message: "The server cannot save changes right now (its storage refuses writes: \
                          full, read-only or failing); reading still works, try again later"
                    .to_owned(),
                retry_after: STORAGE_RETRY_AFTER_S,
            };
        }
        if let DbError::Unavailable(reason) = &err {
            static LOGGED: crate::telemetry::LogEvery = crate::telemetry::LogEvery::ten_seconds();
            if let Some(suppressed) = LOGGED.ready() {
                tracing::error!(error = %reason, suppressed, "the account database is unavailable");
            }
            return ApiError::Unavailable {
                message: "The account database cannot be reached right now; try again shortly"
                    .to_owned(),
                retry_after: UNAVAILABLE_RETRY_AFTER_S,
            };
        }
        ApiError::Internal(err.to_string())
    }
}

impl From<TmdbError> for ApiError {
    /// Whose fault a TMDB failure is, as the client sees it. None of these messages carry the
    /// credential or the upstream URL.
    fn from(err: TmdbError) -> ApiError {
        match err {
            TmdbError::NotFound => {
                ApiError::MovieNotFound("TMDB has no movie with this id".to_owned())
            }
            TmdbError::Unauthorized => ApiError::CredentialRefused,
            TmdbError::RateLimited { retry_after } => ApiError::UpstreamUnavailable {
                message: "TMDB is rate-limiting this server; try again shortly".to_owned(),
                retry_after: Some(retry_after.unwrap_or(1)),
            },
            TmdbError::NoCredential => ApiError::UpstreamUnavailable {
                message: "This page is not cached and no TMDB credential is configured \
                          (set TMDB_API_KEY or TMDB_ACCESS_TOKEN)"
                    .to_owned(),
                retry_after: None,
            },
            TmdbError::ShareUsed { retry_after } => ApiError::ClientShareUsed { retry_after },
            TmdbError::CircuitOpen { retry_after } => ApiError::UpstreamUnavailable {
                message: "TMDB has been failing; reelcache is giving it a moment before asking \
                          again"
                    .to_owned(),
                retry_after: Some(retry_after),
            },
            TmdbError::Timeout => {
                ApiError::UpstreamTimeout("TMDB did not answer in time".to_owned())
            }
            TmdbError::Status(code) => {
                ApiError::Upstream(format!("TMDB answered with an error (HTTP {code})"))
            }
            TmdbError::Transport(_) => ApiError::Upstream("Could not reach TMDB".to_owned()),
            TmdbError::InvalidBody(_) => {
                ApiError::Upstream("TMDB answered with an unreadable body".to_owned())
            }
        }
    }
}
