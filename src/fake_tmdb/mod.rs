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
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    behaviours: Mutex<Vec<(String, Behaviour)>>,
    credential: Option<String>,
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
        self.shared.requests.lock().expect("not poisoned").clone()
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

    pub fn total(&self) -> usize {
        self.shared.requests.lock().expect("not poisoned").len()
    }

    /// From now on, answer paths starting with `prefix` this way (the latest rule wins).
    pub fn set(&self, prefix: &str, behaviour: Behaviour) {
        self.shared
            .behaviours
            .lock()
            .expect("not poisoned")
            .insert(0, (prefix.to_owned(), behaviour));
    }

    /// Back to normal answers everywhere.
    pub fn reset(&self) {
        self.shared.behaviours.lock().expect("not poisoned").clear();
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
    shared
        .requests
        .lock()
        .expect("not poisoned")
        .push(recorded.clone());

    let behaviour = shared
        .behaviours
        .lock()
        .expect("not poisoned")
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix.as_str()))
        .map(|(_, b)| b.clone());
    match behaviour {
        Some(Behaviour::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return tmdb_error(
                status,
                11,
                "Internal error: Something went wrong, contact TMDB.",
            );
        }
        Some(Behaviour::Body(body)) => {
            return warp::reply::Response::new(body.into());
        }
        Some(Behaviour::Delay(delay)) => tokio::time::sleep(delay).await,
        None => {}
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
