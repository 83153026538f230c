//! A fake TMDB v3 server on 127.0.0.1 serving the synthetic [`catalog`]. It answers the five
//! endpoints reelcache calls, checks the credential like TMDB (401 / code 7), validates `page`
//! like TMDB (400 / code 22), records every request it gets, and can be told to misbehave per
//! path. Tests use it in place of TMDB; `warm` runs against it to build the demo data.

pub mod catalog;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::oneshot;
use warp::Filter;
use warp::http::{HeaderMap, StatusCode};
use warp::path::FullPath;

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Path below `/3`, like `/trending/movie/day`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub authorization: Option<String>,
    pub accept_encoding: Option<String>,
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

fn tmdb_error(status: StatusCode, code: u32, message: &str) -> warp::reply::Response {
    let body = json!({"success": false, "status_code": code, "status_message": message});
    let mut response = warp::reply::Response::new(body.to_string().into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        warp::http::HeaderValue::from_static("application/json;charset=utf-8"),
    );
    response
}

fn ok_json(doc: &Value) -> warp::reply::Response {
    let mut response = warp::reply::Response::new(doc.to_string().into());
    response.headers_mut().insert(
        "content-type",
        warp::http::HeaderValue::from_static("application/json;charset=utf-8"),
    );
    response
}

async fn answer(
    shared: &Shared,
    full: &str,
    raw_query: &str,
    headers: &HeaderMap,
) -> warp::reply::Response {
    let _in_flight = InFlight::enter(shared);
    let path = full.strip_prefix("/3").unwrap_or(full).to_owned();
    let query: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let recorded = Recorded {
        path: path.clone(),
        query,
        authorization: header("authorization"),
        accept_encoding: header("accept-encoding"),
    };
    crate::sync::lock(&shared.requests).push(recorded.clone());

    let behaviour = {
        let mut rules = crate::sync::lock(&shared.rules);
        let found = rules
            .iter_mut()
            .find(|rule| path.starts_with(rule.prefix.as_str()) && rule.remaining != Some(0));
        found.map(|rule| {
            if let Some(n) = rule.remaining.as_mut() {
                *n -= 1;
            }
            rule.behaviour.clone()
        })
    };
    if let Some(behaviour) = behaviour
        && let Some(response) = misbehave(behaviour, &recorded).await
    {
        return response;
    }

    if let Some(expected) = &shared.credential {
        let bearer = recorded
            .authorization
            .as_deref()
            .and_then(|v| v.strip_prefix("Bearer "));
        if recorded.param("api_key") != Some(expected) && bearer != Some(expected) {
            return tmdb_error(
                StatusCode::UNAUTHORIZED,
                7,
                "Invalid API key: You must be granted a valid key.",
            );
        }
    }
    route(&recorded)
}

fn route(request: &Recorded) -> warp::reply::Response {
    let language = request.param("language").unwrap_or("en-US");
    let page = match request.param("page") {
        None => 1,
        Some(raw) => match raw.parse::<u32>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => {
                return tmdb_error(
                    StatusCode::BAD_REQUEST,
                    22,
                    "Invalid page: Pages start at 1 and max at 500. They are expected to be an integer.",
                );
            }
        },
    };
    let not_found = || {
        tmdb_error(
            StatusCode::NOT_FOUND,
            34,
            "The resource you requested could not be found.",
        )
    };
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let doc = match segments.as_slice() {
        ["trending", "movie", window @ ("day" | "week")] => {
            catalog::trending(window, page, language)
        }
        ["movie", "popular"] => catalog::popular(page, language),
        ["search", "movie"] => {
            catalog::search(request.param("query").unwrap_or(""), page, language)
        }
        ["movie", id] => match id.parse::<u32>() {
            Ok(id) if catalog::exists(id) => catalog::details(id, language),
            _ => return not_found(),
        },
        ["movie", id, "recommendations"] => match id.parse::<u32>() {
            Ok(id) if catalog::exists(id) => catalog::recommendations(id, page, language),
            _ => return not_found(),
        },
        _ => return not_found(),
    };
    ok_json(&doc)
}

/// The response a misbehaviour gives, or `None` to go on and answer normally (after a delay).
async fn misbehave(behaviour: Behaviour, request: &Recorded) -> Option<warp::reply::Response> {
    match behaviour {
        Behaviour::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some(tmdb_error(
                status,
                11,
                "Internal error: Something went wrong, contact TMDB.",
            ))
        }
        Behaviour::Body(body) => Some(warp::reply::Response::new(body.into())),
        Behaviour::Delay(delay) => {
            tokio::time::sleep(delay).await;
            None
        }
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            None
        }
        Behaviour::RateLimited(retry_after) => {
            let mut response = tmdb_error(
                StatusCode::TOO_MANY_REQUESTS,
                25,
                "Your request count (41) is over the allowed limit of 40.",
            );
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", warp::http::HeaderValue::from(seconds));
            }
            Some(response)
        }
        Behaviour::RateLimitedWith(value) => {
            let mut response = tmdb_error(
                StatusCode::TOO_MANY_REQUESTS,
                25,
                "Your request count (41) is over the allowed limit of 40.",
            );
            if let Ok(value) = warp::http::HeaderValue::from_str(&value) {
                response.headers_mut().insert("retry-after", value);
            }
            Some(response)
        }
        Behaviour::Reset => {
            let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
                Ok(bytes::Bytes::from_static(b"{\"page\":1,\"results\":[")),
                Err(std::io::Error::other("connection reset by the fake")),
            ];
            Some(warp::reply::Reply::into_response(warp::reply::stream(
                futures_util::stream::iter(chunks),
            )))
        }
        Behaviour::Truncated => {
            let full = route(request);
            let body = "{\"page\":1,\"results\":[{\"adult\":false,\"id\":1";
            let mut truncated = warp::reply::Response::new(body.into());
            *truncated.status_mut() = full.status();
            Some(truncated)
        }
    }
}
