//! The upstream budget: everything that decides whether and when a TMDB request may go out. One
//! rate limiter (requests per second), a cap on requests in flight (TMDB allows 20 connections
//! per address), a pause that a 429 imposes on every caller, and a circuit breaker that stops
//! calling TMDB after repeated failures so no client waits for a timeout it could not avoid.
//! With a shared Redis cache, the rate is also shared: every instance takes its slots from one
//! bucket in Redis, so N instances together stay under TMDB's limit.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::TmdbError;
use crate::cache::RedisStore;

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
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

pub struct BudgetSettings {
    pub rps: NonZeroU32,
    pub max_concurrency: usize,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
}

/// Held while a request is in flight.
pub struct Admission {
    _permit: OwnedSemaphorePermit,
}

/// The TMDB rate shared by every instance on one Redis (a GCRA bucket kept in Redis).
pub struct SharedRate {
    pub store: RedisStore,
    pub rps: NonZeroU32,
}

impl SharedRate {
    /// Waits for a slot of the shared rate. Redis being away leaves the local limiter alone in
    /// charge: the service goes on, each instance within its own rate.
    async fn until_ready(&self, deadline: Instant) -> Result<(), TmdbError> {
        loop {
            match self.store.take_rate("tmdb", self.rps).await {
                Ok(None) | Err(_) => return Ok(()),
                Ok(Some(wait)) => {
                    let wake = Instant::now() + wait;
                    if wake >= deadline {
                        return Err(TmdbError::Timeout);
                    }
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
        }
    }

    /// Waits for the right to send one request: breaker, 429 pause, in-flight cap, rate. Fails
    /// fast when the breaker is open or the pause outlasts `deadline`.
    pub async fn admit(&self, deadline: Instant) -> Result<Admission, TmdbError> {
        self.check_breaker()?;
        let pause = *self.paused_until.lock().expect("not poisoned");
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
        Ok(Admission { _permit: permit })
    }

    /// Takes every request's slot from `shared` as well as from this process's limiter.
    pub fn share_rate(&mut self, shared: SharedRate) {
        self.shared = Some(shared);
    }

    fn check_breaker(&self) -> Result<(), TmdbError> {
        let mut breaker = self.breaker.lock().expect("not poisoned");
        match *breaker {
            Breaker::Closed { .. } => Ok(()),
            Breaker::Open { until } if Instant::now() >= until => {
                // Cool-down over: let exactly one probe through.
                *breaker = Breaker::HalfOpen;
                Ok(())
            }
            Breaker::Open { until } => Err(TmdbError::CircuitOpen {
                retry_after: seconds_until(until),
            }),
            Breaker::HalfOpen => Err(TmdbError::CircuitOpen { retry_after: 1 }),
        }
    }

    /// Records how a request went. Timeouts, connection failures and 5xx count against TMDB's
    /// health; any other answer means it is up. A 429 pauses everyone.
    pub fn record(&self, result: &Result<bytes::Bytes, TmdbError>) {
        if let Err(TmdbError::RateLimited { retry_after }) = result {
            // TMDB no longer promises Retry-After; back off on our own when it is missing.
            let wait = Duration::from_secs(retry_after.unwrap_or(2));
            let mut paused = self.paused_until.lock().expect("not poisoned");
            let until = Instant::now() + wait;
            if paused.is_none_or(|p| p < until) {
                *paused = Some(until);
            }
        }
        let failed = matches!(
            result,
            Err(TmdbError::Timeout | TmdbError::Transport(_) | TmdbError::Status(500..))
        );
        let mut breaker = self.breaker.lock().expect("not poisoned");
        *breaker = match (&*breaker, failed) {
            (_, false) => Breaker::Closed { failures: 0 },
            (Breaker::Closed { failures }, true) if failures + 1 < self.threshold => {
                Breaker::Closed {
                    failures: failures + 1,
                }
            }
            (Breaker::Closed { .. } | Breaker::HalfOpen, true) => {
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
        match *self.breaker.lock().expect("not poisoned") {
            Breaker::Closed { .. } => BreakerState::Closed,
            Breaker::Open { until } if Instant::now() >= until => BreakerState::HalfOpen,
            Breaker::Open { .. } => BreakerState::Open,
            Breaker::HalfOpen => BreakerState::HalfOpen,
        }
    }

    /// Busy: paused, breaker not closed, or more than half the in-flight slots taken. Background
    /// work (prefetch) stays away then.
    pub fn is_busy(&self) -> bool {
        let paused = self
            .paused_until
            .lock()
            .expect("not poisoned")
            .is_some_and(|until| until > Instant::now());
        paused
            || self.breaker_state() != BreakerState::Closed
            || self.in_flight.available_permits() < self.max_concurrency.div_ceil(2)
    }
}
