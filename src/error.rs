//! `ApiError`: every failure a client can see, and the one place that turns it into the contract's
//! error envelope and HTTP status.

use std::collections::BTreeMap;

use serde::Serialize;
use warp::http::{HeaderValue, StatusCode, header};

use crate::tmdb::TmdbError;

/// `Retry-After` of a write refused by a full or read-only disk: an operator has to act.
const STORAGE_RETRY_AFTER_S: u64 = 30;

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

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation { .. } => StatusCode::BAD_REQUEST,
            ApiError::Authentication(_) => StatusCode::UNAUTHORIZED,
            ApiError::PermissionDenied(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::NotFound(_) | ApiError::MovieNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Upstream(_) | ApiError::CredentialRefused => StatusCode::BAD_GATEWAY,
            ApiError::UpstreamUnavailable { .. } | ApiError::ClientShareUsed { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
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
        let status = self.status();
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
                status_code: status.as_u16(),
                fields,
            },
            detail: &message,
        };
        serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec())
    }

    /// The error envelope as a response. Internal errors are logged here, once.
    pub fn into_response(self) -> warp::reply::Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let status = self.status();
        let bytes = self.envelope();
        let mut response = warp::reply::Response::new(bytes.into());
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let ApiError::Authentication(_) = &self {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::MethodNotAllowed { allow } = &self {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if let Some(seconds) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
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

impl From<crate::db::DbError> for ApiError {
    /// A database failure is never the client's fault. A disk that refuses the write (full,
    /// read-only) is a 503 to retry later, not a 500: nothing is broken, and reads still work.
    fn from(err: crate::db::DbError) -> ApiError {
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
