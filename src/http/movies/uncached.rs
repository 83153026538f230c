//! Search and popular: asked of TMDB every time (their last good answers kept for outages and
//! offline mode, by the service).

use super::{Call, Response, language, language_param};
use crate::domain::{Language, Page, Region, SearchQuery};
use crate::error::ApiError;
use crate::http::filters::{Query, require_get};
use crate::http::respond;
use crate::http::response::{ListLinks, movie_response};
use crate::service::movies::Served;

pub(super) async fn search(call: Call) -> Response {
    respond(
        async {
            require_get(&call.method)?;
            let query = Query::parse(&call.raw);
            let text = SearchQuery::parse(query.get("query"))?;
            let list = ListQuery::parse(&query, &call)?;
            let served = call
                .state
                .movies
                .search(
                    &text,
                    &list.language,
                    list.region.as_ref(),
                    list.page,
                    call.who,
                )
                .await?;
            Ok(list.respond(
                &call,
                "/api/movies/search/",
                vec![("query", text.as_str())],
                served,
            ))
        }
        .await,
    )
}

pub(super) async fn popular(call: Call) -> Response {
    respond(
        async {
            require_get(&call.method)?;
            let list = ListQuery::parse(&Query::parse(&call.raw), &call)?;
            let served = call
                .state
                .movies
                .popular(&list.language, list.region.as_ref(), list.page, call.who)
                .await?;
            Ok(list.respond(&call, "/api/movies/popular/", Vec::new(), served))
        }
        .await,
    )
}

/// The parameters both lists take besides their own.
struct ListQuery {
    page: Page,
    language: Language,
    region: Option<Region>,
}

impl ListQuery {
    /// The shared parameters, parsed after the list's own.
    fn parse(query: &Query, call: &Call) -> Result<ListQuery, ApiError> {
        Ok(ListQuery {
            page: Page::parse(query.get("page"))?,
            language: language(query, &call.state)?,
            region: Region::parse_param(query.get("region"))?,
        })
    }

    /// The response, with `next`/`previous` links that keep the list's own parameters
    /// (`fixed`), a non-default language and the region.
    fn respond<'a>(
        &'a self,
        call: &'a Call,
        path: &'a str,
        mut params: Vec<(&'static str, &'a str)>,
        served: Served,
    ) -> Response {
        params.extend(language_param(&self.language, &call.state).map(|l| ("language", l)));
        params.extend(self.region.as_ref().map(|r| ("region", r.as_str())));
        let links = ListLinks { path, params };
        movie_response(&call.state, served, Some(&links), call.conditions())
    }
}
