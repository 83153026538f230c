//! TMDB v3: the HTTP client (`client`), what can go wrong talking to it (`TmdbError`), and the
//! validation of its bodies (`body`) before anything is stored.

pub mod body;
pub mod budget;
pub mod changes;
pub mod client;
pub mod hosts;
pub mod images;

pub use body::{ListBody, parse_list, parse_object};
pub use client::TmdbClient;

/// A failed TMDB call. Messages never hold the credential or the request URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TmdbError {
    #[error("TMDB: not found")]
    NotFound,
    #[error("TMDB refused the credential (401)")]
    Unauthorized,
    #[error("TMDB rate limit (429)")]
    RateLimited { retry_after: Option<u64> },
    #[error("no TMDB credential is configured")]
    NoCredential,
    /// This client's share of the upstream budget is used up for longer than the deadline.
    #[error("the client's share of the TMDB budget is used up")]
    ShareUsed { retry_after: u64 },
    #[error("TMDB circuit breaker open")]
    CircuitOpen { retry_after: u64 },
    #[error("TMDB timed out")]
    Timeout,
    #[error("TMDB answered HTTP {0}")]
    Status(u16),
    #[error("TMDB transport error: {0}")]
    Transport(String),
    #[error("TMDB body is not what was expected: {0}")]
    InvalidBody(String),
}

impl TmdbError {
    /// Worth another attempt within the deadline: the failure may be gone in a moment.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TmdbError::Timeout
                | TmdbError::Transport(_)
                | TmdbError::Status(500..)
                | TmdbError::RateLimited { .. }
        )
    }
}
