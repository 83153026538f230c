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

type Flight<T> = Shared<BoxFuture<'static, Result<T, ApiError>>>;

pub struct SingleFlight<T: Clone> {
    in_flight: Arc<Mutex<HashMap<String, Flight<T>>>>,
}

impl<T: Clone> Clone for SingleFlight<T> {
    fn clone(&self) -> Self {
        SingleFlight {
            in_flight: self.in_flight.clone(),
        }
    }
}

impl<T: Clone> Default for SingleFlight<T> {
    fn default() -> Self {
        SingleFlight {
            in_flight: Arc::new(Mutex::new(HashMap::new())),
        }
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
            let mut in_flight = self.in_flight.lock().expect("not poisoned");
            match in_flight.get(key) {
                Some(flight) => (flight.clone(), true),
                None => {
                    let registry = self.in_flight.clone();
                    let owned_key = key.to_owned();
                    let task = tokio::spawn(async move {
                        let result = fetch.await;
                        // The result is stored by now: later arrivals find it in the cache.
                        registry.lock().expect("not poisoned").remove(&owned_key);
                        result
                    });
                    let flight: Flight<T> = async move {
                        task.await.unwrap_or_else(|e| {
                            Err(ApiError::Internal(format!("fetch task failed: {e}")))
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
        self.in_flight
            .lock()
            .expect("not poisoned")
            .contains_key(key)
    }
}
