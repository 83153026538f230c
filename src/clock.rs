//! `Clock`: the one source of "now" for freshness decisions, so tests move time instead of
//! sleeping through TTLs.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock milliseconds since the Unix epoch, plus an offset that only tests change.
/// Cloning shares the offset, so advancing a test's handle moves the server's time too.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
    /// When set, time does not pass by itself: `now_ms` is the offset alone (reproducible builds
    /// of the demo data).
    frozen: bool,
}

impl Clock {
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock stopped at `ms` (Unix milliseconds); `advance` still moves it.
    pub fn frozen_at(ms: u64) -> Clock {
        Clock {
            offset_ms: Arc::new(AtomicI64::new(ms as i64)),
            frozen: true,
        }
    }

    /// Milliseconds since the Unix epoch, as the cache envelope stores them.
    pub fn now_ms(&self) -> u64 {
        if self.frozen {
            return self.offset_ms.load(Ordering::Relaxed).max(0) as u64;
        }
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        wall.saturating_add(self.offset_ms.load(Ordering::Relaxed))
            .max(0) as u64
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: std::time::Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }
}

/// RFC 3339, UTC, `Z` suffix, whole seconds: the contract's time format, of Unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(time).to_string()
}
