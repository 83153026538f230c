//! Layering (defaults, file, environment, flags) into raw values, then parsing them into
//! `Settings`, with errors that name the setting and where its value came from.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use super::parse::*;
use super::specs::flag_for;
use super::*;

/// The raw layered values, before parsing: what `config check` reports.
pub struct Resolved {
    values: BTreeMap<&'static str, (Option<String>, Origin)>,
}

impl Resolved {
    /// Defaults, then the file, then the environment, then flags. Empty environment values count
    /// as unset, as they do in most container tooling; how a setting is found in the environment
    /// (its variable, the older alias, a secret's `_FILE`) is `environment::read`.
    pub fn collect(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &FlagOverrides,
    ) -> Result<Resolved, ConfigError> {
        let file_values = match file {
            Some(path) => read_file(path)?,
            None => BTreeMap::new(),
        };
        let mut values = BTreeMap::new();
        for spec in SPECS {
            let mut value = (spec.default.map(str::to_owned), Origin::Default);
            if let (Some(v), Some(path)) = (file_values.get(spec.key), file) {
                value = (Some(v.clone()), Origin::File(path.to_owned()));
            }
            if let Some(found) = environment::read(spec, env)? {
                value = (Some(found.0), found.1);
            }
            if let Some((v, flag)) = flag_for(spec.key, flags) {
                value = (Some(v), Origin::Flag(flag));
            }
            values.insert(spec.key, value);
        }
        Ok(Resolved { values })
    }

    /// Each setting with its value (secrets redacted) and origin, in `SPECS` order.
    pub fn describe(&self) -> Vec<(&'static str, &'static str, String, Origin)> {
        SPECS
            .iter()
            .map(|spec| {
                let (value, origin) = &self.values[spec.key];
                let shown = match value {
                    None => "(not set)".to_owned(),
                    Some(v) => match spec.shown {
                        Shown::Plain => v.clone(),
                        Shown::Secret => "[redacted]".to_owned(),
                        Shown::UrlPassword => redact_url(v),
                    },
                };
                (spec.key, spec.env(), shown, origin.clone())
            })
            .collect()
    }

    fn parse<T>(
        &self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let (value, origin) = &self.values[key];
        match value {
            None => Ok(None),
            Some(raw) => parse(raw).map(Some).map_err(|reason| ConfigError::Invalid {
                setting: key,
                env: SPECS.iter().find(|s| s.key == key).map_or("", Spec::env),
                origin: origin.clone(),
                reason,
            }),
        }
    }

    /// Like `parse`, for settings that always have a default.
    fn required<T>(
        &self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        Ok(self
            .parse(key, parse)?
            .expect("every required setting has a default in SPECS"))
    }

    pub fn into_settings(self) -> Result<Settings, ConfigError> {
        let ttl = |key| self.required(key, parse_ttl);
        let data_dir: PathBuf = self.required("data_dir", |v| Ok(PathBuf::from(v)))?;
        let settings = Settings {
            offline: self.required("offline", parse_bool)?,
            seed_snapshot: self.required("seed_snapshot", |v| {
                Ok(match v.trim() {
                    "builtin" => SeedSnapshot::Builtin,
                    "none" => SeedSnapshot::None,
                    path => SeedSnapshot::File(data_dir.join(path)),
                })
            })?,
            listen: self.required("listen", |v| {
                v.parse::<SocketAddr>()
                    .map_err(|_| format!("'{v}' is not an address like 127.0.0.1:8000"))
            })?,
            data_dir,
            language: self.required("language", |v| {
                Language::parse(v).ok_or_else(|| format!("'{v}' is not a language like en-US"))
            })?,
            public_url: self.parse("public_url", parse_base_url)?,
            tmdb: TmdbSettings {
                base_url: self.required("tmdb.base_url", parse_base_url)?,
                credential: self.credential()?,
                connect_timeout: self.required("tmdb.connect_timeout", parse_duration)?,
                timeout: self.required("tmdb.timeout", parse_duration)?,
                rps: self.required("tmdb.rps", |v| {
                    v.parse::<NonZeroU32>()
                        .map_err(|_| format!("'{v}' is not a whole number of at least 1"))
                })?,
            },
            ttl: TtlSettings {
                trending: ttl("ttl.trending")?,
                recommendations: ttl("ttl.recommendations")?,
                details: ttl("ttl.details")?,
                user: ttl("ttl.user")?,
            },
            cache: CacheSettings {
                memory_bytes: self.required("cache.memory", |v| {
                    v.parse::<bytesize::ByteSize>()
                        .map(|b| b.as_u64())
                        .map_err(|_| format!("'{v}' is not a size like 64MiB"))
                })?,
                flush_every: self.required("cache.flush_every", parse_duration)?,
                max_bytes: self.required("cache.max_bytes", |v| {
                    v.parse::<bytesize::ByteSize>()
                        .map(|b| b.as_u64())
                        .map_err(|_| format!("'{v}' is not a size like 1GiB"))
                })?,
                sweep_every: self.required("cache.sweep_every", parse_duration)?,
                reopen_every: REOPEN_EVERY,
                hot_bytes: self.required("cache.hot_bytes", |v| {
                    v.parse::<bytesize::ByteSize>()
                        .map(|b| b.as_u64())
                        .map_err(|_| format!("'{v}' is not a size like 32MiB"))
                })?,
                url: self.parse("cache.url", RedisUrl::parse)?,
                redis_prefix: self.required("cache.redis_prefix", |v| {
                    if v.is_empty() || v.contains(['*', '?', '[', ']', '\\']) {
                        Err(format!(
                            "'{v}' must be non-empty and free of the glob characters *?[]\\"
                        ))
                    } else {
                        Ok(v.to_owned())
                    }
                })?,
                redis_timeout: self.required("cache.redis_timeout", parse_duration)?,
                redis_lock_ttl: self.required("cache.redis_lock_ttl", parse_duration)?,
            },
            resilience: ResilienceSettings {
                stale_grace: self.required("resilience.stale_grace", parse_duration)?,
                revalidate_window: self.required("resilience.revalidate_window", parse_duration)?,
                max_concurrency: self.required("resilience.max_concurrency", |v| {
                    parse_count(v, 1).map(|n| n as usize)
                })?,
                retries: self.required("resilience.retries", |v| parse_count(v, 0))?,
                deadline: self.required("resilience.deadline", parse_duration)?,
                breaker_threshold: self
                    .required("resilience.breaker_threshold", |v| parse_count(v, 1))?,
                breaker_cooldown: self.required("resilience.breaker_cooldown", parse_duration)?,
                prefetch: self.required("resilience.prefetch", parse_bool)?,
                max_retry_after: self.required("resilience.max_retry_after", parse_duration)?,
                stale_after: self.required("resilience.stale_after", parse_duration)?,
                client_share: self.required("resilience.client_share", |v| {
                    parse_count(v, 1).and_then(|n| {
                        (n <= 100)
                            .then_some(n)
                            .ok_or_else(|| format!("'{v}' is not a percentage from 1 to 100"))
                    })
                })?,
                shutdown_grace: self.required("resilience.shutdown_grace", parse_duration)?,
                shutdown_delay: self.required("resilience.shutdown_delay", parse_shutdown_delay)?,
            },
            http: HttpSettings {
                cors_origins: self.required("http.cors_origins", parse_origins)?,
                log_format: self.required("http.log_format", |v| match v {
                    "text" => Ok(LogFormat::Text),
                    "json" => Ok(LogFormat::Json),
                    _ => Err(format!("'{v}' is not one of: text, json")),
                })?,
                metrics: self.required("http.metrics", |v| match v {
                    "public" => Ok(MetricsAccess::Public),
                    "staff" => Ok(MetricsAccess::Staff),
                    "off" => Ok(MetricsAccess::Off),
                    _ => Err(format!("'{v}' is not one of: public, staff, off")),
                })?,
                header_timeout: self.required("http.header_timeout", parse_duration)?,
                body_timeout: self.required("http.body_timeout", parse_duration)?,
                max_connections: self.required("http.max_connections", |v| parse_count(v, 1))?
                    as usize,
                max_connections_per_client: self
                    .required("http.max_connections_per_client", |v| parse_count(v, 1))?
                    as usize,
                workers: self.required("http.workers", parse_auto_count)?,
            },
            clients: {
                let rps = self.required("clients.rps", |v| parse_count(v, 0))?;
                ClientSettings {
                    rps,
                    // A rate set alone brings its own burst: a few seconds' worth, never the
                    // default rate's.
                    burst: self
                        .required("clients.burst", |v| match v.trim() {
                            "auto" => Ok(None),
                            n => parse_count(n, 1)
                                .map(Some)
                                .map_err(|e| format!("{e}, or 'auto'")),
                        })?
                        .unwrap_or(rps.saturating_mul(BURST_SECONDS)),
                    trusted_proxies: self.required("clients.trusted_proxies", |v| {
                        v.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(|s| {
                                s.parse::<std::net::IpAddr>()
                                    .map_err(|_| format!("'{s}' is not an IP address"))
                            })
                            .collect()
                    })?,
                }
            },
            auth: AuthSettings {
                jwt_secret: self.parse("auth.jwt_secret", |v| {
                    if v.len() < 32 {
                        Err("a signing secret needs at least 32 characters".to_owned())
                    } else {
                        Ok(Secret::new(v))
                    }
                })?,
                access_ttl: self.required("auth.access_ttl", parse_ttl)?,
                refresh_ttl: self.required("auth.refresh_ttl", parse_ttl)?,
                hash_concurrency: self.required("auth.hash_concurrency", parse_auto_count)?,
                hash_wait: self.required("auth.hash_wait", parse_duration)?,
            },
            origins: self
                .values
                .iter()
                .map(|(key, (_, origin))| (*key, origin.clone()))
                .collect(),
        };
        Ok(settings)
    }

    /// The access token wins when both are set: it is TMDB's recommended credential.
    fn credential(&self) -> Result<Option<Credential>, ConfigError> {
        let check = |v: &str| {
            if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Err("the credential contains whitespace or control characters".to_owned())
            } else {
                Ok(Credential::from_shape(v))
            }
        };
        let token = self.parse("tmdb.access_token", check)?;
        let key = self.parse("tmdb.api_key", check)?;
        Ok(token.or(key))
    }

    #[cfg(test)]
    pub(crate) fn raw_for_test(&self, key: &'static str) -> Option<&str> {
        self.values[key].0.as_deref()
    }
}

/// Reads a TOML file into dotted keys (`[tmdb] timeout = "5s"` → `tmdb.timeout`). Numbers and
/// booleans become their text; unknown keys are refused so typos do not pass silently.
pub(super) fn read_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
        path: path.to_owned(),
        reason: e.kind().to_string(),
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: path.to_owned(),
            reason: e.message().to_owned(),
        })?;
    let mut out = BTreeMap::new();
    flatten("", &table, &mut out);
    if let Some(key) = out
        .keys()
        .find(|k| !SPECS.iter().any(|s| s.key == k.as_str()))
    {
        return Err(ConfigError::UnknownKey {
            path: path.to_owned(),
            key: key.clone(),
        });
    }
    Ok(out)
}

pub(super) fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}
