//! The per-client limiter and the client's address. The address is the socket's peer; a
//! `X-Forwarded-For` header is believed only when that peer is a configured trusted proxy, and
//! then the first address from the right that is not itself a trusted proxy is the client.
//!
//! With a shared store (Redis), a client's requests are also counted across instances, without
//! a round trip on the request's path: each instance counts what it admits locally and adds the
//! counts to a window per client in the store every `SYNC_EVERY`; a client whose window holds
//! more than its burst (`clients.burst` requests in `burst / rps` seconds: the local limiter's
//! long-run rate) is refused by every instance until its window ends. So a client spread over
//! N instances gets the rate of one, give or take what it sends within one sync interval.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::cache::SharedWindows;
use crate::config::ClientSettings;
use crate::counters::Counters;

/// How often an instance adds its clients' counts to the shared windows.
const SYNC_EVERY: Duration = Duration::from_millis(200);
/// Clients remembered at most between two syncs, and refused at most at once (past it, new
/// clients are only held to the local limit until the next sync).
const MAX_SHARED_CLIENTS: usize = 100_000;
/// Windows added to the store at once.
const SYNC_CONCURRENCY: usize = 64;

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
    shared: Option<Arc<Shared>>,
}

/// The counts a shared limit needs (see the module's documentation).
struct Shared {
    windows: SharedWindows,
    window: Duration,
    allowance: u64,
    /// Requests admitted here since the last sync, per client.
    pending: Mutex<HashMap<IpAddr, u64>>,
    /// Clients over their allowance across instances, and until when.
    refused: Mutex<HashMap<IpAddr, Instant>>,
    refused_len: AtomicUsize,
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
            shared: None,
        }
    }

    /// Counts every client's requests across the instances on `windows` too (needs a runtime:
    /// the sync runs in a task, which ends when the limiter is dropped). Nothing without a
    /// local limit.
    pub fn shared(self, windows: Option<SharedWindows>, settings: &ClientSettings) -> Self {
        let (Some(windows), Some(_)) = (windows, &self.limiter) else {
            return self;
        };
        let rps = u64::from(settings.rps.max(1));
        let allowance = u64::from(settings.burst.max(settings.rps));
        let shared = Arc::new(Shared {
            windows,
            window: Duration::from_millis((allowance * 1000 / rps).max(1000)),
            allowance,
            pending: Mutex::default(),
            refused: Mutex::default(),
            refused_len: AtomicUsize::new(0),
        });
        let weak = Arc::downgrade(&shared);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SYNC_EVERY).await;
                let Some(shared) = weak.upgrade() else { return };
                shared.sync().await;
            }
        });
        ClientLimiter {
            shared: Some(shared),
            ..self
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
        if let Some(shared) = &self.shared
            && let Some(wait) = shared.refused_for(ip)
        {
            return Err(ClientRateLimited {
                retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
            });
        }
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ClientRateLimited {
                retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
            }
        })?;
        if let Some(shared) = &self.shared {
            shared.admitted(ip);
        }
        Ok(())
    }
}

impl Shared {
    /// How long `ip` is still refused for, across instances.
    fn refused_for(&self, ip: IpAddr) -> Option<Duration> {
        if self.refused_len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let refused = crate::sync::lock(&self.refused);
        let until = *refused.get(&ip)?;
        until.checked_duration_since(Instant::now())
    }

    fn admitted(&self, ip: IpAddr) {
        let mut pending = crate::sync::lock(&self.pending);
        if pending.len() < MAX_SHARED_CLIENTS || pending.contains_key(&ip) {
            *pending.entry(ip).or_default() += 1;
        }
    }

    /// Adds this instance's counts to the shared windows and notes who is over. A store that
    /// does not answer leaves the local limits alone meanwhile (it logs its own failures).
    async fn sync(&self) {
        let batch: Vec<(IpAddr, u64)> = std::mem::take(&mut *crate::sync::lock(&self.pending))
            .into_iter()
            .collect();
        let now = Instant::now();
        let mut over = Vec::new();
        for chunk in batch.chunks(SYNC_CONCURRENCY) {
            let counted = futures_util::future::join_all(chunk.iter().map(|(ip, n)| async move {
                let name = format!("client:{ip}");
                (*ip, self.windows.add(&name, *n, self.window).await)
            }))
            .await;
            for (ip, result) in counted {
                if let Ok((count, left)) = result
                    && count > self.allowance
                {
                    // The store's word on time left, held to the window it was asked for.
                    over.push((ip, now + left.min(self.window)));
                }
            }
        }
        let mut refused = crate::sync::lock(&self.refused);
        refused.retain(|_, until| *until > now);
        for (ip, until) in over {
            if refused.len() < MAX_SHARED_CLIENTS {
                refused.insert(ip, until);
            }
        }
        self.refused_len.store(refused.len(), Ordering::Relaxed);
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
