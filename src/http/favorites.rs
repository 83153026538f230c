//! A user's favorites: list, add, remove, check. Every route needs an access token, and a user
//! only ever sees their own rows (another user's id is a 404, so ids do not leak).

use serde::{Deserialize, Serialize};
use serde_json::json;
use warp::Filter;
use warp::http::{Method, StatusCode};

use super::filters::{route, with_state};
use super::json::{ApiRequest, api_request, id_segment, json_response, require_method};
use crate::clock::rfc3339;
use crate::domain::favorite::{Favorite, NewFavorite};
use crate::domain::{MovieId, MovieIdSegment};
use crate::error::ApiError;
use crate::service::accounts::AuthUser;
use crate::service::state::AppState;

type Response = warp::reply::Response;

use crate::domain::favorite::{
    PAGE_MAX, PAGE_SIZE_DEFAULT as DEFAULT_PAGE_SIZE, PAGE_SIZE_MAX, POSTER_PATH_MAX, TITLE_MAX,
};

/// Boxed: the whole route tree as one concrete type would be too deep for the compiler.
pub fn routes(state: AppState) -> warp::filters::BoxedFilter<(Response,)> {
    let with = move || api_request().and(with_state(state.clone()));
    let list = route("api/users/favorites").and(with()).then(list);
    let add = route("api/users/favorites/add").and(with()).then(add);
    let remove = route("api/users/favorites/{}/remove")
        .and(with())
        .then(remove);
    let check = route("api/users/favorites/check/{}")
        .and(with())
        .then(check);
    list.or(add)
        .unify()
        .or(remove)
        .unify()
        .or(check)
        .unify()
        .boxed()
}

#[derive(Serialize)]
struct FavoriteJson<'a> {
    id: i64,
    user: &'a str,
    tmdb_id: i64,
    title: &'a str,
    poster_path: Option<&'a str>,
    overview: &'a str,
    release_date: Option<&'a str>,
    created_at: String,
}

fn to_json(f: &Favorite) -> FavoriteJson<'_> {
    FavoriteJson {
        id: f.id,
        user: &f.username,
        tmdb_id: f.tmdb_id,
        title: &f.title,
        poster_path: f.poster_path.as_deref(),
        overview: &f.overview,
        release_date: f.release_date.as_deref(),
        created_at: rfc3339(f.created_at),
    }
}

async fn user(req: &ApiRequest, state: &AppState) -> Result<AuthUser, ApiError> {
    state
        .accounts
        .authenticate(req.authorization.as_deref())
        .await
}

/// A positive integer query parameter within `range`, or its default.
fn int_param(req: &ApiRequest, name: &str, default: u32, max: u32) -> Result<u32, ApiError> {
    match req.query.get(name) {
        None => Ok(default),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n) && raw.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                ApiError::validation(
                    name,
                    format!("{name} must be an integer between 1 and {max}"),
                )
            }),
    }
}

async fn list(_: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    super::respond(
        async {
            require_method(&req.method, &[Method::GET], "GET, HEAD")?;
            let user = user(&req, &state).await?;
            let page = int_param(&req, "page", 1, PAGE_MAX)?;
            let page_size = int_param(&req, "page_size", DEFAULT_PAGE_SIZE, PAGE_SIZE_MAX)?;
            let (rows, total) = state.favorites.page(&user, page, page_size).await?;
            let total_pages = (total as u64).div_ceil(u64::from(page_size)).max(1);
            let link = |p: u64| {
                let size = if page_size == DEFAULT_PAGE_SIZE {
                    String::new()
                } else {
                    format!("&page_size={page_size}")
                };
                format!(
                    "{}/api/users/favorites/?page={p}{size}",
                    state.public_url.as_deref().unwrap_or("")
                )
            };
            let page = u64::from(page);
            let data: Vec<_> = rows.iter().map(to_json).collect();
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "success": true,
                    "data": data,
                    "pagination": {
                        "count": total,
                        "next": (page < total_pages).then(|| link(page + 1)),
                        "previous": (page > 1).then(|| link(page - 1)),
                        "current_page": page,
                        "total_pages": total_pages,
                        "page_size": page_size,
                    },
                }),
            ))
        }
        .await,
    )
}

#[derive(Deserialize)]
struct AddBody {
    #[serde(default, deserialize_with = "super::json::integral")]
    tmdb_id: Option<i64>,
    title: Option<String>,
    poster_path: Option<String>,
    overview: Option<String>,
    release_date: Option<String>,
}

fn validate(body: AddBody) -> Result<NewFavorite, ApiError> {
    let tmdb_id = body
        .tmdb_id
        .ok_or_else(|| ApiError::validation("tmdb_id", "tmdb_id is required"))?;
    if !(1..=i64::from(MovieId::MAX)).contains(&tmdb_id) {
        return Err(ApiError::validation(
            "tmdb_id",
            format!("tmdb_id must be an integer between 1 and {}", MovieId::MAX),
        ));
    }
    let title = body
        .title
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::validation("title", "title is required"))?;
    if title.chars().count() > TITLE_MAX {
        return Err(ApiError::validation(
            "title",
            format!("title must be at most {TITLE_MAX} characters"),
        ));
    }
    let poster_path = body.poster_path.filter(|p| !p.is_empty());
    if poster_path
        .as_ref()
        .is_some_and(|p| p.chars().count() > POSTER_PATH_MAX)
    {
        return Err(ApiError::validation(
            "poster_path",
            format!("poster_path must be at most {POSTER_PATH_MAX} characters"),
        ));
    }
    // TMDB writes "" for an unknown date.
    let release_date = body.release_date.filter(|d| !d.is_empty());
    if let Some(date) = &release_date
        && !is_date(date)
    {
        return Err(ApiError::validation(
            "release_date",
            "release_date must be a date like 1999-10-15",
        ));
    }
    Ok(NewFavorite {
        tmdb_id,
        title,
        poster_path,
        overview: body.overview.unwrap_or_default(),
        release_date,
    })
}

/// `YYYY-MM-DD` with a real month and a day that exists in it.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    s.bytes()
        .enumerate()
        .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && (1..=days).contains(&d)
}

async fn add(_: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    super::respond(
        async {
            require_method(&req.method, &[Method::POST], "POST")?;
            let user = user(&req, &state).await?;
            let new = validate(req.json()?)?;
            let (favorite, created) = state.favorites.add(&user, new).await?;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json_response(status, &to_json(&favorite)))
        }
        .await,
    )
}

async fn remove(segments: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    super::respond(
        async {
            require_method(&req.method, &[Method::DELETE], "DELETE")?;
            let user = user(&req, &state).await?;
            let id = id_segment(&segments[0], "Favorite")?;
            state.favorites.remove(&user, id).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"detail": "Movie removed from favorites successfully"}),
            ))
        }
        .await,
    )
}

async fn check(segments: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    super::respond(
        async {
            // A segment that is not a number names no route (404 like any unknown path, token
            // or not); a number is this route, so the token is checked before its range.
            let no_route = || ApiError::NotFound("No route for this path".to_owned());
            let segment = MovieId::parse_segment(&segments[0]);
            if let MovieIdSegment::NotNumeric = segment {
                return Err(no_route());
            }
            require_method(&req.method, &[Method::GET], "GET, HEAD")?;
            let user = user(&req, &state).await?;
            let tmdb_id = match segment {
                MovieIdSegment::Valid(id) => i64::from(id.get()),
                MovieIdSegment::OutOfRange(e) => return Err(e.into()),
                MovieIdSegment::NotNumeric => return Err(no_route()),
            };
            let body = match state.favorites.check(&user, tmdb_id).await? {
                Some(favorite) => json!({"is_favorite": true, "favorite_data": to_json(&favorite)}),
                None => json!({"is_favorite": false, "detail": "Movie not in favorites"}),
            };
            Ok(json_response(StatusCode::OK, &body))
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert!(super::is_date("1999-10-15"));
        assert!(super::is_date("2024-02-29"));
        for bad in [
            "2023-02-29",
            "1999-13-01",
            "1999-1-15",
            "19991015xx",
            "abcd-ef-gh",
            "1999-04-31",
        ] {
            assert!(!super::is_date(bad), "{bad}");
        }
    }
}
