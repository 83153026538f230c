//! Dynamic TTLs: an entry refreshed from TMDB and found unchanged (the same payload hash as the
//! copy it replaces) is kept twice as long as last time, up to `ttl.dynamic_max` times the
//! configured TTL; one that changed, half as long, down to `ttl.dynamic_min_percent` of it. A
//! first fetch (nothing to compare with) gets the configured TTL. The TTL applied is the entry's
//! own (`expires_at_ms - stored_at_ms`), so `Cache-Control`, `Age` and `Cache-Status` stay
//! honest with no new field in the envelope.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::cache::EntryMeta;
use crate::config::TtlSettings;
use crate::counters::Counters;

/// What the dynamic TTLs did, for the statistics.
#[derive(Debug, Default)]
pub struct TtlCounters {
    /// Refreshes that came back unchanged and were kept longer.
    pub lengthened: AtomicU64,
    /// Refreshes that came back changed and were kept shorter.
    pub shortened: AtomicU64,
    /// TMDB calls a fixed TTL would have made for the time entries were kept beyond it, in
    /// thousandths of a call (an upper bound: as if each entry had been read throughout).
    pub saved_milli: AtomicU64,
    /// Calls spent beyond a fixed TTL's for entries kept shorter, in thousandths.
    pub spent_milli: AtomicU64,
}

/// The TTL for a document fetched now with payload hash `etag`, replacing `previous` (the
/// entry it refreshes, fresh or expired), where the configured TTL is `configured`.
pub fn next_ttl(
    settings: &TtlSettings,
    configured: Duration,
    previous: Option<&EntryMeta>,
    etag: u64,
    counters: &TtlCounters,
) -> Duration {
    let Some(previous) = previous.filter(|_| settings.dynamic) else {
        return configured;
    };
    let applied =
        Duration::from_millis(previous.expires_at_ms.saturating_sub(previous.stored_at_ms));
    let longest = configured.saturating_mul(settings.dynamic_max);
    let shortest = configured.saturating_mul(settings.dynamic_min_percent) / 100;
    let next = if previous.etag == etag {
        applied.saturating_mul(2).clamp(shortest, longest)
    } else {
        (applied / 2).clamp(shortest, longest)
    };
    let milli = |a: Duration, b: Duration| {
        (a.saturating_sub(b).as_millis() * 1000 / configured.as_millis().max(1)) as u64
    };
    if next > applied {
        Counters::incr(&counters.lengthened);
    } else if next < applied {
        Counters::incr(&counters.shortened);
    }
    Counters::add(&counters.saved_milli, milli(next, configured));
    Counters::add(&counters.spent_milli, milli(configured, next));
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Shape;

    fn settings(dynamic: bool) -> TtlSettings {
        let mut settings = crate::config::Settings::defaults_in(std::path::Path::new("/tmp")).ttl;
        settings.dynamic = dynamic;
        settings
    }

    fn stored_for(ttl: Duration, etag: u64) -> EntryMeta {
        EntryMeta {
            stored_at_ms: 1_000_000,
            expires_at_ms: 1_000_000 + ttl.as_millis() as u64,
            etag,
            shape: Shape::Object,
            raw_len: 2,
        }
    }

    #[test]
    fn unchanged_doubles_up_to_the_ceiling_and_changed_halves_down_to_the_floor() {
        let s = settings(true);
        let hour = Duration::from_secs(3600);
        let c = TtlCounters::default();
        assert_eq!(next_ttl(&s, hour, None, 7, &c), hour, "first fetch");
        let mut ttl = hour;
        for expected in [2, 4, 4] {
            ttl = next_ttl(&s, hour, Some(&stored_for(ttl, 7)), 7, &c);
            assert_eq!(ttl, hour * expected);
        }
        for expected in [7200, 3600, 1800, 1800] {
            ttl = next_ttl(&s, hour, Some(&stored_for(ttl, 7)), 8, &c);
            assert_eq!(ttl, Duration::from_secs(expected));
        }
        let lengthened = c.lengthened.load(std::sync::atomic::Ordering::Relaxed);
        let shortened = c.shortened.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!((lengthened, shortened), (2, 3));
        // Kept 2x, 4x, 4x, 2x the configured hour: 1 + 3 + 3 + 1 calls a fixed TTL would make.
        assert_eq!(
            c.saved_milli.load(std::sync::atomic::Ordering::Relaxed),
            8000
        );
        // Kept half as long twice: half a call each.
        assert_eq!(
            c.spent_milli.load(std::sync::atomic::Ordering::Relaxed),
            1000
        );
    }

    #[test]
    fn turned_off_it_is_the_configured_ttl() {
        let s = settings(false);
        let hour = Duration::from_secs(3600);
        let c = TtlCounters::default();
        let previous = stored_for(hour * 4, 7);
        assert_eq!(next_ttl(&s, hour, Some(&previous), 7, &c), hour);
    }
}
