//! The accept loop: HTTP/1.x connections (no HTTP/2) served by hyper, each request offered first to the
//! hot-tier fast path (`fast_path`) and otherwise to warp's filter chain (`routes`).
//!
//! warp's own server would put every request through the whole chain, including cache hits that
//! need none of it; driving hyper here keeps one place that decides, and lets the fast path see
//! the request before warp takes it apart.

use std::future::Future;
use std::time::Duration;

use futures_util::future::Either;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tower_service::Service as _;

use super::connections::{ConnectionGate, ConnectionLimits, DeadlineBody, Shed, WriteDeadline};
use super::fast_path;
use crate::service::state::AppState;

/// What the accept loop bounds.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// How long a client may take to send a request's headers; also how long an idle keep-alive
    /// connection is kept.
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body once its headers are in; also how
    /// long an answer may wait for the client to read it.
    pub body_timeout: Duration,
    pub limits: ConnectionLimits,
}

/// The client a request is from (the peer, or the hop before trusted proxies: see
/// `ClientLimiter::client_ip`), worked out once per request and kept in its extensions for
/// every filter that needs it (the client limiter, login throttling, the TMDB share).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);

/// Serves `listener` until `shutdown` resolves, then stops accepting and waits for the open
/// connections to finish their requests (idle keep-alive connections are closed at once). Slow
/// or stalled clients cannot hold connections for ever (header and body timeouts), and no client
/// can hold more than its share of them (`ServeSettings::limits`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    settings: ServeSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let routes = warp::service(super::routes(state.clone()));
    let graceful = GracefulShutdown::new();
    let gate = ConnectionGate::new(settings.limits.clone());
    let body_timeout = settings.body_timeout;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout);
    tokio::pin!(shutdown);
    state.lifecycle.serving();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let ticket = match gate.admit(peer.ip()) {
            Ok(ticket) => ticket,
            Err(shed) => {
                refuse(stream, shed);
                continue;
            }
        };
        crate::measure::connections_open(gate.open());
        // Responses leave in one write; Nagle's delay would only hold back the next one.
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let routes = routes.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            match fast_path::answer(&state, &request, Some(peer)) {
                fast_path::Outcome::Answered(response) => {
                    Either::Left(std::future::ready(Ok(response)))
                }
                // Only a request the fast path leaves needs its own handle on the filter chain,
                // and only such a request may read a body.
                fast_path::Outcome::Declined(parsed) => {
                    let forwarded_for = request
                        .headers()
                        .get("x-forwarded-for")
                        .and_then(|v| v.to_str().ok());
                    let client = state.client_limiter.client_ip(Some(peer), forwarded_for);
                    let mut request = request.map(|body| DeadlineBody::new(body, body_timeout));
                    request.extensions_mut().insert(ClientAddr(client));
                    if let Some(parsed) = parsed {
                        request.extensions_mut().insert(parsed);
                    }
                    Either::Right(routes.clone().call(request))
                }
            }
        });
        let connection = graceful.watch(http.serve_connection(
            TokioIo::new(WriteDeadline::new(stream, body_timeout)),
            service,
        ));
        let gate = gate.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(ticket);
            crate::measure::connections_open(gate.open());
        });
    }
    // Not ready from here on, whatever a request still being answered asks.
    state.lifecycle.draining();
    drop(listener);
    graceful.shutdown().await;
}

/// Refused connections whose answer is still being delivered; past this many, a refused
/// connection is closed without waiting.
const LINGERING_MAX: usize = 128;
/// How long a refused connection is kept so that its answer is read before the close.
const LINGER: Duration = Duration::from_millis(500);

/// Tells a connection over a limit why and closes it. The answer goes out in one non-blocking
/// write (the send buffer is empty, so it fits); then, for a few refused connections at a time,
/// the request is read and dropped for a moment so that closing does not reset the connection
/// before the client has read the answer. Nothing here waits on the accept loop.
fn refuse(stream: tokio::net::TcpStream, shed: Shed) {
    use std::io::Write as _;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    static LINGERING: AtomicUsize = AtomicUsize::new(0);
    static WARNING: crate::telemetry::LogEvery = crate::telemetry::LogEvery::ten_seconds();

    crate::measure::connection_shed(shed.label());
    if let Some(suppressed) = WARNING.ready() {
        tracing::warn!(
            limit = shed.label(),
            suppressed,
            "refusing connections over a limit (reelcache_connections_shed_total counts them)"
        );
    }
    // Written on the plain socket: a stream just accepted has not been seen writable by the
    // reactor yet, so tokio's `try_write` would refuse without trying.
    let Ok(stream) = stream.into_std() else {
        return;
    };
    let _ = (&stream).write(&super::connections::raw_http_close(&shed.error()));
    if LINGERING.fetch_add(1, Relaxed) >= LINGERING_MAX {
        LINGERING.fetch_sub(1, Relaxed);
        // Closing with unread bytes resets the connection, and a reset can overtake the
        // answer: read what has already arrived (without waiting) and end our side first.
        let mut sink = [0u8; 4096];
        for _ in 0..4 {
            if !matches!(std::io::Read::read(&mut &stream, &mut sink), Ok(n) if n > 0) {
                break;
            }
        }
        let _ = stream.shutdown(std::net::Shutdown::Write);
        return;
    }
    let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
        LINGERING.fetch_sub(1, Relaxed);
        return;
    };
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = stream;
        let _ = tokio::time::timeout(LINGER, async {
            let _ = stream.shutdown().await;
            let mut sink = [0u8; 1024];
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
        LINGERING.fetch_sub(1, Relaxed);
    });
}

/// Connection-level errors (the peer gave up while queued) are not the listener's problem; any
/// other (out of file descriptors, say) is logged, and accepting pauses for a second so that
/// the loop does not spin while nothing can be accepted.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept a connection; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
