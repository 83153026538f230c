//! Operations endpoints: `/health/` (every check, for people and load balancers),
//! `/health/live` and `/health/ready` (the two probes orchestrators ask), and `/metrics` for
//! Prometheus.

use std::time::Instant;

use serde_json::json;
use warp::Filter;
use warp::http::{HeaderValue, Method, StatusCode, header};

use super::filters::{route, with_state};
use super::json::{ApiRequest, api_request, json_response, require_method};
use crate::config::MetricsAccess;
use crate::error::ApiError;
use crate::service::lifecycle::Phase;
use crate::service::state::AppState;

type Response = warp::reply::Response;

/// The words `/health/` answers with, stated once for the answer and the OpenAPI document's
/// enums.
pub mod health {
    pub const HEALTHY: &str = "healthy";
    pub const DEGRADED: &str = "degraded";
    pub const UNHEALTHY: &str = "unhealthy";
    pub const STATUSES: [&str; 3] = [HEALTHY, DEGRADED, UNHEALTHY];

    /// A check's own status.
    pub const OK: &str = "ok";
    pub const FAILING: &str = "failing";
    pub const OFFLINE: &str = "offline";
    pub const CACHE: &[&str] = &[OK, FAILING, DEGRADED];
    pub const DATABASE: &[&str] = &[OK, FAILING];
    pub const TMDB: &[&str] = &[OK, DEGRADED, OFFLINE];
    pub const COMPONENTS: &[&str] = &[OK, FAILING];
}

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

/// Milliseconds since `started`, to the microsecond (0.137, not 0.13725400000000001).
fn latency_ms(started: Instant) -> f64 {
    started.elapsed().as_micros() as f64 / 1000.0
}

fn check(result: Result<(), String>, started: Instant) -> (bool, serde_json::Value) {
    let latency_ms = latency_ms(started);
    match result {
        Ok(()) => (
            true,
            json!({"status": health::OK, "latency_ms": latency_ms}),
        ),
        Err(error) => (
            false,
            json!({"status": health::FAILING, "latency_ms": latency_ms, "error": error}),
        ),
    }
}

/// The cache's check. A shared store (Redis) that is away is "degraded", not failing: requests
/// go to TMDB meanwhile and the store reconnects by itself.
async fn cache_check(state: &AppState) -> (bool, bool, serde_json::Value) {
    let started = Instant::now();
    let backend = state.cache.backend();
    match state.cache.health().await {
        Err(crate::cache::CacheError::Unavailable(error)) => (
            true,
            true,
            json!({
                "status": health::DEGRADED,
                "backend": backend,
                "latency_ms": latency_ms(started),
                "error": error,
            }),
        ),
        result => {
            let (ok, mut value) = check(result.map_err(|e| e.to_string()), started);
            value["backend"] = json!(backend);
            (ok, false, value)
        }
    }
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
            let (status, body) = state.health.get_or(|| check_health(&state)).await;
            Ok(json_response(status, &body))
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
            let reason = match state.lifecycle.phase() {
                Phase::Starting => "starting".to_owned(),
                Phase::Draining => "shutting down (finishing the requests in flight)".to_owned(),
                Phase::Serving => {
                    let (status, body) = state.health.get_or(|| check_health(&state)).await;
                    if status == StatusCode::OK {
                        return Ok(json_response(StatusCode::OK, &json!({"status": "ready"})));
                    }
                    failing_stores(&body)
                }
            };
            Err(ApiError::Unavailable {
                message: format!("Not ready: {reason}"),
                retry_after: 1,
            })
        }
        .await,
    )
}

/// "the cache store is failing, the database is failing": the checks of a `/health/` body that
/// make it unhealthy.
fn failing_stores(body: &serde_json::Value) -> String {
    let failing: Vec<String> = [("cache", "the cache store"), ("database", "the database")]
        .into_iter()
        .filter(|(check, _)| body["checks"][check]["status"] == "failing")
        .map(|(_, name)| format!("{name} is failing"))
        .collect();
    if failing.is_empty() {
        "a health check is failing".to_owned()
    } else {
        failing.join(", ")
    }
}

/// Runs every check once: the status and the body `/health/` answers.
async fn check_health(state: &AppState) -> (StatusCode, serde_json::Value) {
    let (cache_ok, degraded, cache) = cache_check(state).await;
    let started = Instant::now();
    let (db_ok, database) = check(
        state.accounts.db().ping().await.map_err(|e| e.to_string()),
        started,
    );
    let tmdb = if state.movies.is_offline() {
        json!({"status": health::OFFLINE})
    } else {
        let breaker = state.movies.tmdb().budget().breaker_state();
        json!({
            "status": if breaker == crate::tmdb::budget::BreakerState::Closed { health::OK } else { health::DEGRADED },
            "breaker": breaker,
        })
    };
    let failing = state.components.failing();
    let components = if failing.is_empty() {
        json!({"status": health::OK})
    } else {
        json!({"status": health::FAILING, "failing": failing})
    };
    let degraded = degraded || !failing.is_empty();
    let healthy = cache_ok && db_ok;
    if !healthy {
        tracing::warn!(%cache, %database, %components, "health check failing");
    }
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        json!({
            "status": match (healthy, degraded) {
                (false, _) => health::UNHEALTHY,
                (true, true) => health::DEGRADED,
                (true, false) => health::HEALTHY,
            },
            "checks": {
                "cache": cache,
                "database": database,
                "tmdb": tmdb,
                "components": components,
            },
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": state.started.elapsed().as_secs(),
        }),
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
            if let Some(info) = state.cache.shared_info().await {
                // Installs the recorder first, or the first scrape would lose these.
                crate::measure::handle();
                metrics::gauge!("reelcache_redis_used_memory_bytes").set(info.used_memory as f64);
                metrics::gauge!("reelcache_redis_maxmemory_bytes").set(info.maxmemory as f64);
            }
            let mut response = Response::new(crate::measure::render(&state).into());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            Ok(response)
        }
        .await,
    )
}
