//! Operations endpoints: `/health/` for load balancers and `/metrics` for Prometheus.

use std::time::Instant;

use serde_json::json;
use warp::Filter;
use warp::http::{HeaderValue, Method, StatusCode, header};

use super::filters::{route, with_state};
use super::json::{ApiRequest, api_request, json_response, require_method};
use crate::config::MetricsAccess;
use crate::error::ApiError;
use crate::state::AppState;

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
    let metrics = route("metrics").and(with()).then(metrics);
    health.or(metrics).unify().boxed()
}

fn check(result: Result<(), String>, started: Instant) -> (bool, serde_json::Value) {
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
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
                "latency_ms": started.elapsed().as_secs_f64() * 1000.0,
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
/// fetch task that panicked within the last minutes: `crate::components`), 503 "unhealthy" when
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
                crate::metrics_export::handle();
                metrics::gauge!("reelcache_redis_used_memory_bytes").set(info.used_memory as f64);
                metrics::gauge!("reelcache_redis_maxmemory_bytes").set(info.maxmemory as f64);
            }
            let mut response = Response::new(crate::metrics_export::render(&state).into());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            Ok(response)
        }
        .await,
    )
}
