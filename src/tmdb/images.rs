//! TMDB's image server: where it is (`/configuration`'s `images.secure_base_url`) and one image
//! fetched from it, bounded in size and checked to be the image its name says.
//!
//! The image server is another host with limits of its own (20 connections per address), so it
//! has a budget of its own, built from the same settings as the API's: its rate, its in-flight
//! cap, its breaker. A failing image host never opens the API's breaker, nor the reverse.

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use tokio::time::Instant;

use super::{TmdbClient, TmdbError};
use crate::counters::Counters;
use crate::domain::Requester;
use crate::domain::image::{ImagePath, ImageType};

/// Where TMDB's images are when `/configuration` cannot be asked.
pub const DEFAULT_BASE_URL: &str = "https://image.tmdb.org/t/p/";
/// The longest base URL taken from `/configuration` (an upstream value is data).
const MAX_BASE_URL: usize = 256;
const RETRY_DELAY: Duration = Duration::from_millis(200);

/// `images.secure_base_url` (else `base_url`) of a `/configuration` body, when it is an http(s)
/// URL of plausible length; it ends with `/`.
pub fn base_url_of(configuration: &[u8]) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_slice(configuration).ok()?;
    let images = doc.get("images")?;
    let url = images
        .get("secure_base_url")
        .and_then(|v| v.as_str())
        .or_else(|| images.get("base_url").and_then(|v| v.as_str()))?;
    normalise_base_url(url)
}

/// `url` with one trailing `/`, when it is an absolute http(s) URL without query or fragment.
pub fn normalise_base_url(url: &str) -> Option<String> {
    let url = url.trim();
    if url.len() > MAX_BASE_URL {
        return None;
    }
    let parsed = reqwest::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
        || !parsed.username().is_empty()
    {
        return None;
    }
    let mut url = url.trim_end_matches('/').to_owned();
    url.push('/');
    Some(url)
}

impl TmdbClient {
    /// TMDB's `/configuration`: where its images are served from.
    pub async fn image_base_url(&self, who: Requester) -> Result<String, TmdbError> {
        let body = self.get("/configuration", &[], who).await?;
        base_url_of(&body).ok_or_else(|| {
            TmdbError::InvalidBody("/configuration has no usable images.secure_base_url".into())
        })
    }

    /// `{base}{size}/{file}` from TMDB's image server: at most `max_bytes`, and only when the
    /// bytes are the image type the file name says (whatever `Content-Type` claims). One retry
    /// for what may pass, within `deadline`.
    pub async fn get_image(
        &self,
        base: &str,
        path: &ImagePath,
        max_bytes: u64,
        deadline: Duration,
        who: Requester,
    ) -> Result<Bytes, TmdbError> {
        let deadline = Instant::now() + deadline;
        let url = reqwest::Url::parse(&format!("{base}{path}"))
            .map_err(|_| TmdbError::Transport("invalid image URL".to_owned()))?;
        let mut attempt = 0;
        loop {
            let result = self
                .image_attempt(url.clone(), path, max_bytes, deadline, who)
                .await;
            match result {
                Err(e) if e.is_retryable() && attempt < 1 => {
                    if Instant::now() + RETRY_DELAY >= deadline {
                        return Err(e);
                    }
                    Counters::incr(&self.counters.retries);
                    tokio::time::sleep(RETRY_DELAY).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn image_attempt(
        &self,
        url: reqwest::Url,
        path: &ImagePath,
        max_bytes: u64,
        deadline: Instant,
        who: Requester,
    ) -> Result<Bytes, TmdbError> {
        let admission = self.image_budget.admit(deadline, who).await?;
        Counters::incr(&self.counters.image_upstream_calls);
        let started = Instant::now();
        let result = match tokio::time::timeout_at(
            deadline,
            self.send_image(self.http.get(url), path, max_bytes),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(TmdbError::Timeout),
        };
        drop(admission);
        self.image_budget.record(&result);
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &result {
            Ok(bytes) => tracing::debug!(%path, elapsed_ms, bytes = bytes.len(), "image ok"),
            Err(error) => {
                Counters::incr(&self.counters.image_upstream_errors);
                tracing::warn!(%path, elapsed_ms, %error, "image fetch failed");
            }
        }
        result
    }

    async fn send_image(
        &self,
        request: reqwest::RequestBuilder,
        path: &ImagePath,
        max_bytes: u64,
    ) -> Result<Bytes, TmdbError> {
        let mut response = request.send().await.map_err(super::client::classify)?;
        match response.status() {
            StatusCode::OK => {}
            // The image server's 404 is not TMDB's JSON: any 404 there means no such image.
            StatusCode::NOT_FOUND => return Err(TmdbError::NotFound),
            StatusCode::TOO_MANY_REQUESTS => {
                return Err(TmdbError::RateLimited { retry_after: None });
            }
            other => return Err(TmdbError::Status(other.as_u16())),
        }
        let headers = response.headers();
        if let Some(kind) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
            && !kind.trim_start().to_ascii_lowercase().starts_with("image/")
        {
            return Err(TmdbError::InvalidBody(format!(
                "the image server answered {} instead of an image",
                kind.chars().take(40).collect::<String>()
            )));
        }
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let too_big =
            || TmdbError::InvalidBody(format!("the image is larger than {max_bytes} bytes"));
        if declared.is_some_and(|n| n > max_bytes) {
            return Err(too_big());
        }
        // What the sender declares is reserved up to 256 KiB, never more: a declared length
        // is a claim, the chunks are what arrive.
        let mut body = Vec::with_capacity(
            declared.unwrap_or(64 * 1024).min(max_bytes).min(256 * 1024) as usize,
        );
        while let Some(chunk) = response.chunk().await.map_err(super::client::classify)? {
            if (body.len() + chunk.len()) as u64 > max_bytes {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        match ImageType::sniff(&body) {
            Some(kind) if kind == path.expected_type() => Ok(Bytes::from(body)),
            Some(kind) => Err(TmdbError::InvalidBody(format!(
                "the image server sent {} for a .{} name",
                kind.mime(),
                path.file().rsplit('.').next().unwrap_or("")
            ))),
            None => Err(TmdbError::InvalidBody(
                "the image server's answer is not an image".to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_only_plausible_base_urls_from_the_configuration() {
        let doc = br#"{"images":{"base_url":"http://image.tmdb.org/t/p/","secure_base_url":"https://image.tmdb.org/t/p/","poster_sizes":["w92"]}}"#;
        assert_eq!(
            base_url_of(doc).as_deref(),
            Some("https://image.tmdb.org/t/p/")
        );
        let plain = br#"{"images":{"base_url":"http://127.0.0.1:9/t/p"}}"#;
        assert_eq!(
            base_url_of(plain).as_deref(),
            Some("http://127.0.0.1:9/t/p/")
        );
        for bad in [
            r#"{"images":{"secure_base_url":"file:///etc/"}}"#,
            r#"{"images":{"secure_base_url":"javascript:alert(1)"}}"#,
            r#"{"images":{"secure_base_url":"https://a/?q=1"}}"#,
            r#"{"images":{"secure_base_url":"https://user:pw@a/"}}"#,
            r#"{"images":{"secure_base_url":42}}"#,
            r#"{"images":{}}"#,
            r#"[]"#,
            "not json",
        ] {
            assert_eq!(base_url_of(bad.as_bytes()), None, "{bad}");
        }
        let long = format!(
            r#"{{"images":{{"secure_base_url":"https://a/{}"}}}}"#,
            "x".repeat(300)
        );
        assert_eq!(base_url_of(long.as_bytes()), None);
    }
}
