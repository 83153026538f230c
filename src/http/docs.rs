//! `/api/docs.json` (the OpenAPI document) and `/api/docs/` (Swagger UI, whose files ship inside
//! the binary: nothing is downloaded at build or run time). `/` is the front end (`site.rs`).

use std::sync::Arc;

use warp::Filter;
use warp::http::{HeaderValue, Method, StatusCode, header};

use super::filters::{route, with_state};
use super::json::{ApiRequest, api_request, json_response, require_method};
use crate::error::ApiError;
use crate::service::state::AppState;

type Response = warp::reply::Response;

/// The docs page runs Swagger UI's own scripts and nothing else.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn routes(state: AppState) -> warp::filters::BoxedFilter<(Response,)> {
    let with = move || api_request().and(with_state(state.clone()));
    let document = route("api/docs.json").and(with()).then(document);
    let ui_index = route("api/docs")
        .and(with())
        .then(|_, req, _| ui(req, String::new()));
    let ui_file = route("api/docs/{}")
        .and(with())
        .then(|segments: Vec<String>, req, _| ui(req, segments[0].clone()));
    document.or(ui_index).unify().or(ui_file).unify().boxed()
}

async fn document(_: Vec<String>, req: ApiRequest, _state: AppState) -> Response {
    super::respond(
        async {
            require_method(&req.method, &[Method::GET], "GET, HEAD")?;
            Ok(json_response(StatusCode::OK, &super::api_spec::openapi()))
        }
        .await,
    )
}

async fn ui(req: ApiRequest, file: String) -> Response {
    super::respond(
        async {
            require_method(&req.method, &[Method::GET], "GET, HEAD")?;
            let config = Arc::new(utoipa_swagger_ui::Config::new(["/api/docs.json"]));
            let found = utoipa_swagger_ui::serve(&file, config)
                .map_err(|e| ApiError::Internal(format!("docs: {e}")))?
                .ok_or_else(|| ApiError::NotFound("No route for this path".to_owned()))?;
            let mut response = Response::new(bytes::Bytes::from(found.bytes.into_owned()).into());
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&found.content_type) {
                headers.insert(header::CONTENT_TYPE, value);
            }
            if found.gzpipped {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(DOCS_CSP),
            );
            Ok(response)
        }
        .await,
    )
}
