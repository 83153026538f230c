//! The per-client limiter and the client's address. The address is the socket's peer; a
//! `X-Forwarded-For` header is believed only when that peer is a configured trusted proxy, and
//! then the first address from the right that is not itself a trusted proxy is the client.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::ClientSettings;
use crate::counters::Counters;

/// The client went over its request rate.
#[derive(Debug)]
pub struct ClientRateLimited {
    pub retry_after: u64,
}

#[derive(Clone)]
pub struct ClientLimiter {
    limiter: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    trusted: Arc<[IpAddr]>,
    checks: Arc<AtomicU64>,
    counters: Arc<Counters>,
}

impl ClientLimiter {
    pub fn new(settings: &ClientSettings, counters: Arc<Counters>) -> ClientLimiter {
        let limiter = NonZeroU32::new(settings.rps).map(|rps| {
            let burst = NonZeroU32::new(settings.burst.max(settings.rps)).unwrap_or(rps);
            Arc::new(RateLimiter::keyed(
                Quota::per_second(rps).allow_burst(burst),
            ))
        });
        ClientLimiter {
            limiter,
            trusted: settings.trusted_proxies.clone().into(),
            checks: Arc::new(AtomicU64::new(0)),
            counters,
        }
    }

    /// The client's address for this request.
    pub fn client_ip(
        &self,
        peer: Option<SocketAddr>,
        forwarded_for: Option<&str>,
    ) -> Option<IpAddr> {
        let peer = peer?.ip();
        if !self.trusted.contains(&peer) {
            return Some(peer);
        }
        let Some(header) = forwarded_for else {
            return Some(peer);
        };
        let hops: Vec<IpAddr> = header
            .split(',')
            .filter_map(|hop| hop.trim().parse().ok())
            .collect();
        Some(
            hops.iter()
                .rev()
                .find(|ip| !self.trusted.contains(ip))
                .copied()
                .unwrap_or(peer),
        )
    }

    /// As `admit`, counting a refusal (the full route's check).
    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), ClientRateLimited> {
        self.admit(ip)
            .inspect_err(|_| Counters::incr(&self.counters.client_rate_limited))
    }

    /// Takes one request from the client's allowance, or says how long until it has one. A
    /// refusal takes nothing and is not counted: the fast path leaves refused requests to the
    /// filter, which refuses (and counts) them again.
    pub fn admit(&self, ip: Option<IpAddr>) -> Result<(), ClientRateLimited> {
        let (Some(limiter), Some(ip)) = (&self.limiter, ip) else {
            return Ok(());
        };
        // Forget idle clients now and then, so memory stays bounded.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 10_000 == 9_999 {
            limiter.retain_recent();
        }
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ClientRateLimited {
                retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(trusted: &[&str]) -> ClientLimiter {
        ClientLimiter::new(
            &ClientSettings {
                rps: 1,
                burst: 1,
                trusted_proxies: trusted.iter().map(|t| t.parse().unwrap()).collect(),
            },
            Arc::default(),
        )
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let untrusted = limiter(&[]);
        assert_eq!(
            untrusted.client_ip(Some(peer), Some("1.2.3.4")),
            Some("10.0.0.1".parse().unwrap())
        );
        let trusted = limiter(&["10.0.0.1", "10.0.0.2"]);
        assert_eq!(
            trusted.client_ip(Some(peer), Some("6.6.6.6, 1.2.3.4, 10.0.0.2")),
            Some("1.2.3.4".parse().unwrap()),
            "the spoofable left part is ignored; the hop before our proxies is the client"
        );
        assert_eq!(
            trusted.client_ip(Some(peer), None),
            Some("10.0.0.1".parse().unwrap())
        );
    }
}
