//! The cached endpoints' routes: one generic route per request type of
//! `service::movies::endpoints`, parsed the same way on both doors.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::{Call, Response, language, language_param, path_args};
use crate::domain::{Language, MovieId};
use crate::error::ApiError;
use crate::http::filters::Query;
use crate::http::respond;
use crate::http::response::{ListLinks, movie_response};
use crate::service::movies::{Endpoint, HotHit, HotMiss};
use crate::service::state::AppState;

/// One cached endpoint's route; `E` is the service's request type.
pub(super) struct CachedRoute<E> {
    /// The request the path's movie id and the query name. `language` is read after it.
    pub parse: fn(PathArgs, &Query) -> Result<E, ApiError>,
    /// A list's link parameters besides `page` and `language`; `None` for a single document.
    pub list_params: Option<LinkParams<E>>,
}

/// The query parameters of a list's `next`/`previous` links that come from its request.
type LinkParams<E> = fn(&E) -> Vec<(&'static str, &'static str)>;

/// A cached route's answer, whatever its request type.
type Answer = Pin<Box<dyn Future<Output = Response> + Send>>;

/// What a route's path holds besides its fixed names.
#[derive(Debug, Clone, Copy)]
pub(super) struct PathArgs {
    pub movie_id: Option<MovieId>,
}

impl PathArgs {
    pub fn movie_id(self) -> Result<MovieId, ApiError> {
        self.movie_id
            .ok_or_else(|| ApiError::Internal("a route without a movie id asked for one".into()))
    }
}

/// What the fast path learns of a request for a cached endpoint.
pub enum Probe {
    /// A fresh body in the hot tier; `route` is the route's label.
    Hit { hit: HotHit, route: &'static str },
    /// A valid request the hot tier has no fresh body for.
    Miss(Parsed),
}

/// A request the fast path parsed and found no hot body for, handed to the full route in the
/// request's extensions.
#[derive(Clone)]
pub struct Parsed {
    route: &'static dyn AnyCachedRoute,
    path: &'static str,
    args: PathArgs,
    /// The route's `E`.
    request: Arc<dyn Any + Send + Sync>,
    language: Language,
    miss: HotMiss,
}

impl Parsed {
    pub(super) async fn answer(self, call: Call) -> Response {
        let (route, path) = (self.route, self.path);
        route.answer(path, call, Known::Parsed(self)).await
    }
}

/// How the full route came to a cached route.
pub(super) enum Known {
    /// By its path: the `{movie_id}` segment, when it has one.
    Path(Option<String>),
    /// From the fast path.
    Parsed(Parsed),
}

/// The table holds routes of different request types. `path` is the route's API path.
pub(super) trait AnyCachedRoute: Send + Sync {
    fn probe(
        &'static self,
        path: &'static str,
        state: &AppState,
        args: PathArgs,
        query: &Query,
    ) -> Option<Probe>;
    fn answer(&'static self, path: &'static str, call: Call, known: Known) -> Answer;
}

impl<E: Endpoint> AnyCachedRoute for CachedRoute<E> {
    fn probe(
        &'static self,
        path: &'static str,
        state: &AppState,
        args: PathArgs,
        query: &Query,
    ) -> Option<Probe> {
        let (request, language) = self.request(args, query, state).ok()?;
        Some(match state.movies.hot(&request, &language) {
            Ok(hit) => Probe::Hit { hit, route: path },
            Err(miss) => Probe::Miss(Parsed {
                route: self,
                path,
                args,
                request: Arc::new(request),
                language,
                miss,
            }),
        })
    }

    fn answer(&'static self, path: &'static str, call: Call, known: Known) -> Answer {
        Box::pin(async move { respond(self.answer_call(path, call, known).await) })
    }
}

impl<E: Endpoint> CachedRoute<E> {
    /// The one parser of a cached endpoint's request, for both doors; its parameters are checked
    /// in the order the handlers always checked them.
    fn request(
        &self,
        args: PathArgs,
        query: &Query,
        state: &AppState,
    ) -> Result<(E, Language), ApiError> {
        let request = (self.parse)(args, query)?;
        Ok((request, language(query, state)?))
    }

    async fn answer_call(
        &self,
        path: &'static str,
        call: Call,
        known: Known,
    ) -> Result<Response, ApiError> {
        let conditions = call.conditions();
        let (method, raw, who, state) = (&call.method, &call.raw, call.who, &call.state);
        let (args, request, language, miss) = match known {
            Known::Parsed(parsed) => {
                let request = *parsed.request.downcast_ref::<E>().ok_or_else(|| {
                    ApiError::Internal("a parsed request reached another route".into())
                })?;
                (parsed.args, request, parsed.language, Some(parsed.miss))
            }
            Known::Path(segment) => {
                let args = path_args(segment.as_deref(), method)?;
                let (request, language) = self.request(args, &Query::parse(raw), state)?;
                (args, request, language, None)
            }
        };
        let served = match miss {
            Some(miss) => {
                state
                    .movies
                    .cached_miss(miss, request, &language, who)
                    .await?
            }
            None => state.movies.cached(request, &language, who).await?,
        };
        let link_path = match args.movie_id {
            Some(id) => path.replace("{movie_id}", &id.to_string()),
            None => path.to_owned(),
        };
        let links = self.list_params.map(|fixed| {
            let mut params = fixed(&request);
            params.extend(language_param(&language, state).map(|l| ("language", l)));
            ListLinks {
                path: &link_path,
                params,
            }
        });
        Ok(movie_response(state, served, links.as_ref(), conditions))
    }
}
