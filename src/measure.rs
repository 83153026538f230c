//! Prometheus metrics through the `metrics` facade and its Prometheus exporter: request counts and
//! latency by route and status, cache outcomes by namespace, upstream calls by outcome with
//! latency, and, read at scrape time, the process counters and the store's size. Every family is
//! described once in [`FAMILIES`], which gives each its `# HELP` line.

use std::cell::RefCell;
use std::sync::OnceLock;

use metrics::{Counter, Histogram};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rustc_hash::FxHashMap;

/// Latency buckets in seconds: a hit is well under a millisecond, TMDB takes tens to hundreds.
const BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every family reelcache records, with its type and its `# HELP` text. A test holds the source
/// to this list, so a new metric cannot be scraped without an explanation.
const FAMILIES: &[(&str, Kind, &str)] = &[
    (
        "reelcache_build_info",
        Kind::Gauge,
        "Always 1; the labels say which reelcache this is",
    ),
    (
        "reelcache_http_requests_total",
        Kind::Counter,
        "HTTP requests answered, by route pattern, method, status and door (fast: a hot-tier \
         hit answered before warp's filters; full: the filter chain)",
    ),
    (
        "reelcache_http_request_duration_seconds",
        Kind::Histogram,
        "Time to answer an HTTP request, by route pattern",
    ),
    (
        "reelcache_cache_requests_total",
        Kind::Counter,
        "Movie requests by cache namespace and outcome (HIT, MISS, STALE, BYPASS)",
    ),
    (
        "reelcache_upstream_requests_total",
        Kind::Counter,
        "TMDB calls by outcome",
    ),
    (
        "reelcache_upstream_request_duration_seconds",
        Kind::Histogram,
        "Duration of one TMDB call, by outcome",
    ),
    (
        "reelcache_upstream_retries_total",
        Kind::Counter,
        "TMDB attempts repeated after a retryable failure",
    ),
    (
        "reelcache_upstream_failovers_total",
        Kind::Counter,
        "TMDB requests handed to the next base URL because one could not be reached",
    ),
    (
        "reelcache_upstream_breaker_open",
        Kind::Gauge,
        "The TMDB circuit breaker: 0 closed, 0.5 half-open (probing), 1 open",
    ),
    (
        "reelcache_coalesced_requests_total",
        Kind::Counter,
        "Requests that waited for another request's TMDB fetch instead of making their own",
    ),
    (
        "reelcache_shared_fills_total",
        Kind::Counter,
        "Misses answered by another instance's fetch through the shared cache",
    ),
    (
        "reelcache_prefetches_total",
        Kind::Counter,
        "Next pages fetched in the background",
    ),
    (
        "reelcache_prefetches_previous_total",
        Kind::Counter,
        "Previous pages fetched in the background after a jump into the middle of a list",
    ),
    (
        "reelcache_refreshed_with_previous_page_total",
        Kind::Counter,
        "List pages refreshed ahead with the page before them, which readers go on to",
    ),
    (
        "reelcache_revalidations_total",
        Kind::Counter,
        "Background refreshes of stale entries",
    ),
    (
        "reelcache_evictions_total",
        Kind::Counter,
        "Entries removed to keep the store under its size bound",
    ),
    (
        "reelcache_swept_entries_total",
        Kind::Counter,
        "Entries removed because they were past expiry and the stale grace",
    ),
    (
        "reelcache_corrupt_entries_total",
        Kind::Counter,
        "Entries that failed to decode or whose checksum did not match, removed",
    ),
    (
        "reelcache_hot_hits_total",
        Kind::Counter,
        "Hits answered from the hot tier's finished bodies (the rest were decompressed)",
    ),
    (
        "reelcache_refresh_ahead_total",
        Kind::Counter,
        "Refresh-ahead: refreshes run, skipped for the budget, failed, and reads they spared",
    ),
    (
        "reelcache_dynamic_ttl_total",
        Kind::Counter,
        "Refreshes whose entry was kept longer (unchanged) or shorter (changed)",
    ),
    (
        "reelcache_change_feed_polls_total",
        Kind::Counter,
        "Polls of TMDB's change list, by result",
    ),
    (
        "reelcache_change_feed_entries_total",
        Kind::Counter,
        "Entries the change feed dropped or refreshed",
    ),
    (
        "reelcache_negative_entries_stored_total",
        Kind::Counter,
        "Negative entries stored: TMDB answered 404 (its status_code 34) for a movie id",
    ),
    (
        "reelcache_rate_limited_requests_total",
        Kind::Counter,
        "Requests refused by the per-client rate limiter",
    ),
    (
        "reelcache_stored_raw_bytes_total",
        Kind::Counter,
        "JSON bytes written to the cache, before compression",
    ),
    (
        "reelcache_stored_compressed_bytes_total",
        Kind::Counter,
        "Bytes stored for them, after compression",
    ),
    (
        "reelcache_store_bytes",
        Kind::Gauge,
        "Bytes the cache store holds",
    ),
    (
        "reelcache_store_entries",
        Kind::Gauge,
        "Entries the cache store holds",
    ),
    (
        "reelcache_store_max_bytes",
        Kind::Gauge,
        "The store's size bound (0 with Redis, which bounds itself)",
    ),
    (
        "reelcache_hot_tier_entries",
        Kind::Gauge,
        "Finished bodies held in the in-memory hot tier",
    ),
    (
        "reelcache_hot_tier_bytes",
        Kind::Gauge,
        "Bytes held in the in-memory hot tier",
    ),
    (
        "reelcache_redis_used_memory_bytes",
        Kind::Gauge,
        "Memory the shared Redis reports in use",
    ),
    (
        "reelcache_redis_maxmemory_bytes",
        Kind::Gauge,
        "The shared Redis's maxmemory (0: unbounded)",
    ),
    (
        "reelcache_connections_open",
        Kind::Gauge,
        "Client connections open now",
    ),
    (
        "reelcache_connections_shed_total",
        Kind::Counter,
        "Connections refused at accept over a limit (total or per_client)",
    ),
    (
        "reelcache_password_hash_shed_total",
        Kind::Counter,
        "Logins and registrations refused because every password-hashing slot stayed busy",
    ),
    (
        "reelcache_db_query_duration_seconds",
        Kind::Histogram,
        "Time one account-database operation took, by backend (sqlite, postgres)",
    ),
    (
        "reelcache_db_pool_wait_seconds",
        Kind::Histogram,
        "Time waited for a PostgreSQL connection from the pool (connecting included)",
    ),
    (
        "reelcache_db_pool_connections",
        Kind::Gauge,
        "PostgreSQL connections of this instance's pool, by state (open, idle, max)",
    ),
    (
        "reelcache_db_pool_waiting",
        Kind::Gauge,
        "Requests waiting for a PostgreSQL connection now",
    ),
    (
        "reelcache_uptime_seconds",
        Kind::Gauge,
        "Seconds since this server started",
    ),
    (
        "reelcache_runtime_workers",
        Kind::Gauge,
        "Threads of the async runtime serving requests",
    ),
];

/// The build's labels: the version and whether it is an optimised build (a debug build is
/// several times slower, which is worth seeing on a dashboard).
fn record_build_info() {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    metrics::gauge!(
        "reelcache_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "profile" => profile,
    )
    .set(1.0);
}

/// The process-wide recorder, installed on first use with every family described. Metrics
/// describe the process, so every application in it (tests run several) shares them.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .expect("non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
        }
        for (name, kind, help) in FAMILIES {
            match kind {
                Kind::Counter => metrics::describe_counter!(*name, *help),
                Kind::Gauge => metrics::describe_gauge!(*name, *help),
                Kind::Histogram => metrics::describe_histogram!(*name, *help),
            }
        }
        record_build_info();
        handle
    })
}

/// Folds recorded histogram samples into their buckets every few seconds until `stop`. The
/// recorder keeps each sample until then: without this, a server nobody scrapes would hold
/// every request's duration (8 bytes a request, without bound).
pub async fn upkeep(stop: impl std::future::Future<Output = ()>) {
    let mut every = tokio::time::interval(UPKEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = every.tick() => handle().run_upkeep(),
            () = &mut stop => return,
        }
    }
}

const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Counts one cache outcome (`HIT`, `MISS`, `STALE`, `BYPASS`) for a namespace (a static
/// label: `CacheKey::namespace_label` keeps the values bounded).
pub fn cache_outcome(namespace: &'static str, outcome: &'static str) {
    thread_local! {
        static HANDLES: RefCell<FxHashMap<[LabelAt; 2], Counter>> =
            RefCell::new(FxHashMap::default());
    }
    HANDLES.with_borrow_mut(|handles| {
        handles
            .entry([address(namespace), address(outcome)])
            .or_insert_with(|| {
                handle();
                metrics::counter!(
                    "reelcache_cache_requests_total",
                    "namespace" => namespace,
                    "outcome" => outcome
                )
            })
            .increment(1);
    });
}

/// Counts one TMDB call and its duration.
pub fn upstream_call(outcome: &'static str, seconds: f64) {
    metrics::counter!("reelcache_upstream_requests_total", "outcome" => outcome).increment(1);
    metrics::histogram!("reelcache_upstream_request_duration_seconds", "outcome" => outcome)
        .record(seconds);
}

/// How many client connections are open (set by the accept loop as they open and close, so
/// the handle is made once rather than looked up per connection).
pub fn connections_open(open: usize) {
    static GAUGE: OnceLock<metrics::Gauge> = OnceLock::new();
    GAUGE
        .get_or_init(|| {
            handle();
            metrics::gauge!("reelcache_connections_open")
        })
        .set(open as f64);
}

/// Counts one connection refused over a limit (`total` or `per_client`).
pub fn connection_shed(limit: &'static str) {
    handle();
    metrics::counter!("reelcache_connections_shed_total", "limit" => limit).increment(1);
}

/// Records one account-database operation's time.
pub fn db_query(backend: &'static str, took: std::time::Duration) {
    handle();
    metrics::histogram!("reelcache_db_query_duration_seconds", "backend" => backend)
        .record(took.as_secs_f64());
}

/// Records how long a caller waited for a PostgreSQL connection.
pub fn db_wait(took: std::time::Duration) {
    handle();
    metrics::histogram!("reelcache_db_pool_wait_seconds").record(took.as_secs_f64());
}

/// Counts one login or registration refused because every hashing slot stayed busy.
pub fn hash_shed() {
    handle();
    metrics::counter!("reelcache_password_hash_shed_total").increment(1);
}

/// Where a static label lives and how long it is: a cheap map key. Two copies of one string at
/// two addresses only make two handles on the same metric (the recorder matches by name and
/// labels).
fn address(label: &'static str) -> LabelAt {
    (label.as_ptr() as usize, label.len())
}

/// A static label's address and length.
type LabelAt = (usize, usize);

/// Counts one HTTP request and its duration. Runs on every request, so the metric handles are
/// kept per thread once made, keyed by their labels' addresses: finding a handle in the
/// recorder's registry (hashing and comparing its name and labels) costs several times what
/// recording does. Labels are static strings from bounded sets, so the maps stay small.
pub fn http_request(
    route: &'static str,
    method: &str,
    status: u16,
    door: &'static str,
    seconds: f64,
) {
    let method = method_label(method);
    let status = status_label(status);
    thread_local! {
        static COUNTERS: RefCell<FxHashMap<[LabelAt; 4], Counter>> =
            RefCell::new(FxHashMap::default());
        static HISTOGRAMS: RefCell<FxHashMap<LabelAt, Histogram>> =
            RefCell::new(FxHashMap::default());
    }
    COUNTERS.with_borrow_mut(|counters| {
        counters
            .entry([
                address(route),
                address(method),
                address(status),
                address(door),
            ])
            .or_insert_with(|| {
                handle();
                metrics::counter!(
                    "reelcache_http_requests_total",
                    "route" => route,
                    "method" => method,
                    "status" => status,
                    "door" => door
                )
            })
            .increment(1);
    });
    HISTOGRAMS.with_borrow_mut(|histograms| {
        histograms
            .entry(address(route))
            .or_insert_with(|| {
                handle();
                metrics::histogram!("reelcache_http_request_duration_seconds", "route" => route)
            })
            .record(seconds);
    });
}

/// The methods the API knows by name; anything else (clients can send any token) is `other`,
/// which keeps the label set bounded.
fn method_label(method: &str) -> &'static str {
    const KNOWN: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    KNOWN
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("other")
}

/// `"200"`, `"404"`, ...: the three-digit codes as static strings, made once.
fn status_label(status: u16) -> &'static str {
    static LABELS: OnceLock<Vec<&'static str>> = OnceLock::new();
    let labels = LABELS.get_or_init(|| {
        (100..600u16)
            .map(|code| &*Box::leak(code.to_string().into_boxed_str()))
            .collect()
    });
    status
        .checked_sub(100)
        .and_then(|i| labels.get(usize::from(i)))
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_labels_are_bounded() {
        assert_eq!(status_label(200), "200");
        assert_eq!(status_label(599), "599");
        assert_eq!(status_label(42), "other");
        assert_eq!(status_label(600), "other");
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("BREW"), "other");
    }

    /// Every `reelcache_*` name in the source is described in `FAMILIES`: a family appears in a
    /// scrape only once recorded, so scraping alone cannot catch a rare one without its `# HELP`.
    #[test]
    fn every_recorded_family_is_described() {
        fn names_in(dir: &std::path::Path, found: &mut std::collections::BTreeSet<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    names_in(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (at, _) in text.match_indices("\"reelcache_") {
                        let name: String = text[at + 1..]
                            .chars()
                            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                            .collect();
                        found.insert(name);
                    }
                }
            }
        }
        let mut found = std::collections::BTreeSet::new();
        names_in(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        let described: std::collections::BTreeSet<String> = FAMILIES
            .iter()
            .map(|(name, ..)| (*name).to_owned())
            .collect();
        // Names that are not metric families (the Redis key prefix and the like).
        found.retain(|name| !name.ends_with('_') && name != "reelcache_");
        assert_eq!(found, described);
    }
}
