//! Request coalescing ("single flight"): however many requests want the same cold key at once,
//! one fetch runs and all of them get its result. The fetch runs in its own task, so it completes
//! and is stored even when the request that started it goes away. Waiters are woken when it
//! finishes (a shared future), never by polling.
//!
//! A fetch may hand back work to finish after its result is out (`run_then`): storing what was
//! fetched. Waiters are answered at once, and the flight stays registered until that work is
//! done, so a request arriving in between joins the flight and gets its result instead of
//! finding nothing stored and fetching again.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

use crate::cache::Landed;
use crate::error::ApiError;
use crate::service::components::Components;

type Flight<T> = Shared<BoxFuture<'static, Result<T, ApiError>>>;

/// Work a fetch leaves to be done after its result is answered (storing it). What it returns is
/// dropped once the flight has left the registry.
pub type Then = BoxFuture<'static, Landed>;

pub struct SingleFlight<T: Clone> {
    in_flight: Arc<Mutex<HashMap<String, Flight<T>>>>,
    components: Components,
}

impl<T: Clone> Clone for SingleFlight<T> {
    fn clone(&self) -> Self {
        SingleFlight {
            in_flight: self.in_flight.clone(),
            components: self.components.clone(),
        }
    }
}

impl<T: Clone> SingleFlight<T> {
    /// A fetch task that panics is noted in `components` (and its waiters get a 500).
    pub fn new(components: Components) -> Self {
        SingleFlight {
            in_flight: Arc::new(Mutex::new(HashMap::new())),
            components,
        }
    }
}

/// Takes a finished (or panicked) flight out of the registry. A guard, not a statement after
/// the fetch: a fetch that panics must not leave its finished future behind, or every later
/// request for the key would join it and get its error until a restart.
struct Landing<T: Clone> {
    registry: Arc<Mutex<HashMap<String, Flight<T>>>>,
    key: String,
}

impl<T: Clone> Drop for Landing<T> {
    fn drop(&mut self) {
        crate::sync::lock(&self.registry).remove(&self.key);
    }
}

impl<T: Clone + Send + Sync + 'static> SingleFlight<T> {
    /// Joins the fetch in flight for `key`, or starts `fetch` as one. Returns its result and
    /// whether this caller joined someone else's fetch.
    pub async fn run<F>(&self, key: &str, fetch: F) -> (Result<T, ApiError>, bool)
    where
        F: Future<Output = Result<T, ApiError>> + Send + 'static,
    {
        self.run_then(key, fetch.map(|result| (result, None))).await
    }

    /// As `run`, for a fetch that returns its result and the work to finish after it is
    /// answered: the flight is answered with the result, and leaves the registry only once that
    /// work is done.
    pub async fn run_then<F>(&self, key: &str, fetch: F) -> (Result<T, ApiError>, bool)
    where
        F: Future<Output = (Result<T, ApiError>, Option<Then>)> + Send + 'static,
    {
        let (flight, joined) = {
            let mut in_flight = crate::sync::lock(&self.in_flight);
            match in_flight.get(key) {
                Some(flight) => (flight.clone(), true),
                None => {
                    let landing = Landing {
                        registry: self.in_flight.clone(),
                        key: key.to_owned(),
                    };
                    let (answer, answered) = tokio::sync::oneshot::channel();
                    let components = self.components.clone();
                    let task = tokio::spawn(async move {
                        let (result, then) = fetch.await;
                        let _ = answer.send(result);
                        let landed = match then {
                            Some(then) => match AssertUnwindSafe(then).catch_unwind().await {
                                Ok(landed) => landed,
                                Err(panic) => {
                                    let error =
                                        crate::service::components::panic_message(panic.as_ref());
                                    components.note_panic("cache_write", error);
                                    Landed::default()
                                }
                            },
                            None => Landed::default(),
                        };
                        // The result is stored by now: later arrivals find it in the cache.
                        drop(landing);
                        drop(landed);
                    });
                    let components = self.components.clone();
                    let flight: Flight<T> = async move {
                        if let Ok(result) = answered.await {
                            return result;
                        }
                        // No answer: the fetch panicked (or the runtime is going away).
                        let error = match task.await {
                            Err(e) => match e.try_into_panic() {
                                Ok(panic) => {
                                    let error =
                                        crate::service::components::panic_message(panic.as_ref());
                                    components.note_panic("tmdb_fetch", error.clone());
                                    error
                                }
                                Err(e) => e.to_string(),
                            },
                            Ok(()) => "it ended without an answer".to_owned(),
                        };
                        Err(ApiError::Internal(format!("fetch task failed: {error}")))
                    }
                    .boxed()
                    .shared();
                    in_flight.insert(key.to_owned(), flight.clone());
                    (flight, false)
                }
            }
        };
        (flight.await, joined)
    }

    /// The result of the flight for `key` when it has been answered and is still finishing its
    /// work (storing it): a request that finds nothing stored yet is answered from it, as a hit.
    pub fn answered(&self, key: &str) -> Option<T> {
        match crate::sync::lock(&self.in_flight).get(key)?.peek()? {
            Ok(value) => Some(value.clone()),
            Err(_) => None,
        }
    }

    /// Whether a fetch for `key` is running.
    pub fn is_running(&self, key: &str) -> bool {
        crate::sync::lock(&self.in_flight).contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fetch_that_panics_leaves_the_key_to_the_next_fetch() {
        let components = Components::default();
        let flights: SingleFlight<u32> = SingleFlight::new(components.clone());
        let (result, _) = flights
            .run("k", async {
                if true {
                    panic!("upstream value overflowed");
                }
                Ok(0)
            })
            .await;
        assert!(matches!(result, Err(ApiError::Internal(_))), "{result:?}");
        assert!(!flights.is_running("k"));
        assert_eq!(components.failing()[0].name, "tmdb_fetch");
        let (result, joined) = flights.run("k", async { Ok(7) }).await;
        assert_eq!((result.ok(), joined), (Some(7), false));
    }

    #[tokio::test]
    async fn the_answer_comes_before_the_write_and_the_flight_lasts_until_it_lands() {
        let flights: SingleFlight<u32> = SingleFlight::new(Components::default());
        let (written, write_done) = tokio::sync::oneshot::channel::<()>();
        let then: Then = async move {
            let _ = write_done.await;
            Landed::default()
        }
        .boxed();
        let (result, joined) = flights.run_then("k", async { (Ok(1), Some(then)) }).await;
        assert_eq!(
            (result.ok(), joined),
            (Some(1), false),
            "answered before the write"
        );
        assert!(flights.is_running("k"), "held until the write lands");
        assert_eq!(
            flights.answered("k"),
            Some(1),
            "its answer is at hand meanwhile"
        );
        let (result, joined) = flights
            .run("k", async {
                panic!("a second fetch while the first one's write is on the way")
            })
            .await;
        assert_eq!(
            (result.ok(), joined),
            (Some(1), true),
            "joined, not fetched again"
        );
        written.send(()).unwrap();
        for _ in 0..100 {
            if !flights.is_running("k") {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(!flights.is_running("k"), "gone once the write landed");
        assert_eq!(flights.answered("k"), None);
        let (result, joined) = flights.run("k", async { Ok(2) }).await;
        assert_eq!((result.ok(), joined), (Some(2), false));
    }
}
