//! How the fake answers one request: the credential and `page` checked like TMDB, the
//! request recorded, a misbehaviour applied when a rule matches, else the catalogue's document.

use std::time::Duration;

use serde_json::{Value, json};
use warp::http::{HeaderMap, StatusCode};

use super::{Behaviour, InFlight, Recorded, Shared, catalog};

fn tmdb_error(status: StatusCode, code: u32, message: &str) -> warp::reply::Response {
    let body = json!({"success": false, "status_code": code, "status_message": message});
    let mut response = warp::reply::Response::new(body.to_string().into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        warp::http::HeaderValue::from_static("application/json;charset=utf-8"),
    );
    response
}

fn ok_json(doc: &Value) -> warp::reply::Response {
    let mut response = warp::reply::Response::new(doc.to_string().into());
    response.headers_mut().insert(
        "content-type",
        warp::http::HeaderValue::from_static("application/json;charset=utf-8"),
    );
    response
}

pub(super) async fn answer(
    shared: &Shared,
    full: &str,
    raw_query: &str,
    headers: &HeaderMap,
) -> warp::reply::Response {
    let _in_flight = InFlight::enter(shared);
    let path = full.strip_prefix("/3").unwrap_or(full).to_owned();
    let query: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let recorded = Recorded {
        path: path.clone(),
        query,
        authorization: header("authorization"),
        accept_encoding: header("accept-encoding"),
        host: header("host"),
    };
    crate::sync::lock(&shared.requests).push(recorded.clone());

    let behaviour = {
        let mut rules = crate::sync::lock(&shared.rules);
        let found = rules
            .iter_mut()
            .find(|rule| path.starts_with(rule.prefix.as_str()) && rule.remaining != Some(0));
        found.map(|rule| {
            if let Some(n) = rule.remaining.as_mut() {
                *n -= 1;
            }
            rule.behaviour.clone()
        })
    };
    if let Some(behaviour) = behaviour
        && let Some(response) = misbehave(behaviour, &recorded).await
    {
        return response;
    }

    // The image server asks for no credential (as TMDB's).
    if let Some(file) = path.strip_prefix("/t/p/") {
        return image(file);
    }
    if let Some(expected) = &shared.credential {
        let bearer = recorded
            .authorization
            .as_deref()
            .and_then(|v| v.strip_prefix("Bearer "));
        if recorded.param("api_key") != Some(expected) && bearer != Some(expected) {
            return tmdb_error(
                StatusCode::UNAUTHORIZED,
                7,
                "Invalid API key: You must be granted a valid key.",
            );
        }
    }
    answer_with(shared, &recorded)
}

/// What tests changed (the change list, new titles) before the catalogue's documents.
fn answer_with(shared: &Shared, request: &Recorded) -> warp::reply::Response {
    let path = request.path.trim_matches('/');
    if path == "movie/changes" {
        return changes_page(shared, request);
    }
    if path == "configuration" {
        return configuration(request);
    }
    if let Some(id) = path
        .strip_prefix("movie/")
        .and_then(|id| id.parse::<u32>().ok())
        && catalog::exists(id)
        && let Some(title) = crate::sync::lock(&shared.retitled).get(&id).cloned()
    {
        let mut doc = catalog::details(id, request.param("language").unwrap_or("en-US"));
        doc["title"] = title.into();
        return ok_json(&doc);
    }
    route(request)
}

/// `/configuration`: where images are (this fake, at `/t/p/`) and TMDB's size lists.
fn configuration(request: &Recorded) -> warp::reply::Response {
    let host = request.host.as_deref().unwrap_or("127.0.0.1");
    let base = format!("http://{host}/t/p/");
    ok_json(&json!({
        "images": {
            "base_url": base,
            "secure_base_url": base,
            "backdrop_sizes": ["w300", "w780", "w1280", "original"],
            "logo_sizes": ["w45", "w92", "w154", "w185", "w300", "w500", "original"],
            "poster_sizes": ["w92", "w154", "w185", "w342", "w500", "w780", "original"],
            "profile_sizes": ["w45", "w185", "h632", "original"],
            "still_sizes": ["w92", "w185", "w300", "original"],
        },
        "change_keys": ["title", "overview", "poster_path"],
    }))
}

/// `/t/p/{size}/{file}`: a catalogue movie's synthetic poster, or the image server's 404 (an
/// HTML page, as a CDN's).
fn image(rest: &str) -> warp::reply::Response {
    let found = rest
        .split_once('/')
        .and_then(|(size, file)| super::poster::poster(size, file));
    let (status, content_type, body) = match found {
        Some(svg) => (StatusCode::OK, "image/svg+xml", svg),
        None => (
            StatusCode::NOT_FOUND,
            "text/html",
            "<html><body>404 Not Found</body></html>".to_owned(),
        ),
    };
    let mut response = warp::reply::Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        warp::http::HeaderValue::from_static(content_type),
    );
    response.headers_mut().insert(
        "cache-control",
        warp::http::HeaderValue::from_static("public, max-age=31536000"),
    );
    response
}

/// `/movie/changes`: 100 ids a page, as TMDB (`start_date`/`end_date` must be dates when
/// given; every change recorded is listed whatever they say).
fn changes_page(shared: &Shared, request: &Recorded) -> warp::reply::Response {
    const PER_PAGE: usize = 100;
    let is_date = |d: &str| {
        d.len() == 10
            && d.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
    };
    for name in ["start_date", "end_date"] {
        if request.param(name).is_some_and(|d| !is_date(d)) {
            return tmdb_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                47,
                "The input is not valid.",
            );
        }
    }
    let page = match request.param("page").map(str::parse::<usize>) {
        None => 1,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => {
            return tmdb_error(StatusCode::BAD_REQUEST, 22, "Invalid page.");
        }
    };
    let changes = crate::sync::lock(&shared.changes).clone();
    let total_pages = changes.len().div_ceil(PER_PAGE).max(1);
    let results: Vec<Value> = changes
        .iter()
        .skip((page - 1) * PER_PAGE)
        .take(PER_PAGE)
        .map(|id| json!({"id": id, "adult": false}))
        .collect();
    ok_json(&json!({
        "results": results,
        "page": page,
        "total_pages": total_pages,
        "total_results": changes.len(),
    }))
}

fn route(request: &Recorded) -> warp::reply::Response {
    let language = request.param("language").unwrap_or("en-US");
    let page = match request.param("page") {
        None => 1,
        Some(raw) => match raw.parse::<u32>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => {
                return tmdb_error(
                    StatusCode::BAD_REQUEST,
                    22,
                    "Invalid page: Pages start at 1 and max at 500. They are expected to be an integer.",
                );
            }
        },
    };
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let doc = match segments.as_slice() {
        ["trending", "movie", window @ ("day" | "week")] => {
            catalog::trending(window, page, language)
        }
        ["movie", "popular"] => catalog::popular(page, language),
        ["search", "movie"] => {
            catalog::search(request.param("query").unwrap_or(""), page, language)
        }
        ["movie", id] => match id.parse::<u32>() {
            Ok(id) if catalog::exists(id) => catalog::details(id, language),
            _ => return not_found(),
        },
        ["movie", id, "recommendations"] => match id.parse::<u32>() {
            Ok(id) if catalog::exists(id) => catalog::recommendations(id, page, language),
            _ => return not_found(),
        },
        _ => return not_found(),
    };
    ok_json(&doc)
}

/// TMDB's 404: `status_code` 34.
fn not_found() -> warp::reply::Response {
    tmdb_error(
        StatusCode::NOT_FOUND,
        34,
        "The resource you requested could not be found.",
    )
}

/// The response a misbehaviour gives, or `None` to go on and answer normally (after a delay).
async fn misbehave(behaviour: Behaviour, request: &Recorded) -> Option<warp::reply::Response> {
    match behaviour {
        // TMDB's own words for a 404; for anything else its internal error.
        Behaviour::Status(404) => Some(not_found()),
        Behaviour::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some(tmdb_error(
                status,
                11,
                "Internal error: Something went wrong, contact TMDB.",
            ))
        }
        Behaviour::Body(body) => Some(warp::reply::Response::new(body.into())),
        Behaviour::Delay(delay) => {
            tokio::time::sleep(delay).await;
            None
        }
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            None
        }
        Behaviour::RateLimited(retry_after) => {
            let mut response = tmdb_error(
                StatusCode::TOO_MANY_REQUESTS,
                25,
                "Your request count (41) is over the allowed limit of 40.",
            );
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", warp::http::HeaderValue::from(seconds));
            }
            Some(response)
        }
        Behaviour::RateLimitedWith(value) => {
            let mut response = tmdb_error(
                StatusCode::TOO_MANY_REQUESTS,
                25,
                "Your request count (41) is over the allowed limit of 40.",
            );
            if let Ok(value) = warp::http::HeaderValue::from_str(&value) {
                response.headers_mut().insert("retry-after", value);
            }
            Some(response)
        }
        Behaviour::Reset => {
            let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
                Ok(bytes::Bytes::from_static(b"{\"page\":1,\"results\":[")),
                Err(std::io::Error::other("connection reset by the fake")),
            ];
            Some(warp::reply::Reply::into_response(warp::reply::stream(
                futures_util::stream::iter(chunks),
            )))
        }
        Behaviour::Truncated => {
            let full = route(request);
            let body = "{\"page\":1,\"results\":[{\"adult\":false,\"id\":1";
            let mut truncated = warp::reply::Response::new(body.into());
            *truncated.status_mut() = full.status();
            Some(truncated)
        }
    }
}
