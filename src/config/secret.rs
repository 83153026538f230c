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

/// A Redis URL whose password never appears in Debug, Display or logs (they show
/// `redis://:REDACTED@host:port/db`): one server, `redis://[:password@]host:port/db` (or
/// `rediss://` for TLS), or a Redis Cluster, `redis+cluster://[:password@]host:port,host:port,...`
/// (or `rediss+cluster://`): the seed nodes, any of which tells the client the whole topology.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(Secret);

/// The cluster schemes and the per-node scheme each stands for.
const CLUSTER_SCHEMES: [(&str, &str); 2] =
    [("redis+cluster", "redis"), ("rediss+cluster", "rediss")];

impl RedisUrl {
    /// Checks the scheme and the hosts; the driver parses the rest when it connects.
    pub fn parse(raw: &str) -> Result<RedisUrl, String> {
        let url = RedisUrl(Secret::new(raw));
        if url.cluster_parts().is_some() {
            return match url.cluster_seeds() {
                Some(seeds) if !seeds.is_empty() => Ok(url),
                _ => Err(format!(
                    "'{url}' must list the cluster's nodes as host:port, like \
                     redis+cluster://:PASSWORD@10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379"
                )),
            };
        }
        let parsed = Url::parse(raw).map_err(|_| {
            format!(
                "'{}' is not a URL like redis://127.0.0.1:6379/0",
                redact_url(raw)
            )
        })?;
        if !matches!(parsed.scheme(), "redis" | "rediss") || parsed.host().is_none() {
            return Err(format!(
                "'{}' must be a redis:// or rediss:// URL with a host, or a redis+cluster:// \
                 URL listing a cluster's nodes",
                redact_url(raw)
            ));
        }
        Ok(url)
    }

    /// The full URL, password included: only for the Redis driver.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// (node scheme, userinfo with its `@` or "", the node list) of a cluster URL.
    fn cluster_parts(&self) -> Option<(&'static str, &str, &str)> {
        let raw = self.0.expose();
        let (scheme, rest) = raw.split_once("://")?;
        let node_scheme = CLUSTER_SCHEMES
            .iter()
            .find(|(cluster, _)| cluster.eq_ignore_ascii_case(scheme))?
            .1;
        let rest = rest.trim_end_matches('/').trim_end_matches("/0");
        let (userinfo, nodes) = match rest.rsplit_once('@') {
            Some((userinfo, nodes)) => (&rest[..=userinfo.len()], nodes),
            None => ("", rest),
        };
        Some((node_scheme, userinfo, nodes))
    }

    /// A cluster URL's seed nodes, each as a URL of its own (`redis://:password@host:port`);
    /// `None` for a single server. Empty when a node is not `host:port`.
    pub fn cluster_seeds(&self) -> Option<Vec<String>> {
        let (scheme, userinfo, nodes) = self.cluster_parts()?;
        let mut seeds = Vec::new();
        for node in nodes.split(',').map(str::trim) {
            let valid = node
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !valid {
                return Some(Vec::new());
            }
            seeds.push(format!("{scheme}://{userinfo}{node}"));
        }
        Some(seeds)
    }

    /// The URL as it may be shown: the password replaced by `REDACTED`.
    fn redacted(&self) -> String {
        match self.cluster_parts() {
            Some((_, userinfo, nodes)) => {
                let scheme = self.0.expose().split_once("://").map_or("", |p| p.0);
                let userinfo = match userinfo.split_once(':') {
                    Some((user, _)) => format!("{user}:REDACTED@"),
                    None if userinfo.is_empty() => String::new(),
                    None => "REDACTED@".to_owned(),
                };
                format!("{scheme}://{userinfo}{nodes}")
            }
            None => redact_url(self.0.expose()),
        }
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
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
        Err(_) => {
            // A cluster URL lists several hosts, which no URL parser takes.
            let cluster = RedisUrl(Secret::new(raw));
            if cluster.cluster_parts().is_some() {
                cluster.redacted()
            } else {
                "[redacted]".to_owned()
            }
        }
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
