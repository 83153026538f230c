//! The staff statistics' `analytics`: what the cache did per namespace over the last hour and
//! day, the TMDB calls each mechanism saved, and plain-language recommendations computed from
//! those numbers (each with the numbers that triggered it and the setting to change).

use serde::Serialize;

use crate::counters::CounterSnapshot;
use crate::service::movies::{AheadStats, Counts, DynamicTtlStats};

/// Below this many answers in the last hour, shares say nothing.
const ENOUGH: u64 = 100;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub code: &'static str,
    pub message: String,
}

/// TMDB calls each mechanism saved since start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CallsSaved {
    /// Requests answered from the cache (fresh or stale): each would have been a call.
    pub cache: u64,
    /// Requests that joined another's fetch.
    pub coalesced: u64,
    /// Requests for a missing movie answered from a negative entry.
    pub negative_entries: u64,
    /// Fixed-TTL refetches the dynamic TTLs avoided, less the extra ones they caused (an
    /// estimate: see `dynamic_ttl`).
    pub dynamic_ttl: f64,
    /// Reads refresh-ahead spared a stale answer or a miss (not calls saved: calls made earlier).
    pub refresh_ahead_spared: u64,
}

/// What the recommendations are computed from.
pub struct Inputs<'a> {
    pub counters: &'a CounterSnapshot,
    pub last_hour: &'a [(&'static str, Counts)],
    pub ahead: &'a AheadStats,
    pub dynamic_ttl: &'a DynamicTtlStats,
    pub feed_enabled: bool,
    pub offline: bool,
    pub hot_bytes_max: u64,
    pub store_max_bytes: u64,
}

pub fn calls_saved(inputs: &Inputs<'_>) -> CallsSaved {
    let c = inputs.counters;
    CallsSaved {
        cache: c.hits + c.stale,
        coalesced: c.coalesced,
        negative_entries: c.negative_hits,
        dynamic_ttl: inputs.dynamic_ttl.calls_saved - inputs.dynamic_ttl.calls_spent,
        refresh_ahead_spared: inputs.ahead.spared,
    }
}

fn percent(part: u64, whole: u64) -> u64 {
    (part * 100).checked_div(whole).unwrap_or(0)
}

pub fn recommendations(inputs: &Inputs<'_>) -> Vec<Recommendation> {
    let c = inputs.counters;
    let mut out = Vec::new();
    let hour = inputs
        .last_hour
        .iter()
        .fold(Counts::default(), |sum, (_, n)| sum.plus(n));
    let cached = hour.hit + hour.stale + hour.miss;
    // Offline every answer is an old copy, by design: nothing to tune there.
    if !inputs.offline && inputs.hot_bytes_max > 0 && c.hits >= ENOUGH {
        let decompressed = percent(c.hits - c.hot_hits.min(c.hits), c.hits);
        if decompressed > 25 {
            out.push(Recommendation {
                code: "hot_tier_small",
                message: format!(
                    "The hot tier is too small for the working set: {decompressed} % of hits were \
                     decompressed from the store. Raise REELCACHE_CACHE_HOT_BYTES (now {} MiB).",
                    inputs.hot_bytes_max >> 20
                ),
            });
        }
    }
    if !inputs.offline && cached >= ENOUGH && percent(hour.stale, cached) > 5 {
        let stale = percent(hour.stale, cached);
        let message = if inputs.ahead.skipped_for_budget > 0 || !inputs.ahead.enabled {
            format!(
                "{stale} % of cached answers in the last hour were stale copies, and \
                 refresh-ahead {}: raise REELCACHE_REFRESH_AHEAD_BUDGET (now {} a minute).",
                if inputs.ahead.enabled {
                    format!(
                        "skipped {} due refreshes for its budget",
                        inputs.ahead.skipped_for_budget
                    )
                } else {
                    "is off".to_owned()
                },
                inputs.ahead.budget_per_minute
            )
        } else {
            format!(
                "{stale} % of cached answers in the last hour were stale copies of entries read \
                 too seldom to be refreshed ahead: longer TTLs (REELCACHE_TTL_*) would keep them."
            )
        };
        out.push(Recommendation {
            code: "stale_answers",
            message,
        });
    }
    let d = inputs.dynamic_ttl;
    if !inputs.feed_enabled && d.lengthened >= 10 && d.lengthened >= 4 * d.shortened {
        out.push(Recommendation {
            code: "details_change_seldom",
            message: format!(
                "Refreshed entries came back unchanged {} times out of {}: they are read far \
                 more than they change. TMDB's change feed (REELCACHE_CHANGES_EVERY) would let \
                 details live 7 days and still see every edit within a poll.",
                d.lengthened,
                d.lengthened + d.shortened
            ),
        });
    }
    if c.evictions > 0 {
        out.push(Recommendation {
            code: "store_too_small",
            message: format!(
                "The store evicted {} entries to stay under REELCACHE_CACHE_MAX_BYTES ({} MiB): \
                 raise it to keep the working set.",
                c.evictions,
                inputs.store_max_bytes >> 20
            ),
        });
    }
    if c.upstream_calls >= 20 && percent(c.upstream_errors, c.upstream_calls) > 10 {
        out.push(Recommendation {
            code: "upstream_failing",
            message: format!(
                "{} % of TMDB calls failed ({} of {}): see /health/ and the logs; stale copies \
                 answered where they could.",
                percent(c.upstream_errors, c.upstream_calls),
                c.upstream_errors,
                c.upstream_calls
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters() -> CounterSnapshot {
        crate::counters::Counters::default().snapshot()
    }

    fn ahead(enabled: bool, skipped: u64) -> AheadStats {
        AheadStats {
            enabled,
            budget_per_minute: 60,
            tracked_keys: 0,
            ran: 0,
            skipped_for_budget: skipped,
            spared: 0,
            failed: 0,
        }
    }

    fn dynamic(lengthened: u64, shortened: u64) -> DynamicTtlStats {
        DynamicTtlStats {
            lengthened,
            shortened,
            calls_saved: 0.0,
            calls_spent: 0.0,
        }
    }

    fn codes(inputs: &Inputs<'_>) -> Vec<&'static str> {
        recommendations(inputs)
            .into_iter()
            .map(|r| r.code)
            .collect()
    }

    #[test]
    fn each_rule_speaks_only_when_its_numbers_say_so() {
        let quiet = counters();
        let quiet_hour = [("movie", Counts::default())];
        let (on, d) = (ahead(true, 0), dynamic(0, 0));
        let inputs = Inputs {
            counters: &quiet,
            last_hour: &quiet_hour,
            ahead: &on,
            dynamic_ttl: &d,
            feed_enabled: false,
            offline: false,
            hot_bytes_max: 32 << 20,
            store_max_bytes: 1 << 30,
        };
        assert!(codes(&inputs).is_empty(), "a quiet cache: nothing to say");

        let mut c = counters();
        c.hits = 1000;
        c.hot_hits = 400;
        c.evictions = 3;
        c.upstream_calls = 100;
        c.upstream_errors = 30;
        let stale_hour = [(
            "trending_movies",
            Counts {
                hit: 80,
                stale: 20,
                miss: 10,
                ..Counts::default()
            },
        )];
        let skipping = ahead(true, 7);
        let unchanged = dynamic(40, 2);
        let inputs = Inputs {
            counters: &c,
            last_hour: &stale_hour,
            ahead: &skipping,
            dynamic_ttl: &unchanged,
            ..inputs
        };
        assert_eq!(
            codes(&inputs),
            [
                "hot_tier_small",
                "stale_answers",
                "details_change_seldom",
                "store_too_small",
                "upstream_failing"
            ]
        );
        let all = recommendations(&inputs);
        assert!(all[0].message.contains("60 %"), "{}", all[0].message);
        assert!(all[1].message.contains("skipped 7"), "{}", all[1].message);
        // Offline, old copies are the point: no hot-tier or stale advice.
        let offline = Inputs {
            offline: true,
            feed_enabled: true,
            ..inputs
        };
        assert_eq!(codes(&offline), ["store_too_small", "upstream_failing"]);
    }
}
