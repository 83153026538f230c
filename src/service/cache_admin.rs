//! Cache statistics and clearing, shared by the staff endpoint, the admin socket and the
//! command line. Users and favorites live in SQLite and are never touched here.

use serde::Serialize;
use serde_json::{Value, json};

use crate::cache::{CacheKey, key};
use crate::error::ApiError;
use crate::service::state::AppState;

/// What `?namespace=images` clears: the image cache.
pub const IMAGES: &str = "images";

/// The namespaces a clear accepts (`?namespace=`), for the OpenAPI document: the page cache's
/// and the image cache.
pub const CLEARABLE_NAMESPACES: &[&str] = &[
    key::TRENDING,
    key::RECOMMENDED,
    key::MOVIE,
    key::POPULAR,
    key::SEARCH,
    key::USER,
    IMAGES,
];

/// The pattern a key a clear accepts (`?key=`) matches, for the OpenAPI document: the one the
/// clear enforces.
pub fn clearable_key_pattern() -> String {
    key::shape_pattern()
}

/// The namespaces `POST /api/utils/cache/refresh/?namespace=` takes: the cached endpoints'.
pub const REFRESHABLE_NAMESPACES: &[&str] = &[key::TRENDING, key::RECOMMENDED, key::MOVIE];

/// Whether `stored` is a key of `namespace`.
pub fn key_in_namespace(stored: &str, namespace: &str) -> bool {
    key::namespace_of(stored) == namespace
}

/// The staff endpoint's `data`: store sizes and the process counters.
pub async fn stats(state: &AppState) -> Result<Value, ApiError> {
    let store = state
        .cache
        .stats()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let c = state.counters.snapshot();
    let lookups = c.hits + c.stale + c.misses;
    let hit_ratio = if lookups == 0 {
        0.0
    } else {
        (c.hits + c.stale) as f64 / lookups as f64
    };
    Ok(json!({
        "backend": store.backend,
        "redis": store.redis,
        "namespaces": store.namespaces,
        "entries": store.entries,
        "stored_bytes": store.stored_bytes,
        "raw_bytes": store.raw_bytes,
        "compression_ratio": store.compression_ratio,
        "disk_bytes": store.disk_bytes,
        "max_bytes": state.cache.usage().max_bytes(),
        "hits": c.hits,
        "misses": c.misses,
        "stale_hits": c.stale,
        "bypasses": c.bypasses,
        "hit_ratio": hit_ratio,
        "upstream_calls": c.upstream_calls,
        "upstream_errors": c.upstream_errors,
        "coalesced_requests": c.coalesced,
        "shared_fills": c.shared_fills,
        "retries": c.retries,
        "upstream_failovers": c.upstream_failovers,
        "upstream_host": state.movies.tmdb().hosts().in_use(),
        "prefetches": c.prefetches,
        "prefetches_previous": c.prefetches_previous,
        "refreshed_with_previous_page": c.refreshed_with_previous_page,
        "revalidations": c.revalidations,
        "evictions": c.evictions,
        "swept": c.swept,
        "client_rate_limited": c.client_rate_limited,
        "corrupt_entries": c.corrupt_entries,
        "dynamic_ttl": state.movies.dynamic_ttl_stats(),
        "refresh_ahead": state.movies.refresh_ahead_stats(),
        "change_feed": state.change_feed.stats(),
        "analytics": analytics(state, &c),
        "negative": {
            "stored": c.negative_stored,
            "hits": c.negative_hits,
        },
        "images": images(state, &c),
        "slowest_routes": crate::service::route_latency::current(8),
        "breaker_state": state.movies.tmdb().budget().breaker_state(),
        "upstream_busy": state.movies.tmdb().budget().is_busy(),
        "offline": state.movies.is_offline(),
        "uptime_seconds": state.started.elapsed().as_secs(),
    }))
}

/// The image cache: its files, its counters, where images come from.
fn images(state: &AppState, c: &crate::counters::CounterSnapshot) -> Value {
    json!({
        "store": state.images.stats(),
        "hits": c.image_hits,
        "misses": c.image_misses,
        "coalesced": c.image_coalesced,
        "upstream_calls": c.image_upstream_calls,
        "upstream_errors": c.image_upstream_errors,
        "base_url": state.images.base_url(),
        "breaker_state": state.movies.tmdb().image_budget().breaker_state(),
    })
}

/// History per namespace, calls saved per mechanism, and recommendations.
fn analytics(state: &AppState, c: &crate::counters::CounterSnapshot) -> Value {
    let history = state.movies.history();
    let ahead = state.movies.refresh_ahead_stats();
    let dynamic_ttl = state.movies.dynamic_ttl_stats();
    let inputs = crate::service::analytics::Inputs {
        counters: c,
        last_hour: &history.last_hour,
        ahead: &ahead,
        dynamic_ttl: &dynamic_ttl,
        feed_enabled: state.change_feed.stats().enabled,
        offline: state.movies.is_offline(),
        hot_bytes_max: state.cache.hot().max_bytes(),
        store_max_bytes: state.cache.usage().max_bytes(),
    };
    let by_namespace = |span: &[(&'static str, crate::service::movies::Counts)]| {
        span.iter()
            .map(|(ns, counts)| ((*ns).to_owned(), json!(counts)))
            .collect::<serde_json::Map<String, Value>>()
    };
    json!({
        "last_hour": by_namespace(&history.last_hour),
        "last_day": by_namespace(&history.last_day),
        "per_minute": history
            .per_minute
            .iter()
            .map(|(ns, series)| ((*ns).to_owned(), json!(series)))
            .collect::<serde_json::Map<String, Value>>(),
        "tmdb_calls_saved": crate::service::analytics::calls_saved(&inputs),
        "recommendations": crate::service::analytics::recommendations(&inputs),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Cleared {
    pub removed: u64,
    pub message: String,
}

/// Clears everything, one namespace, or one key (given with a namespace: only if it is in it).
pub async fn clear(
    state: &AppState,
    namespace: Option<&str>,
    key: Option<&str>,
) -> Result<Cleared, ApiError> {
    let internal = |e: crate::cache::CacheError| ApiError::Internal(e.to_string());
    if let Some(ns) = namespace
        && !CLEARABLE_NAMESPACES.contains(&ns)
    {
        return Err(ApiError::validation(
            "namespace",
            format!(
                "namespace must be one of: {}",
                CLEARABLE_NAMESPACES.join(", ")
            ),
        ));
    }
    if namespace == Some(IMAGES) {
        // Images are cleared as a whole. A key narrows the clear as it does for any namespace,
        // and no page-cache key is in this one: nothing is cleared (as a key outside its
        // namespace clears nothing).
        if let Some(k) = key {
            return Ok(Cleared {
                removed: 0,
                message: format!("Cleared key {k} in namespace images (no image has a key)"),
            });
        }
        let removed = state.images.clear().await?;
        tracing::info!(removed, "image cache cleared");
        return Ok(Cleared {
            removed,
            message: "Cleared namespace images".to_owned(),
        });
    }
    // A key no namespace can hold is a typo, not an entry that happened to be absent.
    if let Some(k) = key
        && !key::is_shaped(k)
    {
        return Err(ApiError::validation(
            "key",
            format!(
                "key must be <namespace>:<rest> with a namespace of: {}",
                key::NAMESPACES.join(", ")
            ),
        ));
    }
    let (removed, what) = match (namespace, key) {
        // Both: the entries that are that key *and* in that namespace (the two narrow the
        // clear together, as any two filters do), so a key outside it clears nothing.
        (Some(ns), Some(k)) => {
            let removed = match k.strip_prefix(ns).and_then(|rest| rest.strip_prefix(':')) {
                Some(_) => state
                    .cache
                    .try_remove(&CacheKey::from_stored(k.to_owned()))
                    .await
                    .map_err(internal)?,
                None => false,
            };
            (u64::from(removed), format!("key {k} in namespace {ns}"))
        }
        (Some(ns), None) => {
            let removed = state
                .cache
                .clear_prefix(&format!("{ns}:"))
                .await
                .map_err(internal)?;
            (removed, format!("namespace {ns}"))
        }
        (None, Some(k)) => {
            let removed = state
                .cache
                .try_remove(&CacheKey::from_stored(k.to_owned()))
                .await
                .map_err(internal)?;
            (u64::from(removed), format!("key {k}"))
        }
        (None, None) => {
            let removed = state.cache.clear_prefix("").await.map_err(internal)?;
            let images = state.images.clear().await?;
            (removed + images, "every cache entry and image".to_owned())
        }
    };
    tracing::info!(removed, what, "cache cleared");
    Ok(Cleared {
        removed,
        message: format!("Cleared {what}"),
    })
}
