//! A day of traffic replayed against fixed TTLs (the defaults, then details kept 1 h and 10 min,
//! what a fixed-TTL cache must do to approach the change feed's freshness) and against
//! everything issue 19 added (dynamic TTLs, refresh-ahead, predictive paging, TMDB's change
//! feed, negative entries), on the same
//! synthetic access log, the same fake TMDB (whose movies change titles as the day goes on) and
//! the injected clock (a simulated day takes seconds). In-process, through `MovieService`: the
//! cache rules, not HTTP, are what is measured.
//!
//! The log: 30 requests a simulated minute for 24 hours, from a fixed seed. 40 % are paging
//! sessions on trending (day, page 1, then page 2 half the time, page 3 a third of those;
//! week the same, less often), 45 % details and 15 % recommendations of the 100 movies those
//! pages list, chosen by a Zipf law (s = 1). Each simulated hour 2 % of those movies get a new
//! title upstream. An answer is *outdated* when its title is not the one TMDB has now.
//!
//! `cargo bench --bench replay` (prints one table; ~1 minute).

use std::collections::HashMap;
use std::time::Duration;

use reelcache::app::open::Opened;
use reelcache::clock::Clock;
use reelcache::config::{Credential, Settings};
use reelcache::dev::fake_tmdb::{FakeTmdb, catalog};
use reelcache::domain::{MovieId, Page, Requester, TimeWindow};
use reelcache::service::movies::endpoints::{Details, Recommendations, Trending};
use reelcache::service::movies::{CacheOutcome, Served};

const MINUTES: u64 = 24 * 60;
const PER_MINUTE: usize = 30;
const MOVIES: usize = 100;
/// 2026-12-07T00:00:00Z.
const START_MS: u64 = 1_796_601_600_000;

/// A small deterministic generator (xorshift), so both runs replay the same log.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An index in 0..n with probability ∝ 1/(i+1).
    fn zipf(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Req {
    Trending(TimeWindow, u32),
    Details(u32),
    Recommendations(u32),
}

fn access_log(movies: &[u32]) -> Vec<Vec<Req>> {
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    let weights: Vec<f64> = (0..movies.len()).map(|i| 1.0 / (i as f64 + 1.0)).collect();
    (0..MINUTES)
        .map(|_| {
            let mut minute = Vec::with_capacity(PER_MINUTE);
            while minute.len() < PER_MINUTE {
                let roll = rng.unit();
                if roll < 0.40 {
                    let window = if rng.unit() < 0.8 {
                        TimeWindow::Day
                    } else {
                        TimeWindow::Week
                    };
                    minute.push(Req::Trending(window, 1));
                    if rng.unit() < 0.5 {
                        minute.push(Req::Trending(window, 2));
                        if rng.unit() < 0.33 {
                            minute.push(Req::Trending(window, 3));
                        }
                    }
                } else if roll < 0.85 {
                    minute.push(Req::Details(movies[rng.zipf(&weights)]));
                } else {
                    minute.push(Req::Recommendations(movies[rng.zipf(&weights)]));
                }
            }
            minute
        })
        .collect()
}

/// Which movies change title in which simulated hour.
fn edits(movies: &[u32]) -> Vec<Vec<u32>> {
    let mut rng = Rng(0x0ed1_7500_0000_0001);
    (0..24)
        .map(|_| {
            (0..MOVIES / 50)
                .map(|_| movies[(rng.next() % movies.len() as u64) as usize])
                .collect()
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    requests: u64,
    hits: u64,
    stale: u64,
    misses: u64,
    outdated: u64,
    per_key: HashMap<Req, (u64, u64)>,
}

impl Tally {
    fn note(&mut self, req: Req, served: &Served, outdated: bool) {
        self.requests += 1;
        let fresh_hit = served.outcome == CacheOutcome::Hit && !outdated;
        match served.outcome {
            CacheOutcome::Hit => self.hits += 1,
            CacheOutcome::Stale => self.stale += 1,
            CacheOutcome::Miss | CacheOutcome::Bypass => self.misses += 1,
        }
        if outdated {
            self.outdated += 1;
        }
        let entry = self.per_key.entry(req).or_default();
        entry.0 += 1;
        entry.1 += u64::from(fresh_hit);
    }

    /// The share of fresh, up-to-date hits among the requests for the most requested keys that
    /// make up `share` of all requests.
    fn hot_set_fresh(&self, share: f64) -> f64 {
        let mut keys: Vec<(u64, u64)> = self.per_key.values().copied().collect();
        keys.sort_by_key(|k| std::cmp::Reverse(k.0));
        let goal = (self.requests as f64 * share) as u64;
        let (mut reqs, mut fresh) = (0, 0);
        for (n, f) in keys {
            if reqs >= goal {
                break;
            }
            reqs += n;
            fresh += f;
        }
        fresh as f64 / reqs.max(1) as f64
    }
}

/// `details_ttl`: fixed TTLs with details kept this long instead of 24 h (what a fixed-TTL
/// cache must do to approach the freshness the change feed gives).
async fn replay(thinking_ahead: bool, details_ttl: Option<Duration>) -> (Tally, usize, usize) {
    let fake = FakeTmdb::start(None).await.expect("fake TMDB");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::defaults_in(dir.path());
    settings.tmdb.base_urls = vec![fake.base_url()];
    settings.tmdb.credential = Some(Credential::from_shape("replay-key-0123456789abcdef"));
    settings.clients.rps = 0;
    settings.resilience.client_share = 100;
    settings.warm.every = Duration::ZERO;
    // The loops run on real time; the replay drives them per simulated minute and hour.
    settings.changes.every = Duration::ZERO;
    if let Some(ttl) = details_ttl {
        settings.ttl.details = ttl;
    }
    if !thinking_ahead {
        settings.ttl.dynamic = false;
        settings.resilience.refresh_ahead_budget = 0;
        settings.ttl.negative = Duration::ZERO;
    }
    let clock = Clock::frozen_at(START_MS);
    let opened = Opened::open(&settings, clock.clone()).await.expect("opens");
    let state = opened.state.clone();
    let movies: Vec<u32> = (1..=5)
        .flat_map(|page| {
            catalog::trending("day", page, "en-US")["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_u64().unwrap() as u32)
                .collect::<Vec<_>>()
        })
        .take(MOVIES)
        .collect();
    let log = access_log(&movies);
    let edits = edits(&movies);
    let feed = reelcache::service::change_feed::ChangeFeed::new(
        state.movies.clone(),
        Duration::from_secs(3600),
        dir.path(),
        clock.clone(),
    );
    let language = *state.movies.default_language();
    let who = Requester::Client(Some("192.0.2.7".parse().unwrap()));
    let mut tally = Tally::default();
    for (minute, requests) in log.iter().enumerate() {
        if minute % 60 == 0 {
            for id in &edits[minute / 60] {
                fake.change_title(
                    *id,
                    &format!("{} (edited at {}h)", catalog::title(*id), minute / 60),
                );
            }
            if thinking_ahead {
                feed.poll().await;
            }
        }
        for req in requests {
            let served = match *req {
                Req::Trending(window, page) => {
                    let request = Trending {
                        window,
                        page: Page::new(page).unwrap(),
                    };
                    state.movies.cached(request, &language, who).await
                }
                Req::Details(id) => {
                    let request = Details {
                        id: MovieId::new(id).unwrap(),
                    };
                    state.movies.cached(request, &language, who).await
                }
                Req::Recommendations(id) => {
                    let request = Recommendations {
                        id: MovieId::new(id).unwrap(),
                        page: Page::new(1).unwrap(),
                    };
                    state.movies.cached(request, &language, who).await
                }
            };
            let Ok(served) = served else {
                continue;
            };
            let outdated = match req {
                Req::Details(id) => {
                    let payload = served.payload().unwrap();
                    let doc: serde_json::Value = serde_json::from_slice(&payload).unwrap();
                    doc["title"] != fake.current_title(*id).as_str()
                }
                _ => false,
            };
            tally.note(*req, &served, outdated);
        }
        if thinking_ahead {
            state.movies.refresh_ahead_once();
        }
        // Background fetches (prefetch, revalidation, refresh-ahead) reach the local fake.
        tokio::time::sleep(Duration::from_millis(2)).await;
        clock.advance(Duration::from_secs(60));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let calls = fake.total();
    let feed_calls = fake.count("/movie/changes");
    drop(state);
    drop(opened);
    fake.stop().await;
    (tally, calls, feed_calls)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "| run | requests | hits (X-Cache HIT) | stale | misses | outdated answers | up-to-date hits, hot set (keys making 80 % of requests) | TMDB calls | per 1,000 requests (of them change-feed polls) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let minutes = |m: u64| Some(Duration::from_secs(60 * m));
    for (name, on, details) in [
        ("fixed TTLs (details 24 h)", false, None),
        ("fixed TTLs, details 1 h", false, minutes(60)),
        ("fixed TTLs, details 10 min", false, minutes(10)),
        ("thinking ahead", true, None),
    ] {
        let (t, calls, feed) = runtime.block_on(replay(on, details));
        let pct = |n: u64| 100.0 * n as f64 / t.requests as f64;
        println!(
            "| {name} | {} | {:.2} % | {:.2} % | {:.2} % | {:.2} % | {:.2} % | {calls} | {:.1} ({feed}) |",
            t.requests,
            pct(t.hits),
            pct(t.stale),
            pct(t.misses),
            pct(t.outdated),
            100.0 * t.hot_set_fresh(0.8),
            1000.0 * calls as f64 / t.requests as f64,
        );
    }
}
