//! The PostgreSQL URL (`postgres://user[:password]@host[:port]/database[?sslmode=...]`) and the
//! TLS it asks for. A secret (it may hold a password): Debug and Display redact it.
//!
//! `sslmode` as libpq reads it, with `require` stricter: `disable` (plain text), `prefer` (the
//! default: TLS when the server offers it, its certificate not checked, as libpq does; it only
//! keeps passive listeners out, since whoever can alter the traffic can also say "no TLS"),
//! `require`, `verify-ca` and `verify-full` (TLS always, the certificate verified against the
//! bundled web PKI roots, or the PEM file `sslrootcert` names, and the host name checked; libpq's
//! `require` checks nothing unless it finds a root certificate file). `allow` is refused: it
//! would try plain text first.

use std::fmt;
use std::path::PathBuf;

use reqwest::Url;

use super::secret::{Secret, redact_url};

/// How the connection to PostgreSQL is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTls {
    /// `sslmode=disable`.
    Disable,
    /// `sslmode=prefer` (and no `sslmode`): TLS when offered, certificate not checked.
    Prefer,
    /// `sslmode=require|verify-ca|verify-full`: TLS, certificate and host name verified against
    /// `roots` (a PEM file), or the bundled web PKI roots when `None`.
    Verify { roots: Option<PathBuf> },
}

#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    /// As given.
    raw: Secret,
    /// As the driver reads it: `sslmode` one of the three it knows, no `sslrootcert`.
    driver: Secret,
    tls: DatabaseTls,
}

impl DatabaseUrl {
    /// Checks the scheme, the host, the database name and the TLS parameters; the driver
    /// parses the rest (and refuses what it does not know) when it connects.
    pub fn parse(raw: &str) -> Result<DatabaseUrl, String> {
        let example = "postgres://reelcache:PASSWORD@127.0.0.1:5432/reelcache";
        let mut url = Url::parse(raw)
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
        let mut mode = None;
        let mut roots = None;
        let mut rest = Vec::new();
        for (key, value) in url.query_pairs() {
            match &*key {
                "sslmode" => mode = Some(value.into_owned()),
                // libpq's `system`: the trusted roots, here the bundled ones.
                "sslrootcert" if value == "system" => roots = None,
                "sslrootcert" if !value.is_empty() => roots = Some(PathBuf::from(&*value)),
                "sslrootcert" => return Err("sslrootcert must name a PEM file".to_owned()),
                _ => rest.push((key.into_owned(), value.into_owned())),
            }
        }
        let (tls, driver_mode) = match mode.as_deref().unwrap_or("prefer") {
            "disable" => (DatabaseTls::Disable, "disable"),
            "prefer" => (DatabaseTls::Prefer, "prefer"),
            "require" | "verify-ca" | "verify-full" => {
                (DatabaseTls::Verify { roots: None }, "require")
            }
            other => {
                return Err(format!(
                    "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
                ));
            }
        };
        let tls = match (tls, roots) {
            (DatabaseTls::Verify { .. }, roots) => DatabaseTls::Verify { roots },
            (_, Some(_)) => {
                return Err(
                    "sslrootcert needs sslmode=require, verify-ca or verify-full (with \
                     disable or prefer no certificate is checked)"
                        .to_owned(),
                );
            }
            (tls, None) => tls,
        };
        url.query_pairs_mut()
            .clear()
            .extend_pairs(rest)
            .append_pair("sslmode", driver_mode);
        Ok(DatabaseUrl {
            raw: Secret::new(raw),
            driver: Secret::new(url.as_str()),
            tls,
        })
    }

    /// The URL for the driver, password included: only for connecting.
    pub fn expose(&self) -> &str {
        self.driver.expose()
    }

    pub fn tls(&self) -> &DatabaseTls {
        &self.tls
    }

    /// `host:port/database`, for logs and `/health/`.
    pub fn target(&self) -> String {
        match Url::parse(self.raw.expose()) {
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
        f.write_str(&redact_url(self.raw.expose()))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(self.raw.expose()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver_query(url: &DatabaseUrl) -> String {
        Url::parse(url.expose())
            .unwrap()
            .query()
            .unwrap_or("")
            .to_owned()
    }

    #[test]
    fn sslmode_is_read_as_libpq_reads_it_and_require_verifies() {
        let base = "postgres://rc:pw@db.example:5432/accounts";
        let cases = [
            ("", DatabaseTls::Prefer, "sslmode=prefer"),
            ("?sslmode=disable", DatabaseTls::Disable, "sslmode=disable"),
            ("?sslmode=prefer", DatabaseTls::Prefer, "sslmode=prefer"),
            (
                "?sslmode=require",
                DatabaseTls::Verify { roots: None },
                "sslmode=require",
            ),
            (
                "?sslmode=verify-full&sslrootcert=/etc/ca%20dir/ca.pem&connect_timeout=3",
                DatabaseTls::Verify {
                    roots: Some(PathBuf::from("/etc/ca dir/ca.pem")),
                },
                "connect_timeout=3&sslmode=require",
            ),
            (
                "?sslrootcert=system&sslmode=verify-ca",
                DatabaseTls::Verify { roots: None },
                "sslmode=require",
            ),
        ];
        for (query, tls, driver) in cases {
            let url = DatabaseUrl::parse(&format!("{base}{query}")).unwrap();
            assert_eq!(url.tls(), &tls, "{query}");
            assert_eq!(driver_query(&url), driver, "{query}");
            assert!(url.expose().starts_with(base), "{}", url.expose());
        }
    }

    #[test]
    fn tls_parameters_that_would_mislead_are_refused() {
        let base = "postgres://rc:hunter2pass@db.example/accounts";
        for query in [
            "?sslmode=allow",
            "?sslmode=bogus",
            "?sslrootcert=/ca.pem",
            "?sslmode=prefer&sslrootcert=/ca.pem",
            "?sslmode=require&sslrootcert=",
        ] {
            let err = DatabaseUrl::parse(&format!("{base}{query}")).unwrap_err();
            assert!(
                err.contains("ssl") && !err.contains("hunter2pass"),
                "{query}: {err}"
            );
        }
    }
}
