//! What the store says about itself: the health probe and the server's figures.

use super::RedisStore;
use crate::cache::CacheError;

/// What Redis says about itself, for stats and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisInfo {
    /// Cache entries under the prefix.
    pub entries: u64,
    /// `used_memory` of the whole server (of every primary, on a cluster).
    pub used_memory: u64,
    /// `maxmemory` (0: unbounded; added up over the primaries, on a cluster).
    pub maxmemory: u64,
    pub maxmemory_policy: String,
}

impl RedisStore {
    /// Writes, reads back and removes a probe of this instance's own.
    pub async fn health(&self) -> Result<(), CacheError> {
        let key = self.control_key("health", &self.inner.instance);
        let back: Option<String> = self
            .run("health", true, async |c| {
                redis::pipe()
                    .cmd("SET")
                    .arg(&key)
                    .arg("ok")
                    .arg("PX")
                    .arg(60_000)
                    .ignore()
                    .cmd("GET")
                    .arg(&key)
                    .cmd("DEL")
                    .arg(&key)
                    .ignore()
                    .query_async::<(Option<String>,)>(c)
                    .await
                    .map(|(v,)| v)
            })
            .await
            // A Redis that answers but refuses (full, read-only replica) is a degraded cache
            // too: requests go on to TMDB, the service is up.
            .map_err(|e| match e {
                CacheError::Store(message) => CacheError::Unavailable(message),
                other => other,
            })?;
        match back.as_deref() {
            Some("ok") => Ok(()),
            _ => Err(CacheError::Unavailable(
                "a probe written to Redis was not read back".to_owned(),
            )),
        }
    }

    /// Entries under the prefix (a SCAN count) and the memory figures from `INFO`: on a
    /// cluster, `used_memory` and `maxmemory` added up over the primaries (each bounds itself;
    /// replicas hold copies), and the policy of the first.
    pub async fn info(&self) -> Result<RedisInfo, CacheError> {
        let texts: Vec<String> = self
            .run("info", false, async |c| {
                let answers = c
                    .on_primaries(redis::cmd("INFO").arg("memory").clone())
                    .await?;
                answers
                    .into_iter()
                    .map(|(_, text)| Ok(redis::from_redis_value::<String>(text)?))
                    .collect()
            })
            .await?;
        let mut info = RedisInfo {
            entries: self.entries().await?,
            ..RedisInfo::default()
        };
        for text in &texts {
            let field = |name: &str| {
                text.lines()
                    .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                    .map(str::trim)
                    .unwrap_or_default()
                    .to_owned()
            };
            info.used_memory += field("used_memory").parse::<u64>().unwrap_or(0);
            info.maxmemory += field("maxmemory").parse::<u64>().unwrap_or(0);
            if info.maxmemory_policy.is_empty() {
                info.maxmemory_policy = field("maxmemory_policy");
            }
        }
        Ok(info)
    }
}
