//! `Lifecycle`: where the server is between its start and its stop, for `/health/ready`. A load
//! balancer or orchestrator should send traffic only while the accept loop runs: not while the
//! stores are still opening and the demo data importing, and not once shutdown has begun and
//! in-flight requests are draining.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// One phase of the server's life, in the only order it moves through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The stores are open but requests are not answered yet.
    Starting,
    /// The accept loop runs.
    Serving,
    /// Shutdown began: not ready. For the shutdown delay new requests are still answered; then
    /// no new connections, and in-flight requests finishing.
    Draining,
}

const STARTING: u8 = 0;
const SERVING: u8 = 1;
const DRAINING: u8 = 2;

/// Cheap to clone: every clone reads and moves the same phase.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle(Arc<AtomicU8>);

impl Lifecycle {
    pub fn phase(&self) -> Phase {
        match self.0.load(Ordering::Acquire) {
            STARTING => Phase::Starting,
            SERVING => Phase::Serving,
            _ => Phase::Draining,
        }
    }

    /// The accept loop runs. Ignored once draining: a server on its way out never becomes ready
    /// again.
    pub fn serving(&self) {
        let _ = self
            .0
            .compare_exchange(STARTING, SERVING, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Shutdown began.
    pub fn draining(&self) {
        self.0.store(DRAINING, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_only_move_forward() {
        let lifecycle = Lifecycle::default();
        assert_eq!(lifecycle.phase(), Phase::Starting);
        let seen_elsewhere = lifecycle.clone();
        lifecycle.serving();
        assert_eq!(seen_elsewhere.phase(), Phase::Serving);
        lifecycle.draining();
        lifecycle.serving();
        assert_eq!(seen_elsewhere.phase(), Phase::Draining, "draining is final");

        // Shutdown before the accept loop ever ran: never ready.
        let stopped_early = Lifecycle::default();
        stopped_early.draining();
        stopped_early.serving();
        assert_eq!(stopped_early.phase(), Phase::Draining);
    }
}
