//! The five public movie endpoints: trending, recommendations, details, search, popular.

use std::sync::OnceLock;

use warp::Filter;
use warp::http::Method;

use warp::path::FullPath;

use super::filters::{Query, client_addr, match_path, raw_query, require_get, with_state};
use super::response::{ListLinks, movie_response};
use crate::domain::{
    Language, MovieId, MovieIdSegment, Page, Region, Requester, SearchQuery, TimeWindow,
};
use crate::error::ApiError;
use crate::service::movies::CachedRequest;
use crate::service::state::AppState;

type Response = warp::reply::Response;

/// Which movie endpoint a path names. The fixed names come before `{movie_id}`, which would
/// also match them.
enum MovieRoute {
    Trending,
    Search,
    Popular,
    Recommendations(String),
    Details(String),
}

impl MovieRoute {
    /// The metrics label of the routes the hot tier holds (the API table's path, as
    /// `observe::route_label` gives it), looked up once.
    fn label(&self) -> Option<&'static str> {
        static LABELS: OnceLock<[&'static str; 3]> = OnceLock::new();
        let [trending, recommendations, details] = LABELS.get_or_init(|| {
            [
                "/api/movies/trending/",
                "/api/movies/1/recommendations/",
                "/api/movies/1/",
            ]
            .map(super::observe::route_label)
        });
        match self {
            MovieRoute::Trending => Some(trending),
            MovieRoute::Recommendations(_) => Some(recommendations),
            MovieRoute::Details(_) => Some(details),
            MovieRoute::Search | MovieRoute::Popular => None,
        }
    }

    fn of(path: &str) -> Option<MovieRoute> {
        const PATTERNS: [&[&str]; 5] = [
            &["api", "movies", "trending"],
            &["api", "movies", "search"],
            &["api", "movies", "popular"],
            &["api", "movies", "{}", "recommendations"],
            &["api", "movies", "{}"],
        ];
        let (i, mut captured) = PATTERNS
            .iter()
            .enumerate()
            .find_map(|(i, parts)| Some((i, match_path(parts, path)?)))?;
        Some(match i {
            0 => MovieRoute::Trending,
            1 => MovieRoute::Search,
            2 => MovieRoute::Popular,
            3 => MovieRoute::Recommendations(captured.pop()?),
            _ => MovieRoute::Details(captured.pop()?),
        })
    }
}

/// Every movie route, as one filter: the path is matched once and dispatched, which keeps the
/// hit path out of a chain of alternatives (each of which would move the request's future).
pub fn routes(state: AppState) -> warp::filters::BoxedFilter<(Response,)> {
    warp::path::full()
        .and_then(|full: FullPath| async move {
            MovieRoute::of(full.as_str()).ok_or_else(warp::reject::not_found)
        })
        .and(warp::method())
        .and(raw_query())
        .and(warp::header::optional::<String>("if-none-match"))
        .and(requester())
        .and(with_state(state))
        .then(
            |route: MovieRoute, method, raw, if_none_match, who, state| async move {
                let call = Call {
                    method,
                    raw,
                    if_none_match,
                    who,
                    state,
                };
                match route {
                    MovieRoute::Trending => trending(call).await,
                    MovieRoute::Search => search(call).await,
                    MovieRoute::Popular => popular(call).await,
                    MovieRoute::Recommendations(id) => recommendations(id, call).await,
                    MovieRoute::Details(id) => details(id, call).await,
                }
            },
        )
        .boxed()
}

/// What every movie handler gets.
struct Call {
    method: Method,
    raw: String,
    if_none_match: Option<String>,
    /// Whose share of the upstream budget a miss takes: the client's address as the client
    /// limiter tells it (the peer, or `X-Forwarded-For` from a trusted proxy).
    who: Requester,
    state: AppState,
}

impl Call {
    fn parts(self) -> (Method, String, Option<String>, Requester, AppState) {
        (
            self.method,
            self.raw,
            self.if_none_match,
            self.who,
            self.state,
        )
    }
}

fn requester() -> impl Filter<Extract = (Requester,), Error = std::convert::Infallible> + Clone {
    client_addr().map(Requester::Client)
}

use super::respond;

/// A cached endpoint's route, its movie id already read from the path (each door reads it its
/// own way: the full route checks the method between the id's form and its range).
enum Cached {
    Trending,
    Recommendations(MovieId),
    Details(MovieId),
}

/// The one parser of the cached endpoints' queries, shared by both doors so that they cannot
/// drift: the fast path takes `.ok()?` (anything refused goes down the full route), the
/// handlers `?`. The parameters are checked in the order the handlers always checked them.
fn cached_request(
    route: Cached,
    query: &Query,
    state: &AppState,
) -> Result<(CachedRequest, Language), ApiError> {
    let request = match route {
        Cached::Trending => {
            let window = TimeWindow::parse(query.get("time_window"))?;
            let page = Page::parse(query.get("page"))?;
            CachedRequest::Trending { window, page }
        }
        Cached::Recommendations(id) => CachedRequest::Recommendations {
            id,
            page: Page::parse(query.get("page"))?,
        },
        Cached::Details(id) => CachedRequest::Details { id },
    };
    Ok((request, language(query, state)?))
}

/// The request a valid GET of `path?raw` is, with the route's label, for the routes the hot
/// tier holds (trending, recommendations, details); `None` for any other route and for any
/// request the handlers would refuse, which the full route then answers with its error.
pub fn hot_request(
    state: &AppState,
    path: &str,
    raw: &str,
) -> Option<(CachedRequest, Language, &'static str)> {
    let route = MovieRoute::of(path)?;
    let label = route.label()?;
    let cached = match route {
        MovieRoute::Trending => Cached::Trending,
        MovieRoute::Recommendations(id) => Cached::Recommendations(movie_id(&id).ok()?),
        MovieRoute::Details(id) => Cached::Details(movie_id(&id).ok()?),
        MovieRoute::Search | MovieRoute::Popular => return None,
    };
    let (request, language) = cached_request(cached, &Query::parse(raw), state).ok()?;
    Some((request, language, label))
}

fn language(query: &Query, state: &AppState) -> Result<Language, ApiError> {
    Ok(Language::parse_param(
        query.get("language"),
        state.movies.default_language(),
    )?)
}

/// `language` in links only when the client chose a non-default one, matching the cache key.
fn language_param<'a>(language: &'a Language, state: &AppState) -> Option<&'a str> {
    (language != state.movies.default_language()).then(|| language.as_str())
}

fn movie_id(segment: &str) -> Result<MovieId, ApiError> {
    movie_id_of(MovieId::parse_segment(segment))
}

/// The movie id of a request's path, its method checked in between: a segment that is not a
/// number names no route (404 whatever the method); a number names this route, whose method is
/// checked before the id's range, so an undeclared method is a 405 on any id.
fn movie_id_for(segment: &str, method: &Method) -> Result<MovieId, ApiError> {
    let parsed = MovieId::parse_segment(segment);
    if !matches!(parsed, MovieIdSegment::NotNumeric) {
        require_get(method)?;
    }
    movie_id_of(parsed)
}

fn movie_id_of(parsed: MovieIdSegment) -> Result<MovieId, ApiError> {
    match parsed {
        MovieIdSegment::Valid(id) => Ok(id),
        MovieIdSegment::OutOfRange(err) => Err(err.into()),
        MovieIdSegment::NotNumeric => Err(ApiError::NotFound(
            "No route for this path (a movie id is a number)".to_owned(),
        )),
    }
}

async fn trending(call: Call) -> Response {
    let (method, raw, if_none_match, who, state) = call.parts();
    respond(
        async {
            require_get(&method)?;
            let query = Query::parse(&raw);
            let (request, language) = cached_request(Cached::Trending, &query, &state)?;
            let CachedRequest::Trending { window, .. } = request else {
                return Err(ApiError::Internal(
                    "a trending route parsed as another request".to_owned(),
                ));
            };
            let served = state.movies.cached(request, &language, who).await?;
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

async fn recommendations(id: String, call: Call) -> Response {
    let (method, raw, if_none_match, who, state) = call.parts();
    respond(
        async {
            let id = movie_id_for(&id, &method)?;
            let query = Query::parse(&raw);
            let (request, language) = cached_request(Cached::Recommendations(id), &query, &state)?;
            let served = state.movies.cached(request, &language, who).await?;
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

async fn details(id: String, call: Call) -> Response {
    let (method, raw, if_none_match, who, state) = call.parts();
    respond(
        async {
            let id = movie_id_for(&id, &method)?;
            let query = Query::parse(&raw);
            let (request, language) = cached_request(Cached::Details(id), &query, &state)?;
            let served = state.movies.cached(request, &language, who).await?;
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

async fn search(call: Call) -> Response {
    let (method, raw, if_none_match, who, state) = call.parts();
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
                .search(&text, &language, region.as_ref(), page, who)
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

async fn popular(call: Call) -> Response {
    let (method, raw, if_none_match, who, state) = call.parts();
    respond(
        async {
            require_get(&method)?;
            let query = Query::parse(&raw);
            let page = Page::parse(query.get("page"))?;
            let language = language(&query, &state)?;
            let region = Region::parse_param(query.get("region"))?;
            let served = state
                .movies
                .popular(&language, region.as_ref(), page, who)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hot_route_labels_are_the_api_tables() {
        for path in [
            "/api/movies/trending/",
            "/api/movies/550/recommendations",
            "/api/movies/550/",
        ] {
            let label = MovieRoute::of(path).and_then(|route| route.label());
            assert_eq!(
                label,
                Some(super::super::observe::route_label(path)),
                "{path}"
            );
            assert_ne!(label, Some("other"));
        }
    }
}
