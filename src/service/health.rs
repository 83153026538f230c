//! Health: every check of `/health/` (the cache store, the database, TMDB's state, background
//! components), reused for a second, and readiness for `/health/ready`.

use std::time::Instant;

use serde_json::json;

use crate::service::lifecycle::Phase;
use crate::service::state::AppStateInner;

// The words `/health/` answers with, stated once for the answer and the OpenAPI document's enums.
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

/// One health answer: whether the service is healthy (else `/health/` is a 503) and its body.
#[derive(Clone)]
pub struct Report {
    pub healthy: bool,
    pub body: serde_json::Value,
}

/// The health answer of the last second, or a new one: its store probe writes and flushes, and
/// anyone may ask as often as the client limit allows.
pub async fn report(state: &AppStateInner) -> Report {
    state.health.get_or(|| check_health(state)).await
}

/// `Ok` while the accept loop runs and the stores are usable; else why not.
pub async fn readiness(state: &AppStateInner) -> Result<(), String> {
    match state.lifecycle.phase() {
        Phase::Starting => Err("starting".to_owned()),
        Phase::Draining => Err("shutting down (finishing the requests in flight)".to_owned()),
        Phase::Serving => {
            let report = report(state).await;
            if report.healthy {
                Ok(())
            } else {
                Err(failing_stores(&report.body))
            }
        }
    }
}

/// Milliseconds since `started`, to the microsecond (0.137, not 0.13725400000000001).
fn latency_ms(started: Instant) -> f64 {
    started.elapsed().as_micros() as f64 / 1000.0
}

fn check(result: Result<(), String>, started: Instant) -> (bool, serde_json::Value) {
    let latency_ms = latency_ms(started);
    match result {
        Ok(()) => (true, json!({"status": OK, "latency_ms": latency_ms})),
        Err(error) => (
            false,
            json!({"status": FAILING, "latency_ms": latency_ms, "error": error}),
        ),
    }
}

/// The cache's check. A shared store (Redis) that is away is "degraded", not failing: requests
/// go to TMDB meanwhile and the store reconnects by itself.
async fn cache_check(state: &AppStateInner) -> (bool, bool, serde_json::Value) {
    let started = Instant::now();
    let backend = state.cache.backend();
    let (ok, degraded, mut value) = match state.cache.health().await {
        Err(crate::cache::CacheError::Unavailable(error)) => (
            true,
            true,
            json!({
                "status": DEGRADED,
                "latency_ms": latency_ms(started),
                "error": error,
            }),
        ),
        result => {
            let (ok, value) = check(result.map_err(|e| e.to_string()), started);
            (ok, false, value)
        }
    };
    value["backend"] = json!(backend);
    if let Some(topology) = state.cache.topology() {
        value["topology"] = json!(topology);
    }
    (ok, degraded, value)
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

/// Runs every check once: whether the service is healthy and the body `/health/` answers.
async fn check_health(state: &AppStateInner) -> Report {
    let (cache_ok, degraded, cache) = cache_check(state).await;
    let started = Instant::now();
    let db = state.accounts.db();
    let (db_ok, mut database) = check(db.ping().await.map_err(|e| e.to_string()), started);
    database["backend"] = json!(db.backend());
    let tmdb = if state.movies.is_offline() {
        json!({"status": OFFLINE})
    } else {
        let breaker = state.movies.tmdb().budget().breaker_state();
        json!({
            "status": if breaker == crate::tmdb::budget::BreakerState::Closed { OK } else { DEGRADED },
            "breaker": breaker,
            // The base URL requests go to now (the next one while a failing host is passed over).
            "host": state.movies.tmdb().hosts().in_use(),
        })
    };
    let failing = state.components.failing();
    let components = if failing.is_empty() {
        json!({"status": OK})
    } else {
        json!({"status": FAILING, "failing": failing})
    };
    let degraded = degraded || !failing.is_empty();
    let healthy = cache_ok && db_ok;
    if !healthy {
        tracing::warn!(%cache, %database, %components, "health check failing");
    }
    Report {
        healthy,
        body: json!({
            "status": match (healthy, degraded) {
                (false, _) => UNHEALTHY,
                (true, true) => DEGRADED,
                (true, false) => HEALTHY,
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
    }
}
