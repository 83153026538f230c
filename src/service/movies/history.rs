//! What the cache did over the last hour and the last day, per namespace: bounded ring buffers
//! of counts (60 one-minute buckets, 24 one-hour buckets) on the service's clock. Recording is
//! a few relaxed atomic operations; a bucket is reset by the first count of its new minute or
//! hour (two counts racing at the turn may lose one: these are statistics, not accounts).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::cache::key::NAMESPACES;

/// What is counted, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Hit,
    Stale,
    Miss,
    Bypass,
    Negative,
    RefreshAhead,
}

const EVENTS: usize = 6;
const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;

struct Bucket {
    /// Which minute (or hour) since the epoch the counts are for.
    slot: AtomicU64,
    counts: [AtomicU64; EVENTS],
}

impl Bucket {
    fn new() -> Bucket {
        Bucket {
            slot: AtomicU64::new(u64::MAX),
            counts: Default::default(),
        }
    }

    fn add(&self, slot: u64, event: Event) {
        let seen = self.slot.load(Ordering::Relaxed);
        if seen != slot
            && self
                .slot
                .compare_exchange(seen, slot, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            for count in &self.counts {
                count.store(0, Ordering::Relaxed);
            }
        }
        self.counts[event as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// One ring per namespace.
struct Ring {
    buckets: Box<[Bucket]>,
    width_ms: u64,
}

impl Ring {
    fn new(len: usize, width_ms: u64) -> Ring {
        Ring {
            buckets: (0..len).map(|_| Bucket::new()).collect(),
            width_ms,
        }
    }

    fn add(&self, now_ms: u64, event: Event) {
        let slot = now_ms / self.width_ms;
        self.buckets[(slot % self.buckets.len() as u64) as usize].add(slot, event);
    }

    /// The counts of the buckets within the ring's span before `now_ms`.
    fn sum(&self, now_ms: u64) -> Counts {
        self.series(now_ms)
            .into_iter()
            .fold(Counts::default(), |total, c| total.plus(&c))
    }

    /// Each bucket of the span, oldest first, the current one last (empty where nothing was
    /// counted).
    fn series(&self, now_ms: u64) -> Vec<Counts> {
        let now = now_ms / self.width_ms;
        let len = self.buckets.len() as u64;
        let mut series = vec![Counts::default(); self.buckets.len()];
        for bucket in self.buckets.iter() {
            let slot = bucket.slot.load(Ordering::Relaxed);
            if slot <= now && now - slot < len {
                let c: Vec<u64> = bucket
                    .counts
                    .iter()
                    .map(|c| c.load(Ordering::Relaxed))
                    .collect();
                series[(len - 1 - (now - slot)) as usize] = Counts {
                    hit: c[0],
                    stale: c[1],
                    miss: c[2],
                    bypass: c[3],
                    negative: c[4],
                    refresh_ahead: c[5],
                };
            }
        }
        series
    }
}

/// One namespace's counts over a span.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub hit: u64,
    pub stale: u64,
    pub miss: u64,
    pub bypass: u64,
    pub negative: u64,
    pub refresh_ahead: u64,
}

impl Counts {
    /// Both counts together.
    pub fn plus(&self, o: &Counts) -> Counts {
        Counts {
            hit: self.hit + o.hit,
            stale: self.stale + o.stale,
            miss: self.miss + o.miss,
            bypass: self.bypass + o.bypass,
            negative: self.negative + o.negative,
            refresh_ahead: self.refresh_ahead + o.refresh_ahead,
        }
    }

    /// Requests answered (refreshes ahead are not requests).
    pub fn answers(&self) -> u64 {
        self.hit + self.stale + self.miss + self.bypass + self.negative
    }
}

pub struct History {
    hour: Box<[Ring]>,
    day: Box<[Ring]>,
}

/// Per namespace, over the last hour and the last day.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryStats {
    pub last_hour: Vec<(&'static str, Counts)>,
    pub last_day: Vec<(&'static str, Counts)>,
    /// The last hour minute by minute (60 buckets, oldest first), per namespace that answered
    /// anything in it.
    pub per_minute: Vec<(&'static str, Vec<Counts>)>,
}

impl History {
    pub fn new() -> History {
        History {
            hour: NAMESPACES
                .iter()
                .map(|_| Ring::new(60, MINUTE_MS))
                .collect(),
            day: NAMESPACES.iter().map(|_| Ring::new(24, HOUR_MS)).collect(),
        }
    }

    pub fn add(&self, namespace: &str, now_ms: u64, event: Event) {
        if let Some(i) = NAMESPACES.iter().position(|ns| *ns == namespace) {
            self.hour[i].add(now_ms, event);
            self.day[i].add(now_ms, event);
        }
    }

    pub fn stats(&self, now_ms: u64) -> HistoryStats {
        let spans = |rings: &[Ring]| {
            NAMESPACES
                .iter()
                .zip(rings)
                .map(|(ns, ring)| (*ns, ring.sum(now_ms)))
                .collect()
        };
        let per_minute = NAMESPACES
            .iter()
            .zip(&self.hour)
            .map(|(ns, ring)| (*ns, ring.series(now_ms)))
            .filter(|(_, series)| series.iter().any(|c| c.answers() + c.refresh_ahead > 0))
            .collect();
        HistoryStats {
            last_hour: spans(&self.hour),
            last_day: spans(&self.day),
            per_minute,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_leave_the_hour_after_an_hour_and_the_day_after_a_day() {
        let history = History::new();
        let t0 = 1_000 * HOUR_MS;
        history.add("movie", t0, Event::Hit);
        history.add("movie", t0 + 1, Event::Miss);
        history.add("trending_movies", t0 + 30 * MINUTE_MS, Event::Stale);
        history.add("nonsense", t0, Event::Hit);
        let at = |ms: u64, ns: &str| {
            let stats = history.stats(ms);
            let find = |span: &[(&str, Counts)]| span.iter().find(|(n, _)| *n == ns).unwrap().1;
            (find(&stats.last_hour), find(&stats.last_day))
        };
        let (hour, day) = at(t0 + 59 * MINUTE_MS, "movie");
        assert_eq!((hour.hit, hour.miss, day.hit), (1, 1, 1));
        let (hour, day) = at(t0 + 61 * MINUTE_MS, "movie");
        assert_eq!((hour.answers(), day.answers()), (0, 2));
        let (hour, _) = at(t0 + 61 * MINUTE_MS, "trending_movies");
        assert_eq!(hour.stale, 1, "still within the hour");
        let (_, day) = at(t0 + 25 * HOUR_MS, "movie");
        assert_eq!(day.answers(), 0);
        // Minute by minute: the hit and miss 59 minutes ago are the oldest bucket's.
        let stats = history.stats(t0 + 59 * MINUTE_MS);
        let (_, series) = stats
            .per_minute
            .iter()
            .find(|(n, _)| *n == "movie")
            .unwrap();
        assert_eq!(series.len(), 60);
        assert_eq!((series[0].hit, series[0].miss), (1, 1));
        assert_eq!(series[1..].iter().map(Counts::answers).sum::<u64>(), 0);
        // A bucket reused a day later starts from nothing.
        history.add("movie", t0 + 24 * HOUR_MS, Event::Hit);
        let (_, day) = at(t0 + 24 * HOUR_MS, "movie");
        assert_eq!(day.answers(), 1);
    }
}
