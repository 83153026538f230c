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
}
