//! The upstream budget: everything that decides whether and when a TMDB request may go out. One
//! rate limiter (requests per second), a cap on requests in flight (TMDB allows 20 connections
//! per address), a pause that a 429 imposes on every caller, and a circuit breaker that stops
//! calling TMDB after repeated failures so no client waits for a timeout it could not avoid.
//! With a shared Redis cache, the rate is also shared: every instance takes its slots from one
//! bucket in Redis, so N instances together stay under TMDB's limit.
//!
//! Fairness is a per-client cap: one client's misses (and background work, as one more
//! "client") may take at most `client_share` percent of the rate and of the in-flight slots, so
//! a client asking for random ids or queries as fast as its own limit allows (100/s, above
//! TMDB's whole 40/s) leaves the rest for everyone else's cold pages. A request coalesced with a
//! fetch already in flight never comes here, so it costs nothing.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::TmdbError;
use crate::domain::Requester;

/// The pause a 429 without a usable `Retry-After` imposes.
const DEFAULT_PAUSE: Duration = Duration::from_secs(2);
/// Past this many clients tracked for in-flight slots, idle ones are forgotten.
const TRACKED_CLIENTS: usize = 1024;

/// What the breaker currently does with requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Requests go out.
    Closed,
    /// Requests fail fast until the cool-down ends.
    Open,
    /// One probe request is out; the rest fail fast until it answers.
    HalfOpen,
}

#[derive(Debug)]
enum Breaker {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// A probe went out at `since`. A probe that never comes back to `record` (it was refused
    /// by the budget after the breaker let it through, or its task was dropped) must not keep
    /// the breaker half-open for ever: after a cool-down, another probe may go.
    HalfOpen {
        since: Instant,
    },
}

pub struct BudgetSettings {
    pub rps: NonZeroU32,
    pub max_concurrency: usize,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
    /// Longest pause a 429 may impose, whatever its `Retry-After` says.
    pub max_retry_after: Duration,
    /// Percent of the rate and in-flight slots one requester may take (100: no cap).
    pub client_share: u32,
}

/// Held while a request is in flight.
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    _client: Option<OwnedSemaphorePermit>,
}

/// Each requester's cap: a rate and a number of in-flight slots of its own.
struct Shares {
    rate: DefaultKeyedRateLimiter<Requester>,
    slots: Mutex<HashMap<Requester, Arc<Semaphore>>>,
    slots_each: usize,
    admits: AtomicU64,
}

impl Shares {
    fn new(settings: &BudgetSettings) -> Option<Shares> {
        if settings.client_share >= 100 {
            return None;
        }
        let share = u64::from(settings.client_share);
        let rate = (u64::from(settings.rps.get()) * share / 100).max(1);
        let rate =
            NonZeroU32::new(u32::try_from(rate).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
        Some(Shares {
            rate: RateLimiter::keyed(Quota::per_second(rate)),
            slots: Mutex::new(HashMap::new()),
            slots_each: ((settings.max_concurrency as u64 * share / 100) as usize).max(1),
            admits: AtomicU64::new(0),
        })
    }

    /// Waits (within `deadline`) for one of `who`'s slots and a slot of its rate. A wait for the
    /// rate that would outlast the deadline fails at once: the client's share is used up.
    async fn admit(
        &self,
        who: Requester,
        deadline: Instant,
    ) -> Result<OwnedSemaphorePermit, TmdbError> {
        if self.admits.fetch_add(1, Ordering::Relaxed) % 10_000 == 9_999 {
            self.rate.retain_recent();
        }
        let slots = {
            let mut slots = crate::sync::lock(&self.slots);
            if slots.len() >= TRACKED_CLIENTS {
                slots.retain(|_, s| s.available_permits() < self.slots_each);
            }
            slots
                .entry(who)
                .or_insert_with(|| Arc::new(Semaphore::new(self.slots_each)))
                .clone()
        };
        let permit = tokio::time::timeout_at(deadline, slots.acquire_owned())
            .await
            .map_err(|_| TmdbError::Timeout)?
            .map_err(|_| TmdbError::Transport("shutting down".to_owned()))?;
        loop {
            let Err(not_until) = self.rate.check_key(&who) else {
                return Ok(permit);
            };
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let Some(wake) = Instant::now().checked_add(wait).filter(|w| *w < deadline) else {
                return Err(TmdbError::ShareUsed {
                    retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
                });
            };
            tokio::time::sleep_until(wake).await;
        }
    }
}

/// A request rate kept outside this process and shared with other instances (with a Redis cache:
/// a GCRA bucket in Redis). The budget only asks it for slots; what keeps it is wired in by the
/// application, so the TMDB client knows nothing of the stores.
pub trait RateSlots: Send + Sync {
    /// Takes one slot: `Ok(None)` when admitted, `Ok(Some(wait))` when none is free before
    /// `wait`, `Err(())` when the keeper is away (the local limiter then decides alone).
    fn take(&self) -> Pin<Box<dyn Future<Output = Result<Option<Duration>, ()>> + Send + '_>>;
}

/// The TMDB rate shared by every instance through one [`RateSlots`] keeper.
pub struct SharedRate {
    pub slots: Box<dyn RateSlots>,
}

impl SharedRate {
    /// Waits for a slot of the shared rate. Redis being away leaves the local limiter alone in
    /// charge: the service goes on, each instance within its own rate.
    async fn until_ready(&self, deadline: Instant) -> Result<(), TmdbError> {
        loop {
            match self.slots.take().await {
                Ok(None) | Err(_) => return Ok(()),
                Ok(Some(wait)) => {
                    let Some(wake) = Instant::now().checked_add(wait).filter(|w| *w < deadline)
                    else {
                        return Err(TmdbError::Timeout);
                    };
                    tokio::time::sleep_until(wake).await;
                }
            }
        }
    }
}

pub struct UpstreamBudget {
    limiter: DefaultDirectRateLimiter,
    shared: Option<SharedRate>,
    in_flight: Arc<Semaphore>,
    max_concurrency: usize,
    paused_until: Mutex<Option<Instant>>,
    breaker: Mutex<Breaker>,
    threshold: u32,
    cooldown: Duration,
    max_pause: Duration,
    shares: Option<Shares>,
}

fn seconds_until(t: Instant) -> u64 {
    t.saturating_duration_since(Instant::now())
        .as_secs_f64()
        .ceil()
        .max(1.0) as u64
}

impl UpstreamBudget {
    pub fn new(settings: &BudgetSettings) -> UpstreamBudget {
        UpstreamBudget {
            limiter: RateLimiter::direct(Quota::per_second(settings.rps)),
            shared: None,
            in_flight: Arc::new(Semaphore::new(settings.max_concurrency)),
            max_concurrency: settings.max_concurrency,
            paused_until: Mutex::new(None),
            breaker: Mutex::new(Breaker::Closed { failures: 0 }),
            threshold: settings.breaker_threshold,
            cooldown: settings.breaker_cooldown,
            max_pause: settings.max_retry_after,
            shares: Shares::new(settings),
        }
    }

    /// The longest pause a 429 may impose.
    pub fn max_pause(&self) -> Duration {
        self.max_pause
    }

    /// Waits for the right to send one request for `who`: breaker, 429 pause, `who`'s share,
    /// in-flight cap, rate. Fails fast when the breaker is open, or the pause or `who`'s share
    /// outlasts `deadline`.
    pub async fn admit(&self, deadline: Instant, who: Requester) -> Result<Admission, TmdbError> {
        self.check_breaker()?;
        let pause = *crate::sync::lock(&self.paused_until);
        if let Some(until) = pause
            && until > Instant::now()
        {
            if until >= deadline {
                return Err(TmdbError::RateLimited {
                    retry_after: Some(seconds_until(until)),
                });
            }
            tokio::time::sleep_until(until).await;
        }
        let client = match &self.shares {
            Some(shares) => Some(shares.admit(who, deadline).await?),
            None => None,
        };
        let permit = tokio::time::timeout_at(deadline, self.in_flight.clone().acquire_owned())
            .await
            .map_err(|_| TmdbError::Timeout)?
            .map_err(|_| TmdbError::Transport("shutting down".to_owned()))?;
        tokio::time::timeout_at(deadline, self.limiter.until_ready())
            .await
            .map_err(|_| TmdbError::Timeout)?;
        if let Some(shared) = &self.shared {
            shared.until_ready(deadline).await?;
        }
        Ok(Admission {
            _permit: permit,
            _client: client,
        })
    }

    /// Takes every request's slot from `shared` as well as from this process's limiter.
    pub fn share_rate(&mut self, shared: SharedRate) {
        self.shared = Some(shared);
    }

    fn check_breaker(&self) -> Result<(), TmdbError> {
        let mut breaker = crate::sync::lock(&self.breaker);
        match *breaker {
            Breaker::Closed { .. } => Ok(()),
            Breaker::Open { until } if Instant::now() >= until => {
                // Cool-down over: let exactly one probe through.
                *breaker = Breaker::HalfOpen {
                    since: Instant::now(),
                };
                Ok(())
            }
            Breaker::HalfOpen { since } if since.elapsed() >= self.cooldown => {
                // The last probe never reported: let another one through.
                *breaker = Breaker::HalfOpen {
                    since: Instant::now(),
                };
                Ok(())
            }
            Breaker::Open { until } => Err(TmdbError::CircuitOpen {
                retry_after: seconds_until(until),
            }),
            Breaker::HalfOpen { .. } => Err(TmdbError::CircuitOpen { retry_after: 1 }),
        }
    }

    /// Records how a request went. Timeouts, connection failures and 5xx count against TMDB's
    /// health; any other answer means it is up. A 429 pauses everyone.
    pub fn record(&self, result: &Result<bytes::Bytes, TmdbError>) {
        if let Err(TmdbError::RateLimited { retry_after }) = result {
            // TMDB no longer promises Retry-After; back off on our own when it is missing. Its
            // value is data: clamped, so no answer can pause us for long (or overflow a clock).
            let wait = retry_after
                .map_or(DEFAULT_PAUSE, Duration::from_secs)
                .min(self.max_pause);
            let now = Instant::now();
            let until = now.checked_add(wait).unwrap_or(now);
            let mut paused = crate::sync::lock(&self.paused_until);
            if paused.is_none_or(|p| p < until) {
                *paused = Some(until);
            }
        }
        let failed = matches!(
            result,
            Err(TmdbError::Timeout | TmdbError::Transport(_) | TmdbError::Status(500..))
        );
        let mut breaker = crate::sync::lock(&self.breaker);
        *breaker = match (&*breaker, failed) {
            (_, false) => Breaker::Closed { failures: 0 },
            (Breaker::Closed { failures }, true) if failures + 1 < self.threshold => {
                Breaker::Closed {
                    failures: failures + 1,
                }
            }
            (Breaker::Closed { .. } | Breaker::HalfOpen { .. }, true) => {
                tracing::warn!(
                    cooldown_s = self.cooldown.as_secs_f64(),
                    "TMDB keeps failing: circuit breaker open"
                );
                Breaker::Open {
                    until: Instant::now() + self.cooldown,
                }
            }
            (Breaker::Open { until }, true) => Breaker::Open { until: *until },
        };
    }

    pub fn breaker_state(&self) -> BreakerState {
        match *crate::sync::lock(&self.breaker) {
            Breaker::Closed { .. } => BreakerState::Closed,
            Breaker::Open { until } if Instant::now() >= until => BreakerState::HalfOpen,
            Breaker::Open { .. } => BreakerState::Open,
            Breaker::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Busy: paused, breaker not closed, or more than half the in-flight slots taken. Background
    /// work (prefetch) stays away then.
    pub fn is_busy(&self) -> bool {
        let paused =
            crate::sync::lock(&self.paused_until).is_some_and(|until| until > Instant::now());
        paused
            || self.breaker_state() != BreakerState::Closed
            || self.in_flight.available_permits() < self.max_concurrency.div_ceil(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> UpstreamBudget {
        UpstreamBudget::new(&BudgetSettings {
            rps: NonZeroU32::new(100).unwrap(),
            max_concurrency: 4,
            breaker_threshold: 1,
            breaker_cooldown: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
            client_share: 100,
        })
    }

    /// A probe the breaker let through but that never reported back (refused later in
    /// admission, or its task dropped) does not hold the breaker half-open for ever.
    #[tokio::test(start_paused = true)]
    async fn a_probe_that_never_reports_does_not_wedge_the_breaker() {
        let budget = budget();
        budget.record(&Err(TmdbError::Timeout));
        assert_eq!(budget.breaker_state(), BreakerState::Open);
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(budget.check_breaker().is_ok(), "the probe goes");
        assert!(
            budget.check_breaker().is_err(),
            "one probe at a time while it is out"
        );
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(
            budget.check_breaker().is_ok(),
            "a probe that never came back is replaced after a cool-down"
        );
        budget.record(&Ok(bytes::Bytes::new()));
        assert_eq!(budget.breaker_state(), BreakerState::Closed);
    }
}
