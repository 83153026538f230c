//! `TmdbClient`: one shared reqwest client (connection reuse, gzip, timeouts) behind one upstream
//! rate limiter. It knows how to authenticate and how to classify failures; it does not know
//! about caching.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, RETRY_AFTER};
use tokio::time::Instant;

use super::TmdbError;
use super::budget::{BudgetSettings, UpstreamBudget};
use super::hosts::Hosts;
use crate::config::{Credential, ResilienceSettings, TmdbSettings};
use crate::counters::Counters;
use crate::domain::Requester;

/// First retry delay; doubled for each further attempt, plus up to as much again of jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub struct TmdbClient {
    pub(super) http: reqwest::Client,
    hosts: Arc<Hosts>,
    credential: Option<Credential>,
    budget: Arc<UpstreamBudget>,
    /// TMDB's image server's own budget (`images.rs`).
    pub(super) image_budget: Arc<UpstreamBudget>,
    retries: u32,
    deadline: Duration,
    pub(super) counters: Arc<Counters>,
}

impl TmdbClient {
    pub fn new(
        settings: &TmdbSettings,
        resilience: &ResilienceSettings,
        counters: Arc<Counters>,
    ) -> Result<TmdbClient, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .gzip(true)
            .user_agent(concat!("reelcache/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let budget = BudgetSettings {
            rps: settings.rps,
            max_concurrency: resilience.max_concurrency,
            breaker_threshold: resilience.breaker_threshold,
            breaker_cooldown: resilience.breaker_cooldown,
            max_retry_after: resilience.max_retry_after,
            client_share: resilience.client_share,
        };
        Ok(TmdbClient {
            http,
            hosts: Arc::new(Hosts::new(&settings.base_urls)),
            credential: settings.credential.clone(),
            budget: Arc::new(UpstreamBudget::new(&budget)),
            image_budget: Arc::new(UpstreamBudget::new(&budget)),
            retries: resilience.retries,
            deadline: resilience.deadline,
            counters,
        })
    }

    /// Shares the request rate with every instance using `slots` (call right after `new`).
    pub fn share_rate(mut self, slots: Box<dyn super::budget::RateSlots>) -> Self {
        Arc::get_mut(&mut self.budget)
            .expect("the budget is not shared before the client is cloned")
            .share_rate(super::budget::SharedRate { slots });
        self
    }

    pub fn budget(&self) -> &UpstreamBudget {
        &self.budget
    }

    pub fn image_budget(&self) -> &UpstreamBudget {
        &self.image_budget
    }

    /// The base URLs, and the one requests go to now.
    pub fn hosts(&self) -> &Hosts {
        &self.hosts
    }

    pub fn has_credential(&self) -> bool {
        self.credential.is_some()
    }

    /// GETs `path` (like `/movie/550`) with `params` and returns the body of a 200, retrying what
    /// may pass (timeouts, connection failures, 5xx, 429 after its pause) with exponential backoff
    /// and jitter, all within one overall deadline. `who` is whose share of the budget it takes.
    pub async fn get(
        &self,
        path: &str,
        params: &[(&str, &str)],
        who: Requester,
    ) -> Result<Bytes, TmdbError> {
        let deadline = Instant::now() + self.deadline;
        let mut attempt = 0;
        // A host that cannot be reached hands the request to the next one at once, not
        // counted as a retry: once per other host.
        let mut failovers = self.hosts.all().len() - 1;
        loop {
            let (host, _) = self.hosts.pick();
            let result = self.attempt(path, params, deadline, who).await;
            match result {
                Err(TmdbError::Timeout | TmdbError::Transport(_))
                    if failovers > 0
                        && self.hosts.pick().0 != host
                        && Instant::now() < deadline =>
                {
                    failovers -= 1;
                    Counters::incr(&self.counters.upstream_failovers);
                }
                Err(e) if e.is_retryable() && attempt < self.retries => {
                    let base = BACKOFF_BASE * 2u32.pow(attempt);
                    let jitter = base.mul_f64(jitter_fraction());
                    let wake = Instant::now() + base + jitter;
                    if wake >= deadline {
                        return Err(e);
                    }
                    Counters::incr(&self.counters.retries);
                    tracing::debug!(path, attempt, error = %e, "retrying TMDB");
                    tokio::time::sleep_until(wake).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One request, admitted by the budget, bounded by `deadline`.
    async fn attempt(
        &self,
        path: &str,
        params: &[(&str, &str)],
        deadline: Instant,
        who: Requester,
    ) -> Result<Bytes, TmdbError> {
        let credential = self.credential.as_ref().ok_or(TmdbError::NoCredential)?;
        let (host, base_url) = self.hosts.pick();
        let mut url = reqwest::Url::parse(&format!("{base_url}{path}"))
            .map_err(|_| TmdbError::Transport("invalid TMDB URL".to_owned()))?;
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in params {
                query.append_pair(name, value);
            }
            if let Credential::ApiKey(key) = credential {
                query.append_pair("api_key", key.expose());
            }
        }
        let mut request = self
            .http
            .get(url)
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if let Credential::Bearer(token) = credential {
            let value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .map_err(|_| TmdbError::Transport("credential is not a valid header".into()))?;
            request = request.header(AUTHORIZATION, value);
        }

        let admission = match self.budget.admit(deadline, who).await {
            Ok(admission) => admission,
            Err(e) => {
                Counters::incr(&self.counters.upstream_errors);
                return Err(e);
            }
        };
        Counters::incr(&self.counters.upstream_calls);
        let started = Instant::now();
        let (result, out_of_time) =
            match tokio::time::timeout_at(deadline, self.send(request)).await {
                Ok(result) => (result, false),
                Err(_) => (Err(TmdbError::Timeout), true),
            };
        drop(admission);
        // The host's own failure (no connection, or no answer within the client's timeout),
        // not the request's deadline running out after a long wait for admission.
        if !out_of_time && matches!(result, Err(TmdbError::Timeout | TmdbError::Transport(_))) {
            self.hosts.failed(host);
        }
        self.budget.record(&result);
        let elapsed = started.elapsed().as_secs_f64();
        // Whole milliseconds in logs (a float would print as 37.245001).
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        crate::measure::upstream_call(
            match &result {
                Ok(_) => "ok",
                Err(TmdbError::NotFound) => "not_found",
                Err(TmdbError::Unauthorized) => "unauthorized",
                Err(TmdbError::RateLimited { .. }) => "rate_limited",
                Err(TmdbError::Timeout) => "timeout",
                Err(TmdbError::Status(_)) => "server_error",
                Err(_) => "error",
            },
            elapsed,
        );
        match &result {
            Ok(body) => tracing::debug!(path, elapsed_ms, bytes = body.len(), "tmdb ok"),
            Err(error) => {
                Counters::incr(&self.counters.upstream_errors);
                tracing::warn!(path, elapsed_ms, %error, "tmdb call failed");
            }
        }
        result
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Bytes, TmdbError> {
        let response = request.send().await.map_err(classify)?;
        let status = response.status();
        if status == StatusCode::OK {
            return read_bounded(response).await;
        }
        if status == StatusCode::NOT_FOUND {
            return Err(match says_not_found(response).await {
                true => TmdbError::NotFound,
                false => TmdbError::Status(404),
            });
        }
        Err(match status {
            StatusCode::UNAUTHORIZED => TmdbError::Unauthorized,
            StatusCode::TOO_MANY_REQUESTS => TmdbError::RateLimited {
                retry_after: response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| {
                        parse_retry_after(v, std::time::SystemTime::now(), self.budget.max_pause())
                    }),
            },
            other => TmdbError::Status(other.as_u16()),
        })
    }
}

/// The most a TMDB API body may hold: its pages are ~15 KB and its details a few; past this an
/// answer is a fault upstream, refused before it fills memory.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

async fn read_bounded(mut response: reqwest::Response) -> Result<Bytes, TmdbError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err(TmdbError::InvalidBody(format!(
            "larger than {MAX_BODY} bytes"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(TmdbError::InvalidBody(format!(
                "larger than {MAX_BODY} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// Whether a 404 is TMDB's own "no such resource" (`status_code` 34 in its JSON error body):
/// only that is stored as a negative entry and answered `MOVIE_NOT_FOUND`. A 404 without it (a
/// proxy's page, a wrong base URL) is a fault upstream, never remembered. Reads at most 16 KiB.
async fn says_not_found(mut response: reqwest::Response) -> bool {
    const MAX: usize = 16 * 1024;
    #[derive(serde::Deserialize)]
    struct TmdbStatus {
        status_code: u32,
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Ok(Some(_)) | Err(_) => return false,
        }
    }
    serde_json::from_slice::<TmdbStatus>(&body).is_ok_and(|s| s.status_code == 34)
}

/// A `Retry-After` value in whole seconds, clamped to `max`: delay-seconds (however many digits)
/// or an HTTP-date (a past date is 0). `None` for anything else, which gets the default pause.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime, max: Duration) -> Option<u64> {
    let max_s = max.as_secs_f64().ceil() as u64;
    let value = value.trim();
    let seconds = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still "a long time": the ceiling.
        value.parse::<u64>().unwrap_or(u64::MAX)
    } else {
        let date = httpdate::parse_http_date(value).ok()?;
        date.duration_since(now)
            .map_or(0, |wait| wait.as_secs_f64().ceil() as u64)
    };
    Some(seconds.min(max_s))
}

/// reqwest's Display includes the URL, and so the api_key: strip it before anything sees it.
pub(super) fn classify(err: reqwest::Error) -> TmdbError {
    if err.is_timeout() {
        TmdbError::Timeout
    } else if err.is_connect() {
        TmdbError::Transport("connection failed".to_owned())
    } else if err.is_decode() || err.is_body() {
        TmdbError::InvalidBody("the body could not be read".to_owned())
    } else {
        TmdbError::Transport(err.without_url().to_string())
    }
}

/// A number in [0, 1) that differs between calls: enough to spread retries apart.
fn jitter_fraction() -> f64 {
    let mut bytes = [0u8; 2];
    let _ = getrandom::fill(&mut bytes);
    f64::from(u16::from_le_bytes(bytes)) / 65536.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn retry_after_is_clamped_whatever_its_form() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let max = Duration::from_secs(60);
        let parse = |v: &str| parse_retry_after(v, now, max);
        assert_eq!(parse("3"), Some(3));
        assert_eq!(parse(" 7 "), Some(7));
        assert_eq!(parse("18446744073709551615"), Some(60));
        assert_eq!(parse("99999999999999999999999999"), Some(60));
        let in_10s = httpdate::fmt_http_date(now + Duration::from_secs(10));
        assert_eq!(parse(&in_10s), Some(10));
        let in_a_year = httpdate::fmt_http_date(now + Duration::from_secs(365 * 86_400));
        assert_eq!(parse(&in_a_year), Some(60));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(10));
        assert_eq!(parse(&past), Some(0));
        for garbage in ["", "soon", "-5", "1.5", "\u{7f}"] {
            assert_eq!(parse(garbage), None, "{garbage:?}");
        }
    }
}
