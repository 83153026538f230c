//! Locks that a panic cannot poison. A std `Mutex` held by a thread that panics is poisoned, and
//! `.lock().expect(..)` then panics in every later caller: one bad moment (an upstream value that
//! overflowed, say) would take the component down until a restart. Every lock in reelcache guards
//! state that stays consistent between statements (a map, a timestamp, a counter), so the data is
//! taken as it is and the service goes on.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, recovering it if a panic poisoned it.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A value computed at most once per `fresh` period: callers in that period (and callers that
/// arrive while it is being computed) get the same copy. For answers that cost the server real
/// work (a health probe that writes to the store and flushes it) on requests anyone can send.
pub struct Recent<T> {
    fresh: std::time::Duration,
    last: tokio::sync::Mutex<Option<(std::time::Instant, T)>>,
}

impl<T: Clone> Recent<T> {
    pub fn new(fresh: std::time::Duration) -> Recent<T> {
        Recent {
            fresh,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// The copy made within the period, or a new one from `compute`.
    pub async fn get_or<F: std::future::Future<Output = T>>(
        &self,
        compute: impl FnOnce() -> F,
    ) -> T {
        let mut last = self.last.lock().await;
        if let Some((at, value)) = last.as_ref()
            && at.elapsed() < self.fresh
        {
            return value.clone();
        }
        let value = compute().await;
        *last = Some((std::time::Instant::now(), value.clone()));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_locked_leaves_the_lock_usable() {
        let mutex = std::sync::Arc::new(Mutex::new(1));
        let held = mutex.clone();
        let _ = std::thread::spawn(move || {
            let _guard = held.lock().unwrap();
            panic!("inside the lock");
        })
        .join();
        assert!(mutex.is_poisoned());
        *lock(&mutex) += 1;
        assert_eq!(*lock(&mutex), 2);
    }

    #[tokio::test]
    async fn a_recent_value_is_computed_once_per_period() {
        let recent = Recent::new(std::time::Duration::from_secs(60));
        let calls = std::sync::atomic::AtomicU32::new(0);
        let compute = || async { calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 };
        assert_eq!(recent.get_or(compute).await, 1);
        assert_eq!(recent.get_or(compute).await, 1);
        let stale = Recent::new(std::time::Duration::ZERO);
        assert_eq!(stale.get_or(compute).await, 2);
        assert_eq!(stale.get_or(compute).await, 3);
    }
}
