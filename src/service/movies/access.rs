//! A bounded record of how often each cached key is read: a decayed counter per key (each read
//! adds 1, and the count halves every `HALF_LIFE`), with the entry's freshness, so refresh-ahead
//! (`ahead.rs`) knows which entries are hot and when each is due. At most `capacity` keys,
//! spread over `SHARDS` locks so reads on several workers rarely meet; a shard that is full
//! forgets its coldest key for a new one. Memory: about 120 bytes a key (the key, its numbers,
//! the table's overhead), so the default 10,000 keys take about 1.2 MB.

use std::sync::Mutex;

use rustc_hash::FxHashMap;

const SHARDS: usize = 16;
/// How fast a read stops counting: half after 15 minutes.
const HALF_LIFE_MS: f64 = 15.0 * 60.0 * 1000.0;
/// How much reading makes a key hot: about two reads within the last half-life.
pub const HOT: f64 = 2.0;
/// An entry is refreshed within the last tenth of its TTL: between 5 % and 10 % before expiry,
/// each key at its own point (jittered by its hash), so entries stored together are not all
/// refreshed in the same second.
const LEAD_PERCENT: (u64, u64) = (5, 10);

#[derive(Debug, Clone, Copy)]
struct Access {
    score: f64,
    at_ms: u64,
    stored_at_ms: u64,
    expires_at_ms: u64,
    /// The expiry a refresh was last started for (one attempt per expiry).
    attempted_for: u64,
    /// After a refresh ahead: the expiry the entry had before it. A read past it was spared a
    /// stale answer or a miss.
    refreshed_from: u64,
}

impl Access {
    fn score_at(&self, now_ms: u64) -> f64 {
        // A hot key is read many times a millisecond: no decay to compute then.
        if now_ms <= self.at_ms {
            return self.score;
        }
        let elapsed = (now_ms - self.at_ms) as f64;
        self.score * 0.5f64.powf(elapsed / HALF_LIFE_MS)
    }

    /// When a refresh ahead of expiry is due for `key`.
    fn due_at(&self, key: &str) -> u64 {
        let ttl = self.expires_at_ms.saturating_sub(self.stored_at_ms);
        let spread = LEAD_PERCENT.1 - LEAD_PERCENT.0;
        let percent_x10 =
            LEAD_PERCENT.0 * 10 + xxhash_rust::xxh3::xxh3_64(key.as_bytes()) % (spread * 10 + 1);
        self.expires_at_ms
            .saturating_sub(ttl.saturating_mul(percent_x10) / 1000)
    }
}

/// A key whose refresh ahead of expiry is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub key: String,
    pub expires_at_ms: u64,
}

/// One lock's keys.
type Shard = Mutex<FxHashMap<Box<str>, Access>>;

pub struct AccessRecord {
    shards: Box<[Shard]>,
    per_shard: usize,
}

impl AccessRecord {
    pub fn new(capacity: usize) -> AccessRecord {
        AccessRecord {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, key: &str) -> &Shard {
        use std::hash::BuildHasher;
        let hash = rustc_hash::FxBuildHasher.hash_one(key);
        &self.shards[(hash as usize) % SHARDS]
    }

    /// Notes a read of `key`, whose entry was stored at `stored_at_ms` and is fresh until
    /// `expires_at_ms`. `true` when the read found an entry refreshed ahead of an expiry now
    /// past: without the refresh it would have been stale or a miss.
    pub fn read(&self, key: &str, now_ms: u64, stored_at_ms: u64, expires_at_ms: u64) -> bool {
        let mut shard = crate::sync::lock(self.shard(key));
        if let Some(access) = shard.get_mut(key) {
            access.score = access.score_at(now_ms) + 1.0;
            access.at_ms = now_ms;
            access.stored_at_ms = stored_at_ms;
            access.expires_at_ms = expires_at_ms;
            let spared = access.refreshed_from != 0 && now_ms >= access.refreshed_from;
            if spared {
                access.refreshed_from = 0;
            }
            return spared;
        }
        if shard.len() >= self.per_shard
            && let Some(coldest) = shard
                .iter()
                .min_by(|a, b| a.1.score_at(now_ms).total_cmp(&b.1.score_at(now_ms)))
                .map(|(key, _)| key.clone())
        {
            shard.remove(&coldest);
        }
        shard.insert(
            key.into(),
            Access {
                score: 1.0,
                at_ms: now_ms,
                stored_at_ms,
                expires_at_ms,
                attempted_for: 0,
                refreshed_from: 0,
            },
        );
        false
    }

    /// Hot keys whose entry is still fresh and within its refresh lead, not yet attempted for
    /// this expiry: at most `limit`, hottest first.
    pub fn due(&self, now_ms: u64, limit: usize) -> Vec<Due> {
        let mut due: Vec<(f64, Due)> = Vec::new();
        for shard in self.shards.iter() {
            let shard = crate::sync::lock(shard);
            for (key, access) in shard.iter() {
                // The cheap conditions first: most keys are not yet due.
                if access.attempted_for == access.expires_at_ms
                    || now_ms >= access.expires_at_ms
                    || now_ms < access.due_at(key)
                {
                    continue;
                }
                let score = access.score_at(now_ms);
                if score >= HOT {
                    let expires_at_ms = access.expires_at_ms;
                    due.push((
                        score,
                        Due {
                            key: key.to_string(),
                            expires_at_ms,
                        },
                    ));
                }
            }
        }
        due.sort_by(|a, b| b.0.total_cmp(&a.0));
        due.into_iter().take(limit).map(|(_, due)| due).collect()
    }

    /// `key`'s decayed read count now and its entry's expiry, when it is tracked.
    pub fn score(&self, key: &str, now_ms: u64) -> Option<(f64, u64)> {
        let shard = crate::sync::lock(self.shard(key));
        shard
            .get(key)
            .map(|access| (access.score_at(now_ms), access.expires_at_ms))
    }

    /// A refresh of `key` for its expiry `expires_at_ms` was started (or skipped for good).
    pub fn attempted(&self, key: &str, expires_at_ms: u64) {
        if let Some(access) = crate::sync::lock(self.shard(key)).get_mut(key) {
            access.attempted_for = expires_at_ms;
        }
    }

    /// The refresh of `key` stored a new entry; its old expiry was `old_expires_at_ms`.
    pub fn refreshed(
        &self,
        key: &str,
        old_expires_at_ms: u64,
        stored_at_ms: u64,
        expires_at_ms: u64,
    ) {
        if let Some(access) = crate::sync::lock(self.shard(key)).get_mut(key) {
            access.refreshed_from = old_expires_at_ms;
            access.stored_at_ms = stored_at_ms;
            access.expires_at_ms = expires_at_ms;
        }
    }

    /// How many keys are tracked.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| crate::sync::lock(s).len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;

    #[test]
    fn a_hot_key_is_due_in_the_last_tenth_of_its_ttl_and_a_cold_one_never() {
        let record = AccessRecord::new(100);
        let now = HOUR * 89 / 100;
        for _ in 0..3 {
            record.read("hot", now, 0, HOUR);
        }
        record.read("cold", now, 0, HOUR);
        assert!(record.due(HOUR * 89 / 100, 10).is_empty(), "too early");
        let due = record.due(HOUR * 95 / 100 + 1, 10);
        assert!(due.is_empty() || due[0].key == "hot");
        let due = record.due(HOUR * 999 / 1000, 10);
        assert_eq!(
            due,
            vec![Due {
                key: "hot".into(),
                expires_at_ms: HOUR
            }]
        );
        record.attempted("hot", HOUR);
        assert!(
            record.due(HOUR * 999 / 1000, 10).is_empty(),
            "one attempt per expiry"
        );
        assert!(
            record.due(HOUR, 10).is_empty(),
            "expired: not ahead any more"
        );
    }

    #[test]
    fn reads_decay_and_a_read_past_a_refreshed_expiry_is_counted_once() {
        let record = AccessRecord::new(100);
        record.read("k", 0, 0, HOUR);
        record.read("k", 0, 0, HOUR);
        // Two reads two half-lives ago count as half a read now: cold.
        let later = 2 * 15 * 60 * 1000;
        assert!(record.due(later, 10).is_empty());
        record.refreshed("k", HOUR, HOUR - 1000, 2 * HOUR);
        assert!(
            !record.read("k", HOUR - 10, HOUR - 1000, 2 * HOUR),
            "before the old expiry"
        );
        assert!(record.read("k", HOUR + 10, HOUR - 1000, 2 * HOUR));
        assert!(!record.read("k", HOUR + 20, HOUR - 1000, 2 * HOUR), "once");
    }

    #[test]
    fn a_full_record_forgets_its_coldest_key() {
        let record = AccessRecord::new(SHARDS);
        for i in 0..1000 {
            record.read(&format!("key{i}"), i, 0, HOUR);
        }
        assert!(record.len() <= SHARDS, "{}", record.len());
    }
}
