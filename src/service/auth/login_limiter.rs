//! Slows password guessing. Failed logins are counted per username and per client address; once a
//! key has used its allowance, logins for it are refused (429 with `Retry-After`) until the
//! allowance refills. Only failures count, and a username's failures never block another
//! username; the per-address allowance is larger, so people behind one NAT are not locked out by
//! one another's typos.
//!
//! An attempt takes its place *before* its password is checked and gives it back (as a failure or
//! not) when the check is done, so concurrent guesses count against the allowance while they are
//! in flight: however many arrive at once, no more than the allowance are ever evaluated.
//!
//! With a shared store (Redis), failures are also counted there, by every instance: an
//! allowance used up through one instance is used up on all. (Attempts in flight are counted per
//! instance.) A store that does not answer leaves each instance its own count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::cache::SharedDebts;
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
    /// The key's name in the shared store: a hash, so that any username makes a short key.
    fn shared_name(&self) -> String {
        let raw = match self {
            Key::Username(name) => format!("u:{name}"),
            Key::Address(address) => format!("a:{address}"),
        };
        format!("login:{:016x}", xxhash_rust::xxh3::xxh3_64(raw.as_bytes()))
    }

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
    /// With a shared store: every instance's failures, per key, as a debt of one refill period
    /// per failure that decays in real time.
    shared: Option<SharedDebts>,
}

/// A login being checked. Say how it went with `failed`; dropping it otherwise (success, or the
/// request went away) gives its place back without counting a failure.
pub struct Attempt {
    limiter: LoginLimiter,
    keys: Vec<Key>,
}

impl LoginLimiter {
    /// Counts failures in `shared` too (every instance on it), besides this process.
    pub fn shared(self, shared: Option<SharedDebts>) -> LoginLimiter {
        LoginLimiter { shared, ..self }
    }

    /// Takes a place for one login of `username` from `address`, or says how many seconds to
    /// wait when either has no allowance left (counting the attempts in flight).
    pub async fn begin(&self, username: &str, address: Option<IpAddr>) -> Result<Attempt, u64> {
        let keys: Vec<Key> = std::iter::once(Key::Username(username.to_lowercase()))
            .chain(address.map(Key::Address))
            .collect();
        let mut shared = Vec::new();
        if let Some(debts) = &self.shared {
            for key in &keys {
                let (burst, refill) = key.policy();
                // The store logs its own failures; this instance's count stands meanwhile. What
                // it says is held to what the allowance can owe (no lock-out longer than the
                // whole burst's refill, whatever the key holds).
                let owed = debts
                    .add(&key.shared_name(), Duration::ZERO)
                    .await
                    .map_or(0.0, |d| {
                        (d.as_secs_f64() / refill.as_secs_f64()).min(f64::from(burst))
                    });
                shared.push(owed);
            }
        }
        self.begin_with(keys, &shared)
    }

    /// `begin` once the shared failures of each key (as many as `keys`, or none) are known.
    fn begin_with(&self, keys: Vec<Key>, shared: &[f64]) -> Result<Attempt, u64> {
        let now = Instant::now();
        let mut table = lock(&self.keys);
        let mut wait: Option<f64> = None;
        for (i, key) in keys.iter().enumerate() {
            let (burst, refill) = key.policy();
            let elsewhere = shared.get(i).copied().unwrap_or(0.0);
            let (failures, in_flight) = table
                .get(key)
                .map_or((0.0, 0), |a| (a.failures_at(now, refill), a.in_flight));
            // This instance's failures are among the shared ones (when they could be counted).
            let owed = failures.max(elsewhere) + f64::from(in_flight);
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
    /// The credentials were wrong: the attempt counts against every key it took a place from,
    /// here and, with a shared store, on every instance.
    pub async fn failed(mut self) {
        let keys = self.keys.clone();
        let shared = self.limiter.shared.clone();
        self.finish(true);
        if let Some(debts) = shared {
            for key in keys {
                // A store that does not answer loses this one from the shared count only.
                let _ = debts.add(&key.shared_name(), key.policy().1).await;
            }
        }
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

    #[tokio::test]
    async fn the_allowance_counts_attempts_in_flight_and_only_failures_stay() {
        let limiter = LoginLimiter::default();
        let mut held = Vec::new();
        for _ in 0..USERNAME_BURST {
            held.push(
                limiter
                    .begin("Alice", None)
                    .await
                    .expect("within the allowance"),
            );
        }
        assert!(
            limiter.begin("alice", None).await.is_err(),
            "attempts in flight take the allowance, whatever the letter case"
        );
        assert!(limiter.begin("bob", None).await.is_ok(), "per username");
        drop(held);
        let ok = limiter
            .begin("alice", None)
            .await
            .expect("successes give their place back");
        drop(ok);
        for _ in 0..USERNAME_BURST {
            limiter.begin("alice", None).await.unwrap().failed().await;
        }
        let wait = limiter
            .begin("alice", None)
            .await
            .err()
            .expect("refused after the allowance");
        assert!((1..=30).contains(&wait), "{wait}");
    }

    #[tokio::test]
    async fn an_address_is_limited_across_usernames() {
        let limiter = LoginLimiter::default();
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        for i in 0..ADDRESS_BURST {
            limiter
                .begin(&format!("user{i}"), Some(address))
                .await
                .unwrap()
                .failed()
                .await;
        }
        assert!(limiter.begin("someone-else", Some(address)).await.is_err());
        assert!(limiter.begin("someone-else", None).await.is_ok());
    }
}
