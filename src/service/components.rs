//! `Components`: which parts of the process have stopped working, for `/health/`. A background
//! task (the sweeper, the metrics upkeep, the admin socket) runs under `supervise`, which catches
//! its panic and notes the component as failed for as long as the process lives: nothing
//! restarts it, so an operator must be told. A panic caught on a request's path (a TMDB fetch
//! task) is noted too, and reported for `RECENT` after the last one: the next request gets a
//! fresh task, but the operator should still hear about it.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use serde::Serialize;

/// How long a panic caught on a request's path keeps the component reported as failing.
pub const RECENT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
struct Failure {
    /// A background task that ended: failing until the process restarts.
    stopped: bool,
    count: u64,
    last_error: String,
    last_at: Instant,
}

/// One failing component as `/health/` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ComponentReport {
    pub name: &'static str,
    /// "stopped" (a background task that died) or "failing" (panics caught recently).
    pub status: &'static str,
    pub failures: u64,
    pub error: String,
    pub seconds_ago: u64,
}

/// Cheap to clone: every clone notes into the same record.
#[derive(Clone, Default)]
pub struct Components {
    failures: Arc<Mutex<BTreeMap<&'static str, Failure>>>,
}

impl Components {
    /// Runs `task` (a background loop), catching a panic: the component is then noted as
    /// stopped, and the panic does not reach whoever awaits the task.
    pub async fn supervise<T>(
        &self,
        name: &'static str,
        task: impl Future<Output = T>,
    ) -> Option<T> {
        match AssertUnwindSafe(task).catch_unwind().await {
            Ok(value) => Some(value),
            Err(panic) => {
                let error = panic_message(panic.as_ref());
                tracing::error!(component = name, %error, "background task panicked and stopped");
                self.note(name, error, true);
                None
            }
        }
    }

    /// Spawns `task` supervised (see `supervise`).
    pub fn spawn<T: Send + 'static>(
        &self,
        name: &'static str,
        task: impl Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<Option<T>> {
        let components = self.clone();
        tokio::spawn(async move { components.supervise(name, task).await })
    }

    /// Notes a panic caught on a request's path (the request got an error; the next one goes on).
    pub fn note_panic(&self, name: &'static str, error: String) {
        tracing::error!(component = name, %error, "a task panicked");
        self.note(name, error, false);
    }

    fn note(&self, name: &'static str, error: String, stopped: bool) {
        let mut failures = crate::sync::lock(&self.failures);
        let failure = failures.entry(name).or_insert(Failure {
            stopped,
            count: 0,
            last_error: String::new(),
            last_at: Instant::now(),
        });
        failure.stopped |= stopped;
        failure.count += 1;
        failure.last_error = error;
        failure.last_at = Instant::now();
    }

    /// The components failing now: stopped ones, and those with a panic within `RECENT`.
    pub fn failing(&self) -> Vec<ComponentReport> {
        crate::sync::lock(&self.failures)
            .iter()
            .filter(|(_, f)| f.stopped || f.last_at.elapsed() < RECENT)
            .map(|(name, f)| ComponentReport {
                name,
                status: if f.stopped { "stopped" } else { "failing" },
                failures: f.count,
                error: f.last_error.clone(),
                seconds_ago: f.last_at.elapsed().as_secs(),
            })
            .collect()
    }
}

/// The text of a panic's payload (a `&str` or a `String`, as `panic!` makes them).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_reported_as_stopped() {
        let components = Components::default();
        assert!(components.supervise("ok", async { 1 }).await.is_some());
        assert!(components.failing().is_empty());
        let ended = components
            .supervise("sweeper", async { panic!("boom") })
            .await;
        assert_eq!(ended, None::<()>);
        let failing = components.failing();
        assert_eq!(failing.len(), 1);
        assert_eq!(
            (
                failing[0].name,
                failing[0].status,
                failing[0].error.as_str()
            ),
            ("sweeper", "stopped", "boom")
        );
    }
}
