//! Logging setup (tracing to stderr, so stdout stays for the `listening on` line) and the one
//! helper through which blocking store calls leave the async worker threads.

use std::io::IsTerminal;

use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The default filter: our own request lines replace warp's per-request chatter.
const DEFAULT_FILTER: &str = "info,warp::filters::trace=off";

/// At most one log line per ten seconds for a condition that can repeat on every request (a
/// full disk, a connection flood), with how many were left out: governor's limiter, as the
/// Redis store's outage log uses, made once on first use so it can live in a `static`.
pub struct LogEvery {
    limiter: std::sync::LazyLock<governor::DefaultDirectRateLimiter>,
    suppressed: std::sync::atomic::AtomicU64,
}

fn ten_seconds() -> governor::DefaultDirectRateLimiter {
    governor::RateLimiter::direct(
        governor::Quota::with_period(std::time::Duration::from_secs(10)).expect("non-zero"),
    )
}

impl LogEvery {
    pub const fn ten_seconds() -> LogEvery {
        LogEvery {
            limiter: std::sync::LazyLock::new(ten_seconds),
            suppressed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// `Some(lines left out since the last one)` when a line may be logged now.
    pub fn ready(&self) -> Option<u64> {
        use std::sync::atomic::Ordering::Relaxed;
        if self.limiter.check().is_ok() {
            Some(self.suppressed.swap(0, Relaxed))
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            None
        }
    }
}

/// Installs the global subscriber. `RUST_LOG` sets the level (default `info`). Text has colours
/// only when stderr is a terminal; JSON is one object per line.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        // The current span only: the span list would repeat the same fields in every line.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// Runs blocking work (sled writes, SQLite) on tokio's blocking pool inside the caller's span, so
/// its log lines keep the request's context.
pub async fn spawn_blocking<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    let joined = tokio::task::spawn_blocking(move || span.in_scope(f))
        .instrument(tracing::Span::current())
        .await;
    blocking_outcome(joined).await
}

/// What a blocking task's end means for its caller. A panic is surfaced as the panic it was. A
/// task cancelled before it ran (the runtime is shutting down: its blocking pool drops what has
/// not started) has no value to give: the caller waits until the runtime drops it too, instead
/// of panicking on its way out.
async fn blocking_outcome<T>(joined: Result<T, tokio::task::JoinError>) -> T {
    match joined {
        Ok(value) => value,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(_) => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_blocking_task_cancelled_at_shutdown_leaves_its_caller_waiting_not_panicking() {
        let task = tokio::spawn(std::future::pending::<u32>());
        task.abort();
        let cancelled = task.await;
        assert!(cancelled.as_ref().is_err_and(|e| e.is_cancelled()));
        let waited = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            blocking_outcome(cancelled),
        )
        .await;
        assert!(waited.is_err(), "the caller is left waiting");
        assert_eq!(blocking_outcome(Ok(7)).await, 7);
    }

    #[tokio::test]
    #[should_panic(expected = "the closure's own panic")]
    async fn a_blocking_task_that_panicked_panics_its_caller() {
        spawn_blocking(|| panic!("the closure's own panic")).await
    }
}
