//! JSON API plumbing shared by the account, favorites and staff routes: the bounded request
//! body, JSON parsing with field-named errors, method checks, and JSON responses.

use std::convert::Infallible;

use warp::Filter;
use warp::http::Method;

use super::filters::{Query, raw_query};
use crate::error::ApiError;

/// The request body, at most `rejection::MAX_BODY_BYTES`; a larger one rejects with
/// `PayloadTooLarge` (413) without reading the rest.
pub fn body() -> impl Filter<Extract = (bytes::Bytes,), Error = warp::Rejection> + Clone {
    warp::body::stream().and_then(collect_limited)
}

async fn collect_limited<S, B>(stream: S) -> Result<bytes::Bytes, warp::Rejection>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: warp::Buf,
{
    use futures_util::TryStreamExt;
    let mut stream = std::pin::pin!(stream);
    let mut collected = Vec::new();
    while let Some(mut chunk) =
        stream
            .try_next()
            .await
            .map_err(|e| match super::connections::timed_out(&e) {
                Some(late) => warp::reject::custom(super::rejection::BodyTooSlow(late.0)),
                None => warp::reject::custom(super::rejection::BadBody),
            })?
    {
        if collected.len() + chunk.remaining() > super::rejection::MAX_BODY_BYTES as usize {
            return Err(warp::reject::custom(super::rejection::TooLarge));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            collected.extend_from_slice(part);
            chunk.advance(n);
        }
    }
    Ok(bytes::Bytes::from(collected))
}

/// Parses a JSON request body into `T`. Not JSON → 415; malformed → 400; a field of the wrong
/// type → 400 naming the field.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<T, ApiError> {
    let is_json = content_type.is_some_and(|ct| {
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        essence == "application/json" || essence.ends_with("+json")
    });
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::validation("body", "Request body is not valid JSON")
        } else if path == "." {
            ApiError::validation(
                "body",
                format!("Request body must be a JSON object: {inner}"),
            )
        } else {
            ApiError::validation(&path, format!("{path}: {inner}"))
        }
    })
}

/// `Authorization` and the client's address, for endpoints that need them.
pub fn authorization() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::header::optional::<String>("authorization")
        .or(warp::any().map(|| None))
        .unify()
}

/// Answers `method` only if it is one of `allowed` (HEAD counts as GET).
pub fn require_method(
    method: &Method,
    allowed: &'static [Method],
    allow: &'static str,
) -> Result<(), ApiError> {
    let effective = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    if allowed.contains(effective) {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed { allow })
    }
}

/// A JSON response with `status`.
pub fn json_response(
    status: warp::http::StatusCode,
    value: &impl serde::Serialize,
) -> warp::reply::Response {
    let body = serde_json::to_vec(value).expect("responses serialise");
    let mut response = warp::reply::Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("application/json"),
    );
    response
}

/// `segment` as a positive database id; anything else names no resource (404).
pub fn id_segment(segment: &str, what: &str) -> Result<i64, ApiError> {
    segment
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && segment.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| ApiError::NotFound(format!("{what} not found")))
}

/// Everything a JSON API handler may look at, extracted once.
pub struct ApiRequest {
    pub method: Method,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: bytes::Bytes,
    pub query: Query<'static>,
    /// The client's address (see `server::ClientAddr`).
    pub client: Option<std::net::IpAddr>,
}

impl ApiRequest {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(self.content_type.as_deref(), &self.body)
    }
}

pub fn api_request() -> impl Filter<Extract = (ApiRequest,), Error = warp::Rejection> + Clone {
    warp::method()
        .and(authorization())
        .and(
            warp::header::optional::<String>("content-type")
                .or(warp::any().map(|| None))
                .unify(),
        )
        .and(body())
        .and(raw_query())
        .and(super::filters::client_addr())
        .map(
            |method, authorization, content_type, body, query: String, client| ApiRequest {
                method,
                authorization,
                content_type,
                body,
                query: Query::parse_owned(&query),
                client,
            },
        )
}

/// A JSON integer, also when written with a zero fraction (`550.0`): JSON Schema's `integer`,
/// which the OpenAPI document promises, counts it as one, and so do JavaScript clients.
pub fn integral<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::Deserialize;
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(n) = number.as_i64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        _ => Err(D::Error::custom(format!(
            "invalid type: {number}, expected an integer"
        ))),
    }
}
