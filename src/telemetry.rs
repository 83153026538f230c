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
    match tokio::task::spawn_blocking(move || span.in_scope(f))
        .instrument(tracing::Span::current())
        .await
    {
        Ok(value) => value,
        // The closure panicked: surface it as the panic it was.
        Err(err) => std::panic::resume_unwind(err.into_panic()),
    }
}
