//! The single `.recover()`: warp's built-in rejections (no route, bad headers, body limits) mapped
//! to the contract's error envelope. Handlers never reject; their errors are `ApiError`s already.

use std::convert::Infallible;

use warp::reject::{
    InvalidHeader, InvalidQuery, LengthRequired, MethodNotAllowed, MissingHeader, PayloadTooLarge,
    UnsupportedMediaType,
};

use crate::error::ApiError;

/// Largest JSON body any endpoint accepts.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

/// The body was larger than `MAX_BODY_BYTES`.
#[derive(Debug)]
pub struct TooLarge;
impl warp::reject::Reject for TooLarge {}

/// The body could not be read (the client went away mid-request).
#[derive(Debug)]
pub struct BadBody;
impl warp::reject::Reject for BadBody {}

/// The body did not arrive within `REELCACHE_BODY_TIMEOUT`.
#[derive(Debug)]
pub struct BodyTooSlow(pub std::time::Duration);
impl warp::reject::Reject for BodyTooSlow {}

pub async fn handle(rejection: warp::Rejection) -> Result<warp::reply::Response, Infallible> {
    let error = if let Some(limited) = rejection.find::<super::client_limit::ClientRateLimited>() {
        ApiError::RateLimited {
            message: "Too many requests from this address; slow down".to_owned(),
            retry_after: limited.retry_after,
        }
    } else if let Some(e) = rejection.find::<warp::filters::cors::CorsForbidden>() {
        ApiError::PermissionDenied(format!("CORS: {e}"))
    } else if rejection.is_not_found() {
        ApiError::NotFound("No route for this path".to_owned())
    } else if rejection.find::<PayloadTooLarge>().is_some()
        || rejection.find::<TooLarge>().is_some()
    {
        ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        }
    } else if let Some(BodyTooSlow(limit)) = rejection.find::<BodyTooSlow>() {
        ApiError::RequestTimeout { limit: *limit }
    } else if rejection.find::<BadBody>().is_some() {
        ApiError::validation("body", "The request body could not be read")
    } else if rejection.find::<UnsupportedMediaType>().is_some() {
        ApiError::UnsupportedMediaType
    } else if let Some(e) = rejection.find::<warp::filters::body::BodyDeserializeError>() {
        ApiError::validation("body", format!("Request body is not valid JSON: {e}"))
    } else if let Some(e) = rejection.find::<InvalidHeader>() {
        ApiError::validation(e.name(), format!("Header {} is not valid", e.name()))
    } else if let Some(e) = rejection.find::<MissingHeader>() {
        ApiError::validation(e.name(), format!("Header {} is required", e.name()))
    } else if rejection.find::<InvalidQuery>().is_some() {
        ApiError::validation("query", "The query string is not valid")
    } else if rejection.find::<LengthRequired>().is_some() {
        ApiError::validation("content-length", "A Content-Length header is required")
    } else if rejection.find::<MethodNotAllowed>().is_some() {
        // Routes answer wrong methods themselves (with `Allow`); this is a fallback.
        ApiError::MethodNotAllowed { allow: "GET, HEAD" }
    } else {
        ApiError::Internal(format!("unhandled rejection: {rejection:?}"))
    };
    Ok(error.into_response())
}
