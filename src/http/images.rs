//! `GET /api/images/{size}/{file_path}`: TMDB's images through the image cache. The answer is
//! the image's bytes with its type, a strong `ETag` (304 on `If-None-Match`), a year's
//! `Cache-Control` (TMDB image paths are immutable) and `X-Cache: HIT | MISS`; errors are the
//! contract's envelope.

use warp::Filter;
use warp::http::{HeaderValue, Method, StatusCode, header};

use super::filters::{client_addr, route, with_state};
use super::json::require_method;
use super::response::{X_CACHE, matches_if_none_match};
use crate::domain::Requester;
use crate::domain::image::ImagePath;
use crate::error::ApiError;
use crate::service::images::{ImageOutcome, StoredImage};
use crate::service::state::AppState;

type Response = warp::reply::Response;

/// An image never changes under its path: a year, and `immutable` so browsers skip even the
/// revalidation.
const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// An SVG opened on its own is a document of this origin: it may draw, never run a script,
/// load anything or be framed.
const IMAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// The route's label in logs and metrics (its row of the API table).
pub const ROUTE: &str = "/api/images/{size}/{file_path}";

/// An image's answer, for both doors: the bytes (or a 304) and their headers.
pub(super) fn image_response(
    image: &StoredImage,
    hit: bool,
    if_none_match: Option<&str>,
) -> Response {
    let etag = image.etag();
    let mut response = if matches_if_none_match(if_none_match, &etag) {
        let mut response = Response::new(bytes::Bytes::new().into());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let mut response = Response::new(image.bytes.clone().into());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(image.kind.mime()),
        );
        response
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex digits are a valid header"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(IMAGE_CSP),
    );
    headers.insert(
        &X_CACHE,
        HeaderValue::from_static(if hit { "HIT" } else { "MISS" }),
    );
    response
}

/// The image a fast-path request names, when the path is plainly one (no percent-encoding:
/// anything unusual goes to the full route, which answers it, errors included).
pub(super) fn probe_path(path: &str) -> Option<ImagePath> {
    let rest = path.strip_prefix("/api/images/")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('%') {
        return None;
    }
    let (size, file) = rest.split_once('/')?;
    ImagePath::parse(size, file).ok()
}

pub fn routes(state: AppState) -> warp::filters::BoxedFilter<(Response,)> {
    route("api/images/{size}/{file_path}")
        .and(warp::method())
        .and(warp::header::optional::<String>("if-none-match"))
        .and(client_addr())
        .and(with_state(state))
        .then(image)
        .boxed()
}

async fn image(
    segments: Vec<String>,
    method: Method,
    if_none_match: Option<String>,
    client: Option<std::net::IpAddr>,
    state: AppState,
) -> Response {
    super::respond(
        async {
            require_method(&method, &[Method::GET], "GET, HEAD")?;
            let path = ImagePath::parse(&segments[0], &segments[1]).map_err(ApiError::from)?;
            let (image, outcome) = state.images.get(&path, Requester::Client(client)).await?;
            Ok(image_response(
                &image,
                outcome == ImageOutcome::Hit,
                if_none_match.as_deref(),
            ))
        }
        .await,
    )
}
