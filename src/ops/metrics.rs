//! The `/metrics` text: what was recorded (`measure`), with the values that are read at scrape
//! time rather than recorded (counters, store and hot-tier sizes, the breaker, uptime) and the
//! process's own figures.

use crate::service::state::Gauges;

/// The text exposition.
pub fn render(gauges: &Gauges) -> String {
    // Installed before anything is recorded below, or the first scrape would lose it.
    let handle = crate::measure::handle();
    let c = &gauges.counters;
    for (name, value) in [
        ("reelcache_coalesced_requests_total", c.coalesced),
        ("reelcache_shared_fills_total", c.shared_fills),
        ("reelcache_upstream_retries_total", c.retries),
        ("reelcache_upstream_failovers_total", c.upstream_failovers),
        ("reelcache_prefetches_total", c.prefetches),
        ("reelcache_prefetches_previous_total", c.prefetches_previous),
        (
            "reelcache_refreshed_with_previous_page_total",
            c.refreshed_with_previous_page,
        ),
        ("reelcache_revalidations_total", c.revalidations),
        ("reelcache_evictions_total", c.evictions),
        ("reelcache_swept_entries_total", c.swept),
        ("reelcache_corrupt_entries_total", c.corrupt_entries),
        ("reelcache_negative_entries_stored_total", c.negative_stored),
        (
            "reelcache_rate_limited_requests_total",
            c.client_rate_limited,
        ),
        ("reelcache_hot_hits_total", c.hot_hits),
        ("reelcache_stored_raw_bytes_total", c.bytes_raw),
        ("reelcache_stored_compressed_bytes_total", c.bytes_stored),
    ] {
        metrics::counter!(name).absolute(value);
    }
    let ahead = &gauges.refresh_ahead;
    for (event, n) in [
        ("ran", ahead.ran),
        ("skipped_for_budget", ahead.skipped_for_budget),
        ("spared", ahead.spared),
        ("failed", ahead.failed),
    ] {
        metrics::counter!("reelcache_refresh_ahead_total", "event" => event).absolute(n);
    }
    let dynamic = &gauges.dynamic_ttl;
    for (change, n) in [
        ("lengthened", dynamic.lengthened),
        ("shortened", dynamic.shortened),
    ] {
        metrics::counter!("reelcache_dynamic_ttl_total", "change" => change).absolute(n);
    }
    let feed = &gauges.change_feed;
    for (result, n) in [("ok", feed.polls), ("failed", feed.failures)] {
        metrics::counter!("reelcache_change_feed_polls_total", "result" => result).absolute(n);
    }
    for (action, n) in [
        ("invalidated", feed.invalidated),
        ("refreshed", feed.refreshed),
    ] {
        metrics::counter!("reelcache_change_feed_entries_total", "action" => action).absolute(n);
    }
    metrics::gauge!("reelcache_store_bytes").set(gauges.store_bytes as f64);
    metrics::gauge!("reelcache_store_entries").set(gauges.store_entries as f64);
    metrics::gauge!("reelcache_store_max_bytes").set(gauges.store_max_bytes as f64);
    metrics::gauge!("reelcache_hot_tier_entries").set(gauges.hot_entries as f64);
    metrics::gauge!("reelcache_hot_tier_bytes").set(gauges.hot_bytes as f64);
    metrics::gauge!("reelcache_upstream_breaker_open").set(gauges.breaker_open);
    metrics::gauge!("reelcache_uptime_seconds").set(gauges.uptime.as_secs_f64());
    if let Some((used, max)) = gauges.redis_memory {
        metrics::gauge!("reelcache_redis_used_memory_bytes").set(used as f64);
        metrics::gauge!("reelcache_redis_maxmemory_bytes").set(max as f64);
    }
    if let Some(pool) = gauges.db_pool {
        for (state, n) in [
            ("open", pool.size),
            ("idle", pool.available),
            ("max", pool.max_size),
        ] {
            metrics::gauge!("reelcache_db_pool_connections", "state" => state).set(n as f64);
        }
        metrics::gauge!("reelcache_db_pool_waiting").set(pool.waiting as f64);
    }
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        metrics::gauge!("reelcache_runtime_workers").set(runtime.metrics().num_workers() as f64);
    }
    handle.run_upkeep();
    let mut text = handle.render();
    super::process_metrics::render(&mut text);
    text
}
