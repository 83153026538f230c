//! The web pages the binary serves: the movie front end at `/` and the staff cache dashboard at
//! `/dashboard/`, plain HTML, CSS and JavaScript (ES modules) compiled in from `src/http/site/`.
//! They use the public API only, as any other front end would. No build step, nothing fetched
//! from elsewhere: the Content-Security-Policy allows this origin and nothing else, and no
//! inline script or style at all.

use std::sync::LazyLock;

use warp::Filter;
use warp::http::{HeaderValue, Method, StatusCode, header};

use super::filters::{route, with_state};
use super::json::require_method;
use super::response::matches_if_none_match;
use crate::error::ApiError;
use crate::service::state::AppState;

type Response = warp::reply::Response;

/// The pages' policy: scripts, styles, images and API calls from this origin only; no inline
/// code, no plugins, no framing, no other site's forms.
pub const SITE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// One compiled-in file.
pub struct Asset {
    /// Its URL path.
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

/// Every file the pages are made of. A new file is a line here (and its row in the API
/// document, `api_spec.rs`).
pub static ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("site/index.html"),
    },
    Asset {
        path: "/dashboard/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("site/dashboard.html"),
    },
    Asset {
        path: "/assets/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("site/app.css"),
    },
    Asset {
        path: "/assets/api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("site/api.js"),
    },
    Asset {
        path: "/assets/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("site/app.js"),
    },
    Asset {
        path: "/assets/dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("site/dashboard.js"),
    },
    Asset {
        path: "/favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("site/favicon.svg"),
    },
];

/// Each file's validator: a hash of its bytes, so a new binary's files are fetched again.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            format!(
                "\"s{:016x}\"",
                xxhash_rust::xxh3::xxh3_64(a.body.as_bytes())
            )
        })
        .collect()
});

pub fn routes(state: AppState) -> warp::filters::BoxedFilter<(Response,)> {
    let serve = |index: usize| {
        let pattern = ASSETS[index].path.trim_matches('/');
        route(if pattern.is_empty() { "" } else { pattern })
            .and(warp::method())
            .and(warp::header::optional::<String>("if-none-match"))
            .and(with_state(state.clone()))
            .then(
                move |_: Vec<String>, method: Method, tag: Option<String>, _: AppState| {
                    std::future::ready(super::respond(asset(index, &method, tag.as_deref())))
                },
            )
            .boxed()
    };
    let mut routes = serve(0);
    for index in 1..ASSETS.len() {
        routes = routes.or(serve(index)).unify().boxed();
    }
    routes
}

fn asset(index: usize, method: &Method, if_none_match: Option<&str>) -> Result<Response, ApiError> {
    require_method(method, &[Method::GET], "GET, HEAD")?;
    let asset = &ASSETS[index];
    let etag = &ETAGS[index];
    let mut response = if matches_if_none_match(if_none_match, etag) {
        let mut response = Response::new(bytes::Bytes::new().into());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let mut response = Response::new(bytes::Bytes::from_static(asset.body.as_bytes()).into());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        response
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(etag).expect("hex digits"),
    );
    // Asked again every time (a 304 when unchanged): a new binary's pages show at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SITE_CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    Ok(response)
}
