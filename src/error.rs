//! `ApiError`: every failure a client can see, with its contract code, status and envelope. The
//! services turn store and TMDB errors into it (`service::errors`); the HTTP layer turns it into a
//! response (`http::envelope`). Nothing here knows HTTP machinery.

use std::collections::BTreeMap;

use serde::Serialize;

/// Shown for every 500: the cause goes to the log, never to the client.
const INTERNAL_MESSAGE: &str = "Internal server error; the cause has been logged";

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Validation {
        message: String,
        fields: BTreeMap<String, Vec<String>>,
    },
    #[error("{0}")]
    Authentication(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MovieNotFound(String),
    #[error("Method not allowed; this path accepts {allow}")]
    MethodNotAllowed { allow: &'static str },
    #[error("Request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("Request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    #[error("{0}")]
    Upstream(String),
    /// TMDB refused our credential: the operator's problem, reported to clients as a 502.
    #[error(
        "TMDB refused the configured credential (HTTP 401); the operator should check \
         TMDB_API_KEY / TMDB_ACCESS_TOKEN"
    )]
    CredentialRefused,
    #[error("{message}")]
    UpstreamUnavailable {
        message: String,
        retry_after: Option<u64>,
    },
    #[error("{0}")]
    UpstreamTimeout(String),
    /// The client that started this fetch has used its share of the TMDB budget. Shown as
    /// `UPSTREAM_UNAVAILABLE`; kept apart so that a request that only joined another client's
    /// fetch can try again on its own share.
    #[error("This client is using its whole share of the TMDB budget; try again shortly")]
    ClientShareUsed { retry_after: u64 },
    /// reelcache itself cannot do this now (at a bound it keeps: connections, password
    /// hashing; or its disk refuses writes): try again soon. Not TMDB's doing.
    #[error("{message}")]
    Unavailable { message: String, retry_after: u64 },
    /// The client did not send its request body in time.
    #[error("The request body did not arrive within {}", humantime::format_duration(*.limit))]
    RequestTimeout { limit: std::time::Duration },
    /// Our bug. The string is logged, the client sees a generic message.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A bad value of one named parameter.
    pub fn validation(field: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError::Validation {
            fields: BTreeMap::from([(field.to_owned(), vec![message.clone()])]),
            message,
        }
    }

    /// One error of every kind, for what is generated from the enum (the OpenAPI document's
    /// codes and the codes of each status). A test keeps it complete.
    pub fn examples() -> Vec<ApiError> {
        let text = String::new;
        vec![
            ApiError::validation("field", "example"),
            ApiError::Authentication(text()),
            ApiError::PermissionDenied(text()),
            ApiError::Conflict(text()),
            ApiError::NotFound(text()),
            ApiError::MovieNotFound(text()),
            ApiError::MethodNotAllowed { allow: "GET" },
            ApiError::PayloadTooLarge { limit: 0 },
            ApiError::UnsupportedMediaType,
            ApiError::RateLimited {
                message: text(),
                retry_after: 1,
            },
            ApiError::Upstream(text()),
            ApiError::CredentialRefused,
            ApiError::UpstreamUnavailable {
                message: text(),
                retry_after: None,
            },
            ApiError::UpstreamTimeout(text()),
            ApiError::ClientShareUsed { retry_after: 1 },
            ApiError::Unavailable {
                message: text(),
                retry_after: 1,
            },
            ApiError::RequestTimeout {
                limit: std::time::Duration::ZERO,
            },
            ApiError::Internal(text()),
        ]
    }

    /// The HTTP status the contract gives this error.
    pub fn status_code(&self) -> u16 {
        match self {
            ApiError::Validation { .. } => 400,
            ApiError::Authentication(_) => 401,
            ApiError::PermissionDenied(_) => 403,
            ApiError::Conflict(_) => 409,
            ApiError::NotFound(_) | ApiError::MovieNotFound(_) => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::RateLimited { .. } => 429,
            ApiError::Upstream(_) | ApiError::CredentialRefused => 502,
            ApiError::UpstreamUnavailable { .. } | ApiError::ClientShareUsed { .. } => 503,
            ApiError::UpstreamTimeout(_) => 504,
            ApiError::Unavailable { .. } => 503,
            ApiError::RequestTimeout { .. } => 408,
            ApiError::Internal(_) => 500,
        }
    }

    /// The contract's stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation { .. } => "VALIDATION_ERROR",
            ApiError::Authentication(_) => "AUTHENTICATION_FAILED",
            ApiError::PermissionDenied(_) => "PERMISSION_DENIED",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::MovieNotFound(_) => "MOVIE_NOT_FOUND",
            ApiError::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            ApiError::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            ApiError::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::Upstream(_) | ApiError::CredentialRefused => "UPSTREAM_ERROR",
            ApiError::UpstreamUnavailable { .. } | ApiError::ClientShareUsed { .. } => {
                "UPSTREAM_UNAVAILABLE"
            }
            ApiError::UpstreamTimeout(_) => "UPSTREAM_TIMEOUT",
            ApiError::Unavailable { .. } => "SERVICE_UNAVAILABLE",
            ApiError::RequestTimeout { .. } => "REQUEST_TIMEOUT",
            ApiError::Internal(_) => "INTERNAL_ERROR",
        }
    }

    fn client_message(&self) -> String {
        match self {
            ApiError::Internal(_) => INTERNAL_MESSAGE.to_owned(),
            other => other.to_string(),
        }
    }

    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after, .. } => Some(*retry_after),
            ApiError::UpstreamUnavailable { retry_after, .. } => *retry_after,
            ApiError::Unavailable { retry_after, .. } => Some(*retry_after),
            ApiError::ClientShareUsed { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The error envelope's JSON.
    pub fn envelope(&self) -> Vec<u8> {
        let message = self.client_message();
        let fields = match self {
            ApiError::Validation { fields, .. } => Some(fields),
            _ => None,
        };
        let body = Envelope {
            success: false,
            error: ErrorBody {
                message: &message,
                code: self.code(),
                status_code: self.status_code(),
                fields,
            },
            detail: &message,
        };
        serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec())
    }
}

impl From<crate::domain::Invalid> for ApiError {
    fn from(invalid: crate::domain::Invalid) -> ApiError {
        ApiError::validation(&invalid.field, invalid.message)
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    success: bool,
    error: ErrorBody<'a>,
    detail: &'a str,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    code: &'static str,
    status_code: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a BTreeMap<String, Vec<String>>>,
}

#[cfg(test)]
mod tests {
    use super::ApiError;

    /// The variant's position in `examples`: a new variant does not compile until it is listed
    /// here, and the test fails until `examples` has it.
    fn rank(error: &ApiError) -> usize {
        match error {
            ApiError::Validation { .. } => 0,
            ApiError::Authentication(_) => 1,
            ApiError::PermissionDenied(_) => 2,
            ApiError::Conflict(_) => 3,
            ApiError::NotFound(_) => 4,
            ApiError::MovieNotFound(_) => 5,
            ApiError::MethodNotAllowed { .. } => 6,
            ApiError::PayloadTooLarge { .. } => 7,
            ApiError::UnsupportedMediaType => 8,
            ApiError::RateLimited { .. } => 9,
            ApiError::Upstream(_) => 10,
            ApiError::CredentialRefused => 11,
            ApiError::UpstreamUnavailable { .. } => 12,
            ApiError::UpstreamTimeout(_) => 13,
            ApiError::ClientShareUsed { .. } => 14,
            ApiError::Unavailable { .. } => 15,
            ApiError::RequestTimeout { .. } => 16,
            ApiError::Internal(_) => 17,
        }
    }

    #[test]
    fn examples_hold_every_variant_once() {
        let ranks: Vec<usize> = ApiError::examples().iter().map(rank).collect();
        assert_eq!(ranks, (0..=17).collect::<Vec<_>>());
    }
}
