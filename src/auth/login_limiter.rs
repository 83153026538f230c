//! Slows password guessing. Failed logins are counted per username and per client address with
//! governor; once a key has used its allowance it is refused (429 with `Retry-After`) until the
//! allowance refills. Only failures count, and a username's failures never block another
//! username; the per-address allowance is larger, so people behind one NAT are not locked out by
//! one another's typos.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Failed logins allowed per username before refusals start, refilling one every 30 s.
pub const USERNAME_BURST: u32 = 5;
const USERNAME_REFILL: Duration = Duration::from_secs(30);
/// Failed logins allowed per client address, refilling one every 2 s.
pub const ADDRESS_BURST: u32 = 50;
const ADDRESS_REFILL: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct LoginLimiter {
    usernames: Arc<DefaultKeyedRateLimiter<String>>,
    addresses: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    /// Keys over their allowance, and until when.
    blocked: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        let quota = |burst: u32, refill: Duration| {
            Quota::with_period(refill)
                .expect("non-zero period")
                .allow_burst(NonZeroU32::new(burst).expect("non-zero burst"))
        };
        LoginLimiter {
            usernames: Arc::new(RateLimiter::keyed(quota(USERNAME_BURST, USERNAME_REFILL))),
            addresses: Arc::new(RateLimiter::keyed(quota(ADDRESS_BURST, ADDRESS_REFILL))),
            blocked: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

fn username_key(username: &str) -> String {
    format!("u:{}", username.to_lowercase())
}

fn address_key(address: IpAddr) -> String {
    format!("a:{address}")
}

impl LoginLimiter {
    /// Seconds to wait when this username or address is currently refused.
    pub fn retry_after(&self, username: &str, address: Option<IpAddr>) -> Option<u64> {
        let mut blocked = self.blocked.lock().expect("not poisoned");
        let now = Instant::now();
        blocked.retain(|_, until| *until > now);
        let keys = std::iter::once(username_key(username)).chain(address.map(address_key));
        keys.filter_map(|key| blocked.get(&key).copied())
            .max()
            .map(|until| until.duration_since(now).as_secs().max(1))
    }

    /// Counts one failed login.
    pub fn record_failure(&self, username: &str, address: Option<IpAddr>) {
        let clock = DefaultClock::default();
        let mut blocked = self.blocked.lock().expect("not poisoned");
        if let Err(not_until) = self.usernames.check_key(&username.to_lowercase()) {
            let wait = not_until.wait_time_from(clock.now());
            blocked.insert(username_key(username), Instant::now() + wait);
        }
        if let Some(address) = address
            && let Err(not_until) = self.addresses.check_key(&address)
        {
            let wait = not_until.wait_time_from(clock.now());
            blocked.insert(address_key(address), Instant::now() + wait);
        }
        // Keep memory bounded under a spray of usernames.
        if self.usernames.len() > 10_000 {
            self.usernames.retain_recent();
            self.addresses.retain_recent();
        }
    }
}
