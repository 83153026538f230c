//! Operations endpoints: `/health/` (every check, for people and load balancers),
//! `/health/live` and `/health/ready` (the two probes orchestrators ask), and `/metrics` for
//! Prometheus.

use serde_json::json;
use warp::Filter;
use warp::http::{HeaderValue, Method, StatusCode, header};

use super::filters::{route, with_state};
use super::json::{ApiRequest, api_request, json_response, require_method};
use crate::config::MetricsAccess;
use crate::error::ApiError;
use crate::service::health;
use crate::service::state::AppState;

type Response = warp::reply::Response;

/// Boxed: the whole route tree as one concrete type would be too deep for the compiler.
pub fn routes(state: AppState) -> warp::filters::BoxedFilter<(Response,)> {
    let with = move || api_request().and(with_state(state.clone()));
    let health = route("health").and(with()).then(health);
    let live = route("health/live").and(with()).then(live);
    let ready = route("health/ready").and(with()).then(ready);
    let metrics = route("metrics").and(with()).then(metrics);
    health
        .or(live)
        .unify()
        .or(ready)
        .unify()
        .or(metrics)
        .unify()
        .boxed()
}

/// 200 "healthy" when the cache store and the database answer, 200 "degraded" while a shared
/// cache is away or a component has stopped working (a background task that panicked, or a
/// fetch task that panicked within the last minutes: `crate::service::components`), 503 "unhealthy" when
/// the local store or the database fails. TMDB is reported but never makes the service
/// unhealthy: the cache still serves.
async fn health(_: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    super::respond(
        async {
            require_method(&req.method, &[Method::GET], "GET, HEAD")?;
            let report = health::report(&state).await;
            let status = if report.healthy {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            Ok(json_response(status, &report.body))
        }
        .await,
    )
}

/// Liveness: 200 as long as the process answers. It asks no store: a slow disk or a lost
/// database is readiness's business, and an orchestrator restarts a process whose liveness fails.
async fn live(_: Vec<String>, req: ApiRequest, _state: AppState) -> Response {
    super::respond(
        require_method(&req.method, &[Method::GET], "GET, HEAD")
            .map(|()| json_response(StatusCode::OK, &json!({"status": "alive"}))),
    )
}

/// Readiness: 200 while the accept loop runs and the stores are usable (the same checks as
/// `/health/`, reusing its answer of the last second); otherwise 503 in the error envelope,
/// the message saying why: starting, shutting down, or which store fails.
async fn ready(_: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    super::respond(
        async {
            require_method(&req.method, &[Method::GET], "GET, HEAD")?;
            let Err(reason) = health::readiness(&state).await else {
                return Ok(json_response(StatusCode::OK, &json!({"status": "ready"})));
            };
            Err(ApiError::Unavailable {
                message: format!("Not ready: {reason}"),
                retry_after: 1,
            })
        }
        .await,
    )
}

async fn metrics(_: Vec<String>, req: ApiRequest, state: AppState) -> Response {
    super::respond(
        async {
            require_method(&req.method, &[Method::GET], "GET, HEAD")?;
            match state.metrics_access {
                MetricsAccess::Off => {
                    return Err(ApiError::NotFound("No route for this path".into()));
                }
                MetricsAccess::Staff => {
                    state
                        .accounts
                        .authenticate_staff(req.authorization.as_deref())
                        .await?;
                }
                MetricsAccess::Public => {}
            }
            let gauges = state.gauges().await;
            let mut response = Response::new(crate::ops::metrics::render(&gauges).into());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            Ok(response)
        }
        .await,
    )
}
