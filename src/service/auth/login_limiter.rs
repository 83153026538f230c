//! Slows password guessing. Failed logins are counted per username and per client address; once a
//! key has used its allowance, logins for it are refused (429 with `Retry-After`) until the
//! allowance refills. Only failures count, and a username's failures never block another
//! username; the per-address allowance is larger, so people behind one NAT are not locked out by
//! one another's typos.
//!
//! An attempt takes its place *before* its password is checked and gives it back (as a failure or
//! not) when the check is done, so concurrent guesses count against the allowance while they are
//! in flight: however many arrive at once, no more than the allowance are ever evaluated.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::sync::lock;
use std::time::{Duration, Instant};

/// Failed logins allowed per username; the next attempt is refused. One more every 30 s.
pub const USERNAME_BURST: u32 = 5;
const USERNAME_REFILL: Duration = Duration::from_secs(30);
/// Failed logins allowed per client address; one more every 2 s.
pub const ADDRESS_BURST: u32 = 50;
const ADDRESS_REFILL: Duration = Duration::from_secs(2);
/// Keys remembered at most. Past this, keys with nothing owed and nothing in flight are
/// forgotten; a spray of more live keys than this is still bounded by the per-address key.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Username(String),
    Address(IpAddr),
}

impl Key {
    fn policy(&self) -> (u32, Duration) {
        match self {
            Key::Username(_) => (USERNAME_BURST, USERNAME_REFILL),
            Key::Address(_) => (ADDRESS_BURST, ADDRESS_REFILL),
        }
    }
}

/// What one key owes: failures not yet refilled (as of `at`) and attempts being checked now.
#[derive(Debug, Clone, Copy)]
struct Allowance {
    failures: f64,
    at: Instant,
    in_flight: u32,
}

impl Allowance {
    /// Failures still counted at `now`: one is forgiven every refill period.
    fn failures_at(&self, now: Instant, refill: Duration) -> f64 {
        let forgiven = now.saturating_duration_since(self.at).as_secs_f64() / refill.as_secs_f64();
        (self.failures - forgiven).max(0.0)
    }
}

#[derive(Clone, Default)]
pub struct LoginLimiter {
    keys: Arc<Mutex<HashMap<Key, Allowance>>>,
}

/// A login being checked. Say how it went with `failed`; dropping it otherwise (success, or the
/// request went away) gives its place back without counting a failure.
pub struct Attempt {
    limiter: LoginLimiter,
    keys: Vec<Key>,
}

impl LoginLimiter {
    /// Takes a place for one login of `username` from `address`, or says how many seconds to
    /// wait when either has no allowance left (counting the attempts in flight).
    pub fn begin(&self, username: &str, address: Option<IpAddr>) -> Result<Attempt, u64> {
        let keys: Vec<Key> = std::iter::once(Key::Username(username.to_lowercase()))
            .chain(address.map(Key::Address))
            .collect();
        let now = Instant::now();
        let mut table = lock(&self.keys);
        let mut wait: Option<f64> = None;
        for key in &keys {
            let (burst, refill) = key.policy();
            let Some(allowance) = table.get(key) else {
                continue;
            };
            let owed = allowance.failures_at(now, refill) + f64::from(allowance.in_flight);
            if owed + 1.0 > f64::from(burst) {
                // Until enough failures are forgiven for one more attempt (an attempt in flight
                // may give its place back sooner; a second is the least a client is told).
                let seconds = (owed + 1.0 - f64::from(burst)) * refill.as_secs_f64();
                wait = Some(wait.unwrap_or(0.0).max(seconds));
            }
        }
        if let Some(seconds) = wait {
            return Err(seconds.ceil().max(1.0) as u64);
        }
        if table.len() >= MAX_KEYS {
            table.retain(|key, a| a.in_flight > 0 || a.failures_at(now, key.policy().1) > 0.0);
        }
        for key in &keys {
            table
                .entry(key.clone())
                .or_insert(Allowance {
                    failures: 0.0,
                    at: now,
                    in_flight: 0,
                })
                .in_flight += 1;
        }
        drop(table);
        Ok(Attempt {
            limiter: self.clone(),
            keys,
        })
    }
}

impl Attempt {
    /// The credentials were wrong: the attempt counts against every key it took a place from.
    pub fn failed(mut self) {
        self.finish(true);
    }

    fn finish(&mut self, failed: bool) {
        let now = Instant::now();
        let mut table = lock(&self.limiter.keys);
        for key in self.keys.drain(..) {
            let refill = key.policy().1;
            if let Some(allowance) = table.get_mut(&key) {
                allowance.in_flight = allowance.in_flight.saturating_sub(1);
                let failures = allowance.failures_at(now, refill) + if failed { 1.0 } else { 0.0 };
                allowance.failures = failures;
                allowance.at = now;
                if allowance.failures == 0.0 && allowance.in_flight == 0 {
                    table.remove(&key);
                }
            }
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.keys.is_empty() {
            self.finish(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowance_counts_attempts_in_flight_and_only_failures_stay() {
        let limiter = LoginLimiter::default();
        let held: Vec<Attempt> = (0..USERNAME_BURST)
            .map(|_| limiter.begin("Alice", None).expect("within the allowance"))
            .collect();
        assert!(
            limiter.begin("alice", None).is_err(),
            "attempts in flight take the allowance, whatever the letter case"
        );
        assert!(limiter.begin("bob", None).is_ok(), "per username");
        drop(held);
        let ok = limiter
            .begin("alice", None)
            .expect("successes give their place back");
        drop(ok);
        for _ in 0..USERNAME_BURST {
            limiter.begin("alice", None).unwrap().failed();
        }
        let wait = limiter
            .begin("alice", None)
            .err()
            .expect("refused after the allowance");
        assert!((1..=30).contains(&wait), "{wait}");
    }

    #[test]
    fn an_address_is_limited_across_usernames() {
        let limiter = LoginLimiter::default();
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        for i in 0..ADDRESS_BURST {
            limiter
                .begin(&format!("user{i}"), Some(address))
                .unwrap()
                .failed();
        }
        assert!(limiter.begin("someone-else", Some(address)).is_err());
        assert!(limiter.begin("someone-else", None).is_ok());
    }
}
