//! Bounds on what a connection may hold: how many connections are open (in total and per client
//! address) and how long a request's body may take to arrive. The header read timeout (hyper's)
//! bounds the time before a request; these bound everything else a slow or hostile client could
//! pin, so that one client cannot use up the file descriptors every other client needs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use crate::error::ApiError;
use crate::sync::lock;

/// How many connections may be open.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub total: usize,
    pub per_client: usize,
    /// Proxies: many clients arrive through one address, so only the total applies to them.
    pub trusted: Arc<[IpAddr]>,
}

/// Counts open connections and refuses the ones over a limit.
pub struct ConnectionGate {
    limits: ConnectionLimits,
    open: AtomicUsize,
    per_client: Mutex<HashMap<IpAddr, usize>>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// The server holds `total` connections already.
    Total,
    /// This address holds `per_client` connections already.
    Client,
}

impl Shed {
    pub fn label(self) -> &'static str {
        match self {
            Shed::Total => "total",
            Shed::Client => "per_client",
        }
    }

    /// What the refused client is told before the connection closes.
    pub fn error(self) -> ApiError {
        match self {
            Shed::Total => ApiError::Unavailable {
                message: "The server has as many connections open as it accepts; try again \
                          shortly"
                    .to_owned(),
                retry_after: 1,
            },
            Shed::Client => ApiError::RateLimited {
                message: "Too many connections open from this address; reuse or close some"
                    .to_owned(),
                retry_after: 1,
            },
        }
    }
}

/// The address a connection counts against: IPv4 (IPv4-mapped IPv6 included) as it is, IPv6
/// by its /64, since one host commonly holds a whole /64 and could otherwise open as many
/// connections as it has addresses.
fn client_key(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(v6) & !((1u128 << 64) - 1),
        )),
        v4 => v4,
    }
}

/// `error` as a whole HTTP/1.1 answer that ends the connection, for the accept loop, which
/// sheds a connection before any HTTP machinery is spent on it.
pub fn raw_http_close(error: &ApiError) -> Vec<u8> {
    let status = error.status();
    let body = error.envelope();
    let mut raw = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    if let Some(seconds) = error.retry_after() {
        raw.push_str(&format!("retry-after: {seconds}\r\n"));
    }
    raw.push_str("\r\n");
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(&body);
    raw
}

/// One admitted connection; dropping it frees its place.
pub struct ConnectionTicket {
    gate: Arc<ConnectionGate>,
    client: Option<IpAddr>,
}

impl ConnectionGate {
    pub fn new(limits: ConnectionLimits) -> Arc<ConnectionGate> {
        Arc::new(ConnectionGate {
            limits,
            open: AtomicUsize::new(0),
            per_client: Mutex::new(HashMap::new()),
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Takes a place for a connection from `peer`, or says why there is none.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<ConnectionTicket, Shed> {
        let peer = client_key(peer);
        // Only the accept loop adds, so a load then an add cannot overshoot.
        if self.open.load(Ordering::Relaxed) >= self.limits.total {
            return Err(Shed::Total);
        }
        let client = if self.limits.trusted.contains(&peer) {
            None
        } else {
            let mut per_client = lock(&self.per_client);
            let held = per_client.entry(peer).or_insert(0);
            if *held >= self.limits.per_client {
                return Err(Shed::Client);
            }
            *held += 1;
            Some(peer)
        };
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(ConnectionTicket {
            gate: self.clone(),
            client,
        })
    }
}

impl Drop for ConnectionTicket {
    fn drop(&mut self) {
        self.gate.open.fetch_sub(1, Ordering::Relaxed);
        if let Some(client) = self.client {
            let mut per_client = lock(&self.gate.per_client);
            // Entries go when their last connection does: the map holds open clients only.
            if let Some(held) = per_client.get_mut(&client) {
                *held -= 1;
                if *held == 0 {
                    per_client.remove(&client);
                }
            }
        }
    }
}

/// The body did not arrive within its time; the request is answered 408 and the connection
/// closed.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} s", .0.as_secs())]
pub struct BodyTimedOut(pub Duration);

/// A request body that fails with `BodyTimedOut` once `limit` has passed since the request's
/// headers arrived. The timer starts only when the body is first found not ready, so a request
/// whose body nobody reads (every GET) pays nothing for it.
pub struct DeadlineBody {
    inner: Incoming,
    started: Instant,
    limit: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl DeadlineBody {
    pub fn new(inner: Incoming, limit: Duration) -> DeadlineBody {
        DeadlineBody {
            inner,
            started: Instant::now(),
            limit,
            timer: None,
        }
    }
}

impl Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let deadline = this.started + this.limit;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.limit))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection whose writes must make progress: a write (or flush) that stays blocked for
/// `limit`, because the client stopped reading what it asked for, fails, and the connection
/// with it. hyper has no write timeout of its own, and without one a client that never reads
/// its answers holds its connection (and a descriptor) for ever.
pub struct WriteDeadline<S> {
    inner: S,
    limit: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteDeadline<S> {
    pub fn new(inner: S, limit: Duration) -> WriteDeadline<S> {
        WriteDeadline {
            inner,
            limit,
            stalled: None,
        }
    }

    /// `poll` went through (the client is reading): forget any stall. Still blocked: start the
    /// stall clock if it is not running, and fail once it has run out.
    fn progress<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading its answer",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for WriteDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.progress(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.progress(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.progress(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.progress(cx, poll)
    }
}

/// The `BodyTimedOut` behind a body error, if that is what it was.
pub fn timed_out<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e BodyTimedOut> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(timed_out) = e.downcast_ref::<BodyTimedOut>() {
            return Some(timed_out);
        }
        cause = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(total: usize, per_client: usize, trusted: &[&str]) -> Arc<ConnectionGate> {
        ConnectionGate::new(ConnectionLimits {
            total,
            per_client,
            trusted: trusted.iter().map(|t| t.parse().unwrap()).collect(),
        })
    }

    #[test]
    fn places_are_counted_per_client_and_in_total_and_freed_on_drop() {
        let gate = gate(4, 2, &["10.0.0.9"]);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let proxy: IpAddr = "10.0.0.9".parse().unwrap();
        let a1 = gate.admit(a).unwrap();
        let _a2 = gate.admit(a).unwrap();
        assert_eq!(gate.admit(a).err(), Some(Shed::Client));
        let b1 = gate.admit(b).unwrap();
        drop(a1);
        let _a3 = gate.admit(a).expect("a freed place is free again");
        drop(b1);
        let _p1 = gate.admit(proxy).unwrap();
        let _p2 = gate.admit(proxy).unwrap();
        assert_eq!(gate.open(), 4);
        assert_eq!(gate.admit(b).err(), Some(Shed::Total));
        assert_eq!(
            gate.admit(proxy).err(),
            Some(Shed::Total),
            "a trusted proxy is bound by the total only"
        );
        assert_eq!(
            gate.per_client.lock().unwrap().len(),
            1,
            "clients with no connection are forgotten, proxies are never counted"
        );
    }

    #[test]
    fn ipv6_clients_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let gate = gate(10, 2, &["10.0.0.9"]);
        let _one = gate.admit("2001:db8::1".parse().unwrap()).unwrap();
        let _two = gate.admit("2001:db8::2:3".parse().unwrap()).unwrap();
        assert_eq!(
            gate.admit("2001:db8::ffff:1".parse().unwrap()).err(),
            Some(Shed::Client),
            "one /64, one client"
        );
        assert!(gate.admit("2001:db8:0:1::1".parse().unwrap()).is_ok());
        let mapped_proxy: IpAddr = "::ffff:10.0.0.9".parse().unwrap();
        for _ in 0..3 {
            std::mem::forget(gate.admit(mapped_proxy).expect("the trusted proxy, mapped"));
        }
    }
}
