//! The parsers of setting values: each says what it wants in its error.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

use super::{Credential, LogFormat, MetricsAccess, Secret, SeedSnapshot};
use crate::domain::Language;

/// `*` (any origin) or comma-separated origins like `https://app.example.org`.
pub(super) fn parse_origins(raw: &str) -> Result<Option<Vec<String>>, String> {
    if raw.trim() == "*" {
        return Ok(None);
    }
    let origins: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            let url = parse_base_url(o)?;
            Ok(url)
        })
        .collect::<Result<_, String>>()?;
    if origins.is_empty() {
        return Err("give '*' or at least one origin".to_owned());
    }
    Ok(Some(origins))
}

/// A whole number of at least `min`.
/// `auto` (`None`) or a whole number of at least one.
pub(super) fn parse_auto_count(raw: &str) -> Result<Option<usize>, String> {
    match raw.trim() {
        "auto" => Ok(None),
        n => parse_count(n, 1)
            .map(|n| Some(n as usize))
            .map_err(|e| format!("{e}, or 'auto'")),
    }
}

/// `auth.hash_concurrency = "auto"` never takes more slots than this (~19 MiB each).
pub const HASH_SLOTS_AUTO_MAX: usize = 4;

/// `clients.burst = "auto"`: this many seconds of `clients.rps`.
pub const BURST_SECONDS: u32 = 5;

pub(super) fn parse_count(raw: &str, min: u32) -> Result<u32, String> {
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n >= min)
        .ok_or_else(|| format!("'{raw}' is not a whole number of at least {min}"))
}

pub(super) fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!(
            "'{raw}' is not one of 1/0, true/false, yes/no, on/off"
        )),
    }
}

/// Seconds (`3600`) or a human duration (`30s`, `15m`, `1h`, `1h30m`, `500ms`).
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let parsed = match raw.parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(raw),
    };
    match parsed {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be greater than zero".to_owned()),
        Err(_) => Err(format!(
            "'{raw}' is not a duration (seconds, or like 30s, 15m, 1h)"
        )),
    }
}

/// A duration, or `0` (`0s`, `0ms`) for "off".
pub(super) fn parse_duration_or_off(raw: &str) -> Result<Duration, String> {
    match raw.trim() {
        "0" | "0s" | "0ms" => Ok(Duration::ZERO),
        other => parse_duration(other),
    }
}

/// A delay that may be zero (off), bounded so a typo cannot keep a stopping server up for hours.
pub(super) fn parse_shutdown_delay(raw: &str) -> Result<Duration, String> {
    const MAX: Duration = Duration::from_secs(300);
    let delay = match raw.trim() {
        "0" | "0s" | "0ms" => Duration::ZERO,
        other => parse_duration(other)?,
    };
    if delay > MAX {
        return Err("must be at most 5m".to_owned());
    }
    Ok(delay)
}

/// TTLs are whole seconds on the wire (`max-age`), so anything under a second is refused.
pub(super) fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let d = parse_duration(raw)?;
    if d < Duration::from_secs(1) {
        return Err("a TTL must be at least 1s".to_owned());
    }
    Ok(d)
}

/// An http(s) URL without query or fragment, returned without a trailing slash so paths can be
/// appended to it.
pub(super) fn parse_base_url(raw: &str) -> Result<String, String> {
    let url = Url::parse(raw.trim_end_matches('/'))
        .map_err(|_| format!("'{raw}' is not an absolute URL like https://example.com"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("'{raw}' must be an http:// or https:// URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("'{raw}' must not have a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// The largest image fetched: a size up to what one image record holds (64 MiB).
pub(super) fn parse_image_file_bytes(raw: &str) -> Result<u64, String> {
    const MAX: u64 = crate::domain::image::MAX_IMAGE_BYTES as u64;
    match size_like("10MiB")(raw)? {
        0 => Err("the largest image must be at least 1 byte".to_owned()),
        n if n > MAX => Err(format!(
            "'{raw}' is more than an image record holds (64MiB)"
        )),
        n => Ok(n),
    }
}

/// TMDB's image server: an absolute http(s) URL, kept with one trailing `/` (image paths are
/// `{size}/{file}` below it).
pub(super) fn parse_image_base_url(raw: &str) -> Result<String, String> {
    Ok(format!("{}/", parse_base_url(raw)?))
}

/// One or more base URLs, comma-separated (at most 8), each as `parse_base_url` takes it.
pub(super) fn parse_base_urls(raw: &str) -> Result<Vec<String>, String> {
    let urls = raw
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(parse_base_url)
        .collect::<Result<Vec<_>, _>>()?;
    match urls.len() {
        0 => Err("at least one base URL is needed, like https://api.themoviedb.org/3".to_owned()),
        1..=8 => Ok(urls),
        _ => Err("at most 8 base URLs".to_owned()),
    }
}

pub(super) fn parse_listen(raw: &str) -> Result<SocketAddr, String> {
    raw.parse::<SocketAddr>()
        .map_err(|_| format!("'{raw}' is not an address like 127.0.0.1:8000"))
}

pub(super) fn parse_path(raw: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(raw))
}

pub(super) fn parse_language(raw: &str) -> Result<Language, String> {
    Language::parse(raw).ok_or_else(|| format!("'{raw}' is not a language like en-US"))
}

/// `builtin`, `none`, or a snapshot file (relative paths are in the data directory).
pub(super) fn parse_seed_snapshot(raw: &str, data_dir: &Path) -> SeedSnapshot {
    match raw.trim() {
        "builtin" => SeedSnapshot::Builtin,
        "none" => SeedSnapshot::None,
        path => SeedSnapshot::File(data_dir.join(path)),
    }
}

/// A TMDB credential, its transport chosen by its shape. The reason never holds the value.
pub(super) fn parse_credential(raw: &str) -> Result<Credential, String> {
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err("the credential contains whitespace or control characters".to_owned())
    } else {
        Ok(Credential::from_shape(raw))
    }
}

pub(super) fn parse_non_zero(raw: &str) -> Result<NonZeroU32, String> {
    raw.parse::<NonZeroU32>()
        .map_err(|_| format!("'{raw}' is not a whole number of at least 1"))
}

/// A size in bytes (`64MiB`, `1GiB`, `1000000`); the error shows `example`.
pub(super) fn size_like(example: &'static str) -> impl Fn(&str) -> Result<u64, String> {
    move |raw| {
        raw.parse::<bytesize::ByteSize>()
            .map(|b| b.as_u64())
            .map_err(|_| format!("'{raw}' is not a size like {example}"))
    }
}

/// Redis keys are cleared by `SCAN MATCH prefix*`, so the prefix must hold no glob character.
pub(super) fn parse_redis_prefix(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw.contains(['*', '?', '[', ']', '\\']) {
        Err(format!(
            "'{raw}' must be non-empty and free of the glob characters *?[]\\"
        ))
    } else {
        Ok(raw.to_owned())
    }
}

pub(super) fn parse_jwt_secret(raw: &str) -> Result<Secret, String> {
    if raw.len() < 32 {
        Err("a signing secret needs at least 32 characters".to_owned())
    } else {
        Ok(Secret::new(raw))
    }
}

pub(super) fn parse_percent(raw: &str) -> Result<u32, String> {
    parse_count(raw, 1).and_then(|n| {
        (n <= 100)
            .then_some(n)
            .ok_or_else(|| format!("'{raw}' is not a percentage from 1 to 100"))
    })
}

/// A number of pages, 0 to 500 (TMDB serves no page past 500).
pub(super) fn parse_pages(raw: &str) -> Result<u32, String> {
    parse_count(raw, 0).and_then(|n| {
        (n <= 500)
            .then_some(n)
            .ok_or_else(|| format!("'{raw}' is not a number of pages from 0 to 500"))
    })
}

/// Requests in flight at once, 1 to 64.
pub(super) fn parse_concurrency(raw: &str) -> Result<u32, String> {
    parse_count(raw, 1).and_then(|n| {
        (n <= 64)
            .then_some(n)
            .ok_or_else(|| format!("'{raw}' is not a concurrency from 1 to 64"))
    })
}

/// A whole multiple from 1 to 100.
pub(super) fn parse_factor(raw: &str) -> Result<u32, String> {
    parse_count(raw, 1).and_then(|n| {
        (n <= 100)
            .then_some(n)
            .ok_or_else(|| format!("'{raw}' is not a multiple from 1 to 100"))
    })
}

/// `auto` (`None`: `BURST_SECONDS` of the rate) or a whole number of at least one.
pub(super) fn parse_burst(raw: &str) -> Result<Option<u32>, String> {
    match raw.trim() {
        "auto" => Ok(None),
        n => parse_count(n, 1)
            .map(Some)
            .map_err(|e| format!("{e}, or 'auto'")),
    }
}

/// Comma-separated IP addresses (may be empty).
pub(super) fn parse_proxies(raw: &str) -> Result<Vec<std::net::IpAddr>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<std::net::IpAddr>()
                .map_err(|_| format!("'{s}' is not an IP address"))
        })
        .collect()
}

pub(super) fn parse_log_format(raw: &str) -> Result<LogFormat, String> {
    match raw {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("'{raw}' is not one of: text, json")),
    }
}

pub(super) fn parse_metrics(raw: &str) -> Result<MetricsAccess, String> {
    match raw {
        "public" => Ok(MetricsAccess::Public),
        "staff" => Ok(MetricsAccess::Staff),
        "off" => Ok(MetricsAccess::Off),
        _ => Err(format!("'{raw}' is not one of: public, staff, off")),
    }
}
