//! A fake TMDB v3 server on 127.0.0.1 serving the synthetic [`catalog`]. It answers the five
//! endpoints reelcache calls, checks the credential like TMDB (401 / code 7), validates `page`
//! like TMDB (400 / code 22), records every request it gets, and can be told to misbehave per
//! path. Tests use it in place of TMDB; `warm` runs against it to build the demo data.

mod answer;
pub mod catalog;
mod poster;
mod words;

use answer::answer;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use warp::Filter;
use warp::http::HeaderMap;
use warp::path::FullPath;

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Path below `/3`, like `/trending/movie/day`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub authorization: Option<String>,
    pub accept_encoding: Option<String>,
    pub host: Option<String>,
}

impl Recorded {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How the fake answers requests whose path starts with a given prefix.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Answer with this HTTP status and a TMDB-style error body.
    Status(u16),
    /// Answer 200 with exactly these bytes.
    Body(String),
    /// Wait, then answer normally.
    Delay(Duration),
    /// Never answer (until the fake stops).
    Hang,
    /// 429 with TMDB's code 25, and `Retry-After` when given.
    RateLimited(Option<u64>),
    /// 429 with TMDB's code 25 and exactly this `Retry-After` value (an HTTP-date, garbage, a
    /// number too big for a clock).
    RateLimitedWith(String),
    /// Start a 200 and drop the connection half-way through the body.
    Reset,
    /// A 200 whose JSON stops half-way.
    Truncated,
}

struct Rule {
    prefix: String,
    behaviour: Behaviour,
    /// How many more requests it applies to; `None`: until reset.
    remaining: Option<usize>,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    rules: Mutex<Vec<Rule>>,
    credential: Option<String>,
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: std::sync::atomic::AtomicUsize,
    /// What `/movie/changes` lists, in order (a `None` is TMDB's occasional null id).
    changes: Mutex<Vec<Option<u32>>>,
    /// Titles changed by a test: details answer them instead of the catalogue's.
    retitled: Mutex<std::collections::HashMap<u32, String>>,
}

/// Counts a request as in flight for as long as it lives.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> InFlight<'a> {
        use std::sync::atomic::Ordering;
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

pub struct FakeTmdb {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeTmdb {
    /// Starts on a free loopback port. With `credential`, requests must carry it as `api_key` or
    /// as a Bearer token; without, any request is accepted.
    pub async fn start(credential: Option<&str>) -> std::io::Result<FakeTmdb> {
        Self::start_on("127.0.0.1:0".parse().expect("valid"), credential).await
    }

    pub async fn start_on(addr: SocketAddr, credential: Option<&str>) -> std::io::Result<FakeTmdb> {
        let shared = Arc::new(Shared {
            credential: credential.map(str::to_owned),
            ..Shared::default()
        });
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let routes = {
            let shared = shared.clone();
            warp::path::full()
                .and(warp::query::raw().or(warp::any().map(String::new)).unify())
                .and(warp::header::headers_cloned())
                .then(move |path: FullPath, query: String, headers: HeaderMap| {
                    let shared = shared.clone();
                    async move { answer(&shared, path.as_str(), &query, &headers).await }
                })
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(
            warp::serve(routes)
                .incoming(listener)
                .graceful(async {
                    let _ = stopped.await;
                })
                .run(),
        );
        Ok(FakeTmdb {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The base URL to configure as `TMDB_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}/3", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn requests(&self) -> Vec<Recorded> {
        crate::sync::lock(&self.shared.requests).clone()
    }

    /// How many requests had exactly this path.
    pub fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path == path).count()
    }

    /// How many requests had this path and `page` parameter.
    pub fn count_page(&self, path: &str, page: u32) -> usize {
        let page = page.to_string();
        self.requests()
            .iter()
            .filter(|r| r.path == path && r.param("page") == Some(&page))
            .count()
    }

    /// The most requests this fake was answering at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn total(&self) -> usize {
        crate::sync::lock(&self.shared.requests).len()
    }

    /// From now on, answer paths starting with `prefix` this way (the latest rule wins).
    pub fn set(&self, prefix: &str, behaviour: Behaviour) {
        self.add_rule(prefix, behaviour, None);
    }

    /// Answer the next `times` requests whose path starts with `prefix` this way.
    pub fn set_times(&self, prefix: &str, behaviour: Behaviour, times: usize) {
        self.add_rule(prefix, behaviour, Some(times));
    }

    fn add_rule(&self, prefix: &str, behaviour: Behaviour, remaining: Option<usize>) {
        crate::sync::lock(&self.shared.rules).insert(
            0,
            Rule {
                prefix: prefix.to_owned(),
                behaviour,
                remaining,
            },
        );
    }

    /// Back to normal answers everywhere.
    /// Gives movie `id` a new title, and lists it in `/movie/changes`, as TMDB does after an
    /// edit.
    pub fn change_title(&self, id: u32, title: &str) {
        crate::sync::lock(&self.shared.retitled).insert(id, title.to_owned());
        crate::sync::lock(&self.shared.changes).push(Some(id));
    }

    /// The title movie `id`'s details have now (a changed one, or the catalogue's).
    pub fn current_title(&self, id: u32) -> String {
        crate::sync::lock(&self.shared.retitled)
            .get(&id)
            .cloned()
            .unwrap_or_else(|| catalog::title(id))
    }

    /// Adds entries to `/movie/changes` without changing anything (ids of movies the catalogue
    /// may not hold, and nulls).
    pub fn list_changes(&self, ids: &[Option<u32>]) {
        crate::sync::lock(&self.shared.changes).extend_from_slice(ids);
    }

    pub fn reset(&self) {
        crate::sync::lock(&self.shared.rules).clear();
    }

    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeTmdb {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
