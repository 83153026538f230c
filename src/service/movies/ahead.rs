//! Refresh-ahead: a hot entry (read about twice or more within the last 15 minutes, as the
//! record in `access.rs` keeps count) is fetched again in the background shortly before it
//! expires (5–10 % of its TTL before, jittered per key), so a client never finds it expired.
//! Cold entries simply expire. It spends at most `resilience.refresh_ahead_budget` TMDB calls a
//! minute, as background work (its own share of the upstream budget, never a client's), and
//! waits while the upstream budget is busy with client misses. The refresh goes through the
//! same single flight and dynamic TTL as any fetch. Off offline, and when the budget is 0.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Serialize;

use super::MovieService;
use super::access::AccessRecord;
use crate::cache::{EntryMeta, Lookup};
use crate::counters::Counters;

/// How often the record is looked through for due entries (real time; "due" is on the
/// service's clock).
const TICK: Duration = Duration::from_millis(250);
/// At most this many refreshes start in one look.
const PER_TICK: usize = 32;

pub struct Ahead {
    record: AccessRecord,
    /// `None`: refresh-ahead is off (offline, or a budget of 0); reads are not recorded.
    budget: Option<DefaultDirectRateLimiter>,
    budget_per_minute: u32,
    ran: AtomicU64,
    skipped_for_budget: AtomicU64,
    spared: AtomicU64,
    failed: AtomicU64,
}

/// What refresh-ahead did since start, for the statistics.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AheadStats {
    pub enabled: bool,
    pub budget_per_minute: u32,
    pub tracked_keys: usize,
    /// Refreshes started ahead of expiry.
    pub ran: u64,
    /// Due refreshes not started because the minute's budget was spent.
    pub skipped_for_budget: u64,
    /// Reads that found an entry refreshed ahead of an expiry already past: each would have
    /// been a stale answer or a miss.
    pub spared: u64,
    /// Refreshes that failed (TMDB's error; the entry expires as it would have).
    pub failed: u64,
}

impl Ahead {
    pub fn new(budget_per_minute: u32, keys: u32, offline: bool) -> Ahead {
        let budget = NonZeroU32::new(budget_per_minute)
            .filter(|_| !offline)
            .map(|n| RateLimiter::direct(Quota::per_minute(n)));
        Ahead {
            record: AccessRecord::new(if budget.is_some() { keys as usize } else { 1 }),
            budget,
            budget_per_minute,
            ran: AtomicU64::new(0),
            skipped_for_budget: AtomicU64::new(0),
            spared: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// `key`'s decayed read count now (`None`: not tracked, or refresh-ahead is off).
    pub fn score(&self, key: &str, now_ms: u64) -> Option<f64> {
        self.record.score(key, now_ms).map(|(score, _)| score)
    }

    pub fn stats(&self) -> AheadStats {
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        AheadStats {
            enabled: self.budget.is_some(),
            budget_per_minute: self.budget_per_minute,
            tracked_keys: self.record.len(),
            ran: load(&self.ran),
            skipped_for_budget: load(&self.skipped_for_budget),
            spared: load(&self.spared),
            failed: load(&self.failed),
        }
    }
}

impl MovieService {
    /// Notes a read of `key`'s entry for refresh-ahead.
    pub(super) fn note_read(&self, key: &str, meta: &EntryMeta, now_ms: u64) {
        let ahead = &self.ahead;
        if ahead.budget.is_some()
            && ahead
                .record
                .read(key, now_ms, meta.stored_at_ms, meta.expires_at_ms)
        {
            Counters::incr(&ahead.spared);
        }
    }

    pub fn refresh_ahead_stats(&self) -> AheadStats {
        self.ahead.stats()
    }

    /// Refreshes due entries until `stop` resolves; returns at once when refresh-ahead is off.
    pub async fn refresh_ahead(self, stop: impl Future<Output = ()>) {
        if self.ahead.budget.is_none() {
            return;
        }
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(TICK) => self.refresh_due(),
            }
        }
    }

    /// One look through the record, as the loop makes every 250 ms (the replay benchmark calls
    /// it once per simulated minute).
    pub fn refresh_ahead_once(&self) {
        self.refresh_due();
    }

    fn refresh_due(&self) {
        let Some(budget) = &self.ahead.budget else {
            return;
        };
        let record = &self.ahead.record;
        for due in record.due(self.clock.now_ms(), PER_TICK) {
            // Client misses first: wait for the next look.
            if self.tmdb.budget().is_busy() {
                return;
            }
            record.attempted(&due.key, due.expires_at_ms);
            if self.flights.is_running(&due.key) {
                continue;
            }
            if budget.check().is_err() {
                Counters::incr(&self.ahead.skipped_for_budget);
                continue;
            }
            self.refresh_ahead_now(&due.key, due.expires_at_ms);
            self.refresh_next_page_with(&due.key, budget);
        }
    }

    /// Learned paging: the page after `key`'s, when it is read at least half as often (readers
    /// of this list go on to it), is refreshed with it even if it is not hot on its own.
    fn refresh_next_page_with(&self, key: &str, budget: &DefaultDirectRateLimiter) {
        let now_ms = self.clock.now_ms();
        let record = &self.ahead.record;
        let Some(next) = super::named::next_page_key(key) else {
            return;
        };
        let (Some((score, _)), Some((next_score, next_expires))) =
            (record.score(key, now_ms), record.score(&next, now_ms))
        else {
            return;
        };
        if next_score < score / 2.0 || next_score >= super::access::HOT {
            // Not read after this one, or hot enough to be refreshed on its own.
            return;
        }
        record.attempted(&next, next_expires);
        if self.flights.is_running(&next) || budget.check().is_err() {
            return;
        }
        Counters::incr(&self.counters.refreshed_with_previous_page);
        self.refresh_ahead_now(&next, next_expires);
    }

    /// Starts the background refresh of `key`, whose entry expires at `expires_at_ms`.
    fn refresh_ahead_now(&self, key: &str, expires_at_ms: u64) {
        let Some(mut request) = self.request_for_key(key) else {
            return;
        };
        Counters::incr(&self.ahead.ran);
        self.history.add(
            crate::cache::key::namespace_of(key),
            self.clock.now_ms(),
            super::history::Event::RefreshAhead,
        );
        let service = self.clone();
        tokio::spawn(async move {
            let now_ms = service.clock.now_ms();
            request.previous = match service.cache.get(&request.key, now_ms).await {
                Lookup::Fresh(entry) | Lookup::Expired(entry) => Some(entry.meta),
                Lookup::Missing { .. } | Lookup::Miss => None,
            };
            let key = request.key.clone();
            match service.coalesced_fetch(request).await {
                (Ok((_, _, meta, _)), _) => service.ahead.record.refreshed(
                    key.as_str(),
                    expires_at_ms,
                    meta.stored_at_ms,
                    meta.expires_at_ms,
                ),
                (Err(error), _) => {
                    Counters::incr(&service.ahead.failed);
                    tracing::debug!(%key, %error, "refresh ahead failed");
                }
            }
        });
    }
}

/// Shared by the service's clones.
pub type SharedAhead = Arc<Ahead>;
