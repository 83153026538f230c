//! The slowest routes, for the staff statistics (and the dashboard): read from the request
//! duration histograms `/metrics` exposes, so nothing more is recorded on any request's path.

use serde::Serialize;

const FAMILY: &str = "reelcache_http_request_duration_seconds";

/// One route's requests and latency since start.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RouteLatency {
    pub route: String,
    pub requests: u64,
    pub mean_ms: f64,
    /// The histogram bucket bound at or under which 99 % of its requests finished.
    pub p99_ms_at_most: f64,
}

#[derive(Default)]
struct Sums {
    buckets: Vec<(f64, u64)>,
    sum: f64,
    count: u64,
}

/// The value of `name="..."` in a label set.
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let end = labels[start..].find('"')? + start;
    Some(&labels[start..end])
}

/// Routes by their 99th percentile, slowest first, at most `n`, from the exposition `text`.
pub fn slowest(text: &str, n: usize) -> Vec<RouteLatency> {
    let mut routes: std::collections::BTreeMap<String, Sums> = Default::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(FAMILY) else {
            continue;
        };
        let Some((series, value)) = rest.rsplit_once(' ') else {
            continue;
        };
        let Some((kind, labels)) = series.split_once('{') else {
            continue;
        };
        let Some(route) = label(labels, "route") else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let sums = routes.entry(route.to_owned()).or_default();
        match kind {
            "_bucket" => {
                if let Some(le) = label(labels, "le").and_then(|le| le.parse::<f64>().ok()) {
                    sums.buckets.push((le, value as u64));
                }
            }
            "_sum" => sums.sum = value,
            "_count" => sums.count = value as u64,
            _ => {}
        }
    }
    let mut out: Vec<RouteLatency> = routes
        .into_iter()
        .filter(|(_, s)| s.count > 0)
        .map(|(route, mut s)| {
            s.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            let wanted = (s.count as f64 * 0.99).ceil() as u64;
            let p99 = s
                .buckets
                .iter()
                .find(|(_, cumulative)| *cumulative >= wanted)
                .map_or(f64::INFINITY, |(le, _)| *le);
            RouteLatency {
                route,
                requests: s.count,
                mean_ms: s.sum / s.count as f64 * 1000.0,
                p99_ms_at_most: if p99.is_finite() { p99 * 1000.0 } else { -1.0 },
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.p99_ms_at_most
            .total_cmp(&a.p99_ms_at_most)
            .then(b.mean_ms.total_cmp(&a.mean_ms))
    });
    out.truncate(n);
    out
}

/// The slowest routes of this process.
pub fn current(n: usize) -> Vec<RouteLatency> {
    slowest(&crate::measure::handle().render(), n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_percentiles_from_the_histograms() {
        let text = "\
# TYPE reelcache_http_request_duration_seconds histogram
reelcache_http_request_duration_seconds_bucket{route=\"/a\",le=\"0.001\"} 90
reelcache_http_request_duration_seconds_bucket{route=\"/a\",le=\"0.01\"} 99
reelcache_http_request_duration_seconds_bucket{route=\"/a\",le=\"+Inf\"} 100
reelcache_http_request_duration_seconds_sum{route=\"/a\"} 0.2
reelcache_http_request_duration_seconds_count{route=\"/a\"} 100
reelcache_http_request_duration_seconds_bucket{route=\"/b\",le=\"0.001\"} 10
reelcache_http_request_duration_seconds_bucket{route=\"/b\",le=\"0.5\"} 10
reelcache_http_request_duration_seconds_bucket{route=\"/b\",le=\"+Inf\"} 10
reelcache_http_request_duration_seconds_sum{route=\"/b\"} 0.005
reelcache_http_request_duration_seconds_count{route=\"/b\"} 10
reelcache_http_requests_total{route=\"/c\"} 5
";
        let routes = slowest(text, 5);
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].route, "/a");
        assert_eq!(routes[0].requests, 100);
        assert!((routes[0].p99_ms_at_most - 10.0).abs() < 1e-9);
        assert!((routes[0].mean_ms - 2.0).abs() < 1e-9);
        assert!((routes[1].p99_ms_at_most - 1.0).abs() < 1e-9);
        assert_eq!(slowest(text, 1).len(), 1);
    }
}
