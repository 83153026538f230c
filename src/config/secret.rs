//! Values that must never be printed: the TMDB credential, the signing secret, a Redis URL
//! that may hold a password.

use std::fmt;

use reqwest::Url;

/// A value that must never be printed: Debug and Display redact it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A Redis URL (`redis://[:password@]host:port/db` or `rediss://...`) whose password never
/// appears in Debug, Display or logs: they show `redis://:REDACTED@host:port/db`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(Secret);

impl RedisUrl {
    /// Checks the scheme and the host; the driver parses the rest when it connects.
    pub fn parse(raw: &str) -> Result<RedisUrl, String> {
        let url = Url::parse(raw).map_err(|_| {
            format!(
                "'{}' is not a URL like redis://127.0.0.1:6379/0",
                redact_url(raw)
            )
        })?;
        if !matches!(url.scheme(), "redis" | "rediss") || url.host().is_none() {
            return Err(format!(
                "'{}' must be a redis:// or rediss:// URL with a host",
                redact_url(raw)
            ));
        }
        Ok(RedisUrl(Secret::new(raw)))
    }

    /// The full URL, password included: only for the Redis driver.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(self.0.expose()))
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(self.0.expose()))
    }
}

/// A PostgreSQL URL (`postgres://user[:password]@host[:port]/database[?sslmode=...]`) whose
/// password never appears in Debug, Display or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(Secret);

impl DatabaseUrl {
    /// Checks the scheme, the host and the database name; the driver parses the rest (and
    /// refuses what it does not know, such as an `sslmode` other than disable, prefer or
    /// require) when it connects.
    pub fn parse(raw: &str) -> Result<DatabaseUrl, String> {
        let example = "postgres://reelcache:PASSWORD@127.0.0.1:5432/reelcache";
        let url = Url::parse(raw)
            .map_err(|_| format!("'{}' is not a URL like {example}", redact_url(raw)))?;
        let database = url.path().trim_start_matches('/');
        if !matches!(url.scheme(), "postgres" | "postgresql")
            || url.host().is_none()
            || database.is_empty()
        {
            return Err(format!(
                "'{}' must be a postgres:// URL with a host and a database, like {example}",
                redact_url(raw)
            ));
        }
        Ok(DatabaseUrl(Secret::new(raw)))
    }

    /// The full URL, password included: only for the driver.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// `host:port/database`, for logs and `/health/`.
    pub fn target(&self) -> String {
        match Url::parse(self.0.expose()) {
            Ok(url) => format!(
                "{}:{}{}",
                url.host_str().unwrap_or(""),
                url.port().unwrap_or(5432),
                url.path()
            ),
            Err(_) => "[unparsable]".to_owned(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(self.0.expose()))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(self.0.expose()))
    }
}

/// `raw` with the password of its userinfo replaced by `REDACTED` (or everything redacted when
/// it does not parse as a URL, since it may hold a password anyway).
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("REDACTED"));
            }
            url.to_string()
        }
        Err(_) => "[redacted]".to_owned(),
    }
}

/// How TMDB is told who we are. TMDB has two credentials that cannot be swapped: the short v3
/// key goes in `?api_key=`, the v4 read access token (a JWT, so it starts with `eyJ`) goes in
/// `Authorization: Bearer`. We pick the transport by shape, whichever variable held it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    ApiKey(Secret),
    Bearer(Secret),
}

impl Credential {
    pub fn from_shape(value: &str) -> Credential {
        if value.starts_with("eyJ") {
            Credential::Bearer(Secret::new(value))
        } else {
            Credential::ApiKey(Secret::new(value))
        }
    }

    pub fn secret(&self) -> &Secret {
        match self {
            Credential::ApiKey(s) | Credential::Bearer(s) => s,
        }
    }
}
