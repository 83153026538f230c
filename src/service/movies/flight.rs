//! Request coalescing ("single flight"): however many requests want the same cold key at once,
//! one fetch runs and all of them get its result. The fetch runs in its own task, so it completes
//! and is stored even when the request that started it goes away. Waiters are woken when it
//! finishes (a shared future), never by polling.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

use crate::error::ApiError;
use crate::service::components::Components;

type Flight<T> = Shared<BoxFuture<'static, Result<T, ApiError>>>;

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
        let (flight, joined) = {
            let mut in_flight = crate::sync::lock(&self.in_flight);
            match in_flight.get(key) {
                Some(flight) => (flight.clone(), true),
                None => {
                    let landing = Landing {
                        registry: self.in_flight.clone(),
                        key: key.to_owned(),
                    };
                    let task = tokio::spawn(async move {
                        let result = fetch.await;
                        // The result is stored by now: later arrivals find it in the cache.
                        drop(landing);
                        result
                    });
                    let components = self.components.clone();
                    let flight: Flight<T> = async move {
                        task.await.unwrap_or_else(|e| {
                            let error = match e.try_into_panic() {
                                Ok(panic) => {
                                    let error =
                                        crate::service::components::panic_message(panic.as_ref());
                                    components.note_panic("tmdb_fetch", error.clone());
                                    error
                                }
                                Err(e) => e.to_string(),
                            };
                            Err(ApiError::Internal(format!("fetch task failed: {error}")))
                        })
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
}
