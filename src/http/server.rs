//! The accept loop: HTTP/1.x connections (no HTTP/2) served by hyper, each request offered first to the
//! hot-tier fast path (`fast_path`) and otherwise to warp's filter chain (`routes`).
//!
//! warp's own server would put every request through the whole chain, including cache hits that
//! need none of it; driving hyper here keeps one place that decides, and lets the fast path see
//! the request before warp takes it apart.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::Either;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tower_service::Service as _;

use super::fast_path;
use crate::state::AppState;

/// The peer of a connection, in each request's extensions for the filters that need it (the
/// client limiter, login throttling).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// Serves `listener` until `shutdown` resolves, then stops accepting and waits for the open
/// connections to finish their requests (idle keep-alive connections are closed at once).
/// `header_timeout` is how long a client may take to send a request's headers (also how long an
/// idle keep-alive connection is kept): slow or stalled clients cannot hold connections for ever.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let routes = warp::service(super::routes(state.clone()));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    tokio::pin!(shutdown);
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
        // Responses leave in one write; Nagle's delay would only hold back the next one.
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let routes = routes.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            match fast_path::answer(&state, &request, Some(peer)) {
                Some(response) => Either::Left(std::future::ready(Ok(response))),
                // Only a request the fast path leaves needs its own handle on the filter chain.
                None => {
                    request.extensions_mut().insert(PeerAddr(peer));
                    Either::Right(routes.clone().call(request))
                }
            }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
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
