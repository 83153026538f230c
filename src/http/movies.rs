//! The five public movie endpoints: trending, recommendations, details, search, popular.

use warp::Filter;
use warp::http::Method;

use super::filters::{Query, raw_query, require_get, route, with_state};
use super::response::{ListLinks, movie_response};
use crate::domain::{Language, MovieId, MovieIdSegment, Page, Region, SearchQuery, TimeWindow};
use crate::error::ApiError;
use crate::state::AppState;

type Response = warp::reply::Response;

/// Every movie route. The fixed paths come before `{movie_id}`, which would also match them.
/// Boxed: the whole route tree as one concrete type would be too deep for the compiler.
pub fn routes(state: AppState) -> warp::filters::BoxedFilter<(Response,)> {
    let common = move || {
        warp::method()
            .and(raw_query())
            .and(warp::header::optional::<String>("if-none-match"))
            .and(with_state(state.clone()))
    };
    let trending = route("api/movies/trending").and(common()).then(trending);
    let search = route("api/movies/search").and(common()).then(search);
    let popular = route("api/movies/popular").and(common()).then(popular);
    let recommendations = route("api/movies/{}/recommendations")
        .and(common())
        .then(recommendations);
    let details = route("api/movies/{}").and(common()).then(details);
    trending
        .or(search)
        .unify()
        .or(popular)
        .unify()
        .or(recommendations)
        .unify()
        .or(details)
        .unify()
        .boxed()
}

use super::respond;

fn language(query: &Query, state: &AppState) -> Result<Language, ApiError> {
    Language::parse_param(query.get("language"), state.movies.default_language())
}

/// `language` in links only when the client chose a non-default one, matching the cache key.
fn language_param<'a>(language: &'a Language, state: &AppState) -> Option<&'a str> {
    (language != state.movies.default_language()).then(|| language.as_str())
}

fn movie_id(segment: &str) -> Result<MovieId, ApiError> {
    match MovieId::parse_segment(segment) {
        MovieIdSegment::Valid(id) => Ok(id),
        MovieIdSegment::OutOfRange(err) => Err(err),
        MovieIdSegment::NotNumeric => Err(ApiError::NotFound(
            "No route for this path (a movie id is a number)".to_owned(),
        )),
    }
}

async fn trending(
    _: Vec<String>,
    method: Method,
    raw: String,
    if_none_match: Option<String>,
    state: AppState,
) -> Response {
    respond(
        async {
            require_get(&method)?;
            let query = Query::parse(&raw);
            let window = TimeWindow::parse(query.get("time_window"))?;
            let page = Page::parse(query.get("page"))?;
            let language = language(&query, &state)?;
            let served = state.movies.trending(window, &language, page).await?;
            let mut params = vec![("time_window", window.as_str())];
            params.extend(language_param(&language, &state).map(|l| ("language", l)));
            let links = ListLinks {
                path: "/api/movies/trending/",
                params,
            };
            Ok(movie_response(
                &state,
                served,
                Some(&links),
                if_none_match.as_deref(),
            ))
        }
        .await,
    )
}

async fn recommendations(
    segments: Vec<String>,
    method: Method,
    raw: String,
    if_none_match: Option<String>,
    state: AppState,
) -> Response {
    respond(
        async {
            let id = movie_id(&segments[0])?;
            require_get(&method)?;
            let query = Query::parse(&raw);
            let page = Page::parse(query.get("page"))?;
            let language = language(&query, &state)?;
            let served = state.movies.recommendations(id, &language, page).await?;
            let path = format!("/api/movies/{id}/recommendations/");
            let links = ListLinks {
                path: &path,
                params: language_param(&language, &state)
                    .map(|l| ("language", l))
                    .into_iter()
                    .collect(),
            };
            Ok(movie_response(
                &state,
                served,
                Some(&links),
                if_none_match.as_deref(),
            ))
        }
        .await,
    )
}

async fn details(
    segments: Vec<String>,
    method: Method,
    raw: String,
    if_none_match: Option<String>,
    state: AppState,
) -> Response {
    respond(
        async {
            let id = movie_id(&segments[0])?;
            require_get(&method)?;
            let query = Query::parse(&raw);
            let language = language(&query, &state)?;
            let served = state.movies.details(id, &language).await?;
            Ok(movie_response(
                &state,
                served,
                None,
                if_none_match.as_deref(),
            ))
        }
        .await,
    )
}

async fn search(
    _: Vec<String>,
    method: Method,
    raw: String,
    if_none_match: Option<String>,
    state: AppState,
) -> Response {
    respond(
        async {
            require_get(&method)?;
            let query = Query::parse(&raw);
            let text = SearchQuery::parse(query.get("query"))?;
            let page = Page::parse(query.get("page"))?;
            let language = language(&query, &state)?;
            let region = Region::parse_param(query.get("region"))?;
            let served = state
                .movies
                .search(&text, &language, region.as_ref(), page)
                .await?;
            let mut params = vec![("query", text.as_str())];
            params.extend(language_param(&language, &state).map(|l| ("language", l)));
            params.extend(region.as_ref().map(|r| ("region", r.as_str())));
            let links = ListLinks {
                path: "/api/movies/search/",
                params,
            };
            Ok(movie_response(
                &state,
                served,
                Some(&links),
                if_none_match.as_deref(),
            ))
        }
        .await,
    )
}

async fn popular(
    _: Vec<String>,
    method: Method,
    raw: String,
    if_none_match: Option<String>,
    state: AppState,
) -> Response {
    respond(
        async {
            require_get(&method)?;
            let query = Query::parse(&raw);
            let page = Page::parse(query.get("page"))?;
            let language = language(&query, &state)?;
            let region = Region::parse_param(query.get("region"))?;
            let served = state
                .movies
                .popular(&language, region.as_ref(), page)
                .await?;
            let mut params = Vec::new();
            params.extend(language_param(&language, &state).map(|l| ("language", l)));
            params.extend(region.as_ref().map(|r| ("region", r.as_str())));
            let links = ListLinks {
                path: "/api/movies/popular/",
                params,
            };
            Ok(movie_response(
                &state,
                served,
                Some(&links),
                if_none_match.as_deref(),
            ))
        }
        .await,
    )
}
