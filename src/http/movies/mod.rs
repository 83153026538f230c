//! The five public movie endpoints, in one table ([`ROUTES`]): the three cached ones (trending,
//! recommendations, details), which both doors answer (`cached.rs`), and search and popular,
//! asked of TMDB every time (`uncached.rs`). Each entry carries its row of the API table.
//!
//! One parser serves both doors: the fast path asks [`probe`] (which takes `.ok()?`), the full
//! route the same parser with `?`. A valid request the hot tier has no body for is handed on to
//! the full route already parsed ([`Parsed`], in the request's extensions), which goes on from
//! the store without parsing it or probing the hot tier again.

mod cached;
mod uncached;

use std::sync::LazyLock;

pub use cached::{Parsed, Probe};

use warp::Filter;
use warp::http::Method;
use warp::path::FullPath;

use super::api_spec::{
    Endpoint, LANGUAGE, MOVIE_ID, Operation, PAGE, Param, REGION, Shape, UPSTREAM, op, query,
};
use super::filters::{PathSegments, Query, client_addr, raw_query, require_get, with_state};
use crate::domain::coding::ContentCoding;
use crate::domain::{Language, MovieId, MovieIdSegment, Page, Requester, SearchQuery, TimeWindow};
use crate::error::ApiError;
use crate::service::movies::endpoints::{Details, Recommendations, Trending};
use crate::service::state::AppState;

use cached::{AnyCachedRoute, CachedRoute, Known, PathArgs};

type Response = warp::reply::Response;

/// The movie routes, each with its row of the API table (its OpenAPI documentation, and the
/// label of its logs and metrics). Fixed names come before `{movie_id}`, which would also match
/// them. A new cached endpoint is one entry here.
static ROUTES: [MovieRoute; 5] = [
    MovieRoute {
        doc: Endpoint {
            path: "/api/movies/trending/",
            operations: &[Operation {
                params: &[
                    query(
                        "time_window",
                        Shape::OneOf(&TimeWindow::NAMES),
                        "default day",
                    ),
                    PAGE,
                    LANGUAGE,
                ],
                success: (200, "MovieList"),
                errors: UPSTREAM,
                ..op(
                    "get",
                    "Trending movies, one cached page at a time",
                    "movies",
                )
            }],
        },
        serves: Serves::Cached(&CachedRoute {
            parse: |_, query| {
                let window = TimeWindow::parse(query.get("time_window"))?;
                let page = Page::parse(query.get("page"))?;
                Ok(Trending { window, page })
            },
            list_params: Some(|request| vec![("time_window", request.window.as_str())]),
        }),
    },
    MovieRoute {
        doc: Endpoint {
            path: "/api/movies/search/",
            operations: &[Operation {
                params: &[
                    Param {
                        required: true,
                        ..query(
                            "query",
                            Shape::Pattern(SearchQuery::pattern),
                            "1..=200 characters once trimmed, no control characters",
                        )
                    },
                    PAGE,
                    LANGUAGE,
                    REGION,
                ],
                success: (200, "MovieList"),
                errors: UPSTREAM,
                ..op(
                    "get",
                    "Search movies (not cached: asked of TMDB; offline, answered from the movies stored locally)",
                    "movies",
                )
            }],
        },
        serves: Serves::Search,
    },
    MovieRoute {
        doc: Endpoint {
            path: "/api/movies/popular/",
            operations: &[Operation {
                params: &[PAGE, LANGUAGE, REGION],
                success: (200, "MovieList"),
                errors: UPSTREAM,
                ..op(
                    "get",
                    "Popular movies (not cached: asked of TMDB; offline, its last stored pages)",
                    "movies",
                )
            }],
        },
        serves: Serves::Popular,
    },
    MovieRoute {
        doc: Endpoint {
            path: "/api/movies/{movie_id}/recommendations/",
            operations: &[Operation {
                params: &[MOVIE_ID, PAGE, LANGUAGE],
                success: (200, "MovieList"),
                errors: &[400, 404, 502, 503, 504],
                ..op(
                    "get",
                    "Recommendations for a movie, one cached page at a time",
                    "movies",
                )
            }],
        },
        serves: Serves::Cached(&CachedRoute {
            parse: |path, query| {
                let id = path.movie_id()?;
                let page = Page::parse(query.get("page"))?;
                Ok(Recommendations { id, page })
            },
            list_params: Some(|_| Vec::new()),
        }),
    },
    MovieRoute {
        doc: Endpoint {
            path: "/api/movies/{movie_id}/",
            operations: &[Operation {
                params: &[MOVIE_ID, LANGUAGE],
                success: (200, "MovieDetail"),
                errors: &[400, 404, 502, 503, 504],
                ..op("get", "Movie details (cached; 24h by default)", "movies")
            }],
        },
        serves: Serves::Cached(&CachedRoute {
            parse: |path, _| {
                Ok(Details {
                    id: path.movie_id()?,
                })
            },
            list_params: None,
        }),
    },
];

/// A movie route: its row of the API table and what answers it.
struct MovieRoute {
    doc: Endpoint,
    serves: Serves,
}

enum Serves {
    Cached(&'static dyn AnyCachedRoute),
    Search,
    Popular,
}

impl MovieRoute {
    /// The API table's path.
    fn path(&self) -> &'static str {
        self.doc.path
    }

    /// The route `path` names, with its `{movie_id}` segment when it has one.
    fn of(path: &str) -> Option<(&'static MovieRoute, Option<String>)> {
        // Each route's pattern cut into segments once, and the path once per request.
        static PARTS: LazyLock<Vec<Vec<&'static str>>> = LazyLock::new(|| {
            ROUTES
                .iter()
                .map(|route| route.path().trim_matches('/').split('/').collect())
                .collect()
        });
        let segments = PathSegments::of(path)?;
        ROUTES.iter().zip(PARTS.iter()).find_map(|(route, parts)| {
            let mut captured = segments.matches(parts)?;
            Some((route, captured.pop()))
        })
    }
}

/// The movie routes' rows of the API table, in the router's order.
pub fn documented() -> impl Iterator<Item = Endpoint> {
    ROUTES.iter().map(|route| route.doc)
}

/// The fast path's question: is `path?raw` a valid request for a cached endpoint, and does the
/// hot tier hold its body? `None` for any other route and for any request the full route would
/// refuse, which the full route then answers with its error. The method is the caller's to
/// check (GET or HEAD).
pub fn probe(state: &AppState, path: &str, raw: &str) -> Option<Probe> {
    let (route, segment) = MovieRoute::of(path)?;
    let Serves::Cached(cached) = route.serves else {
        return None;
    };
    let movie_id = match segment {
        Some(segment) => Some(movie_id_of(MovieId::parse_segment(&segment)).ok()?),
        None => None,
    };
    cached.probe(
        route.path(),
        state,
        PathArgs { movie_id },
        &Query::parse(raw),
    )
}

/// How the full route's movie filter matched a request.
enum Matched {
    Path(&'static MovieRoute, Option<String>),
    Parsed(Parsed),
}

/// Every movie route, as one filter: the path is matched once (or not at all, when the fast
/// path parsed the request) and dispatched, which keeps the hit path out of a chain of
/// alternatives (each of which would move the request's future).
pub fn routes(state: AppState) -> warp::filters::BoxedFilter<(Response,)> {
    warp::path::full()
        .and(warp::ext::optional::<Parsed>())
        .and_then(|full: FullPath, parsed: Option<Parsed>| async move {
            match parsed {
                Some(parsed) => Ok(Matched::Parsed(parsed)),
                None => MovieRoute::of(full.as_str())
                    .map(|(route, segment)| Matched::Path(route, segment))
                    .ok_or_else(warp::reject::not_found),
            }
        })
        .and(warp::method())
        .and(raw_query())
        .and(warp::header::optional::<String>("if-none-match"))
        .and(accept_encoding())
        .and(requester())
        .and(with_state(state))
        .then(
            |matched: Matched, method, raw, if_none_match, coding, who, state| async move {
                let call = Call {
                    method,
                    raw,
                    if_none_match,
                    coding,
                    who,
                    state,
                };
                match matched {
                    Matched::Parsed(parsed) => parsed.answer(call).await,
                    Matched::Path(route, segment) => match route.serves {
                        Serves::Cached(cached) => {
                            cached
                                .answer(route.path(), call, Known::Path(segment))
                                .await
                        }
                        Serves::Search => uncached::search(call).await,
                        Serves::Popular => uncached::popular(call).await,
                    },
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
    /// The content coding the request's `Accept-Encoding` prefers.
    coding: ContentCoding,
    /// Whose share of the upstream budget a miss takes: the client's address as the client
    /// limiter tells it (the peer, or `X-Forwarded-For` from a trusted proxy).
    who: Requester,
    state: AppState,
}

/// What `Accept-Encoding` prefers (identity without one, or with one that is not text).
fn accept_encoding()
-> impl Filter<Extract = (ContentCoding,), Error = std::convert::Infallible> + Clone {
    // The one header, not a copy of them all.
    warp::header::value("accept-encoding")
        .map(|value: warp::http::HeaderValue| ContentCoding::negotiate(value.to_str().ok()))
        .or(warp::any().map(|| ContentCoding::Identity))
        .unify()
}

impl Call {
    fn conditions(&self) -> super::response::Conditions<'_> {
        super::response::Conditions {
            if_none_match: self.if_none_match.as_deref(),
            coding: self.coding,
        }
    }
}

fn requester() -> impl Filter<Extract = (Requester,), Error = std::convert::Infallible> + Clone {
    client_addr().map(Requester::Client)
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

/// The full route's path arguments, the method checked in between: a segment that is not a
/// number names no route (404 whatever the method); a number names this route, whose method is
/// checked before the id's range, so an undeclared method is a 405 on any id. A route without
/// a movie id checks the method first.
fn path_args(segment: Option<&str>, method: &Method) -> Result<PathArgs, ApiError> {
    let Some(segment) = segment else {
        require_get(method)?;
        return Ok(PathArgs { movie_id: None });
    };
    let parsed = MovieId::parse_segment(segment);
    if !matches!(parsed, MovieIdSegment::NotNumeric) {
        require_get(method)?;
    }
    Ok(PathArgs {
        movie_id: Some(movie_id_of(parsed)?),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_paths_are_the_api_tables() {
        for route in &ROUTES {
            let example = route.path().replace("{movie_id}", "550");
            assert_eq!(
                super::super::observe::route_label(&example),
                route.path(),
                "{example}"
            );
            let (found, segment) =
                MovieRoute::of(&example).expect("the route matches its own path");
            assert_eq!(found.path(), route.path());
            assert_eq!(segment.is_some(), route.path().contains("{movie_id}"));
        }
    }
}
