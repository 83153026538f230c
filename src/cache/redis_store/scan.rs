//! Walking the cache keys with SCAN (never KEYS): pages of keys, their values, clears, the
//! emptiness check and the (bounded, reused) count of entries.

use std::time::Instant;

use super::{BATCH, COUNT_BUDGET, COUNT_EVERY, RedisStore};
use crate::cache::CacheError;

/// Where a walk over the keys is: which primary (in the list taken when the walk started) and
/// where on it.
#[derive(Debug, Clone, Default)]
struct ScanCursor {
    nodes: Option<Vec<String>>,
    node: usize,
    position: u64,
}

impl ScanCursor {
    fn done(&self) -> bool {
        self.nodes
            .as_ref()
            .is_some_and(|nodes| self.node >= nodes.len())
    }
}

impl RedisStore {
    /// One SCAN round trip over the cache keys starting with `prefix`, on one node: the cursor
    /// to go on from (done at the end) and the keys found, without the store's prefix. Control
    /// keys are skipped. On a cluster the walk goes through every primary in turn (each holds
    /// its own slots; replicas hold copies), the primaries listed when the walk starts.
    async fn scan_page(
        &self,
        prefix: &str,
        mut cursor: ScanCursor,
    ) -> Result<(ScanCursor, Vec<String>), CacheError> {
        if cursor.nodes.is_none() {
            let nodes = self
                .run("scan", false, async |c| c.primaries().await)
                .await?;
            cursor.nodes = Some(nodes);
        }
        let nodes = cursor.nodes.as_deref().unwrap_or_default();
        let Some(node) = nodes.get(cursor.node) else {
            return Ok((cursor, Vec::new()));
        };
        let pattern = format!(
            "{}{}*",
            glob_escape(&self.inner.prefix),
            glob_escape(prefix)
        );
        let position = cursor.position;
        let (next, keys): (u64, Vec<String>) = self
            .run("scan", false, async |c| {
                let mut scan = redis::cmd("SCAN");
                scan.arg(position)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(BATCH);
                Ok(redis::from_redis_value(c.on_node(node, scan).await?)?)
            })
            .await?;
        let keys = keys
            .into_iter()
            .filter_map(|k| k.strip_prefix(&self.inner.prefix).map(str::to_owned))
            .filter(|k| !k.starts_with('@'))
            .collect();
        if next == 0 {
            cursor.node += 1;
        }
        cursor.position = next;
        Ok((cursor, keys))
    }

    /// The values of `keys` (cache keys without the prefix); `None` for those gone meanwhile.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let full: Vec<String> = keys.iter().map(|k| self.data_key(k)).collect();
        self.run("scan", false, async |c| {
            redis::cmd("MGET").arg(&full).query_async(c).await
        })
        .await
    }

    /// Every (key, bytes) under `prefix`, one batch at a time through `each`.
    pub async fn scan_each(
        &self,
        prefix: &str,
        mut each: impl FnMut(String, Vec<u8>),
    ) -> Result<(), CacheError> {
        let mut cursor = ScanCursor::default();
        loop {
            let (next, keys) = self.scan_page(prefix, cursor).await?;
            let values = self.get_many(&keys).await?;
            for (key, value) in keys.into_iter().zip(values) {
                if let Some(value) = value {
                    each(key, value);
                }
            }
            if next.done() {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Removes every cache entry under `prefix` with SCAN + UNLINK (never KEYS or FLUSHDB, and
    /// never a key outside the store's prefix); returns how many.
    pub async fn clear_prefix(&self, prefix: &str) -> Result<u64, CacheError> {
        let mut cursor = ScanCursor::default();
        let mut removed = 0;
        loop {
            let (next, keys) = self.scan_page(prefix, cursor).await?;
            if !keys.is_empty() {
                let full: Vec<String> = keys.iter().map(|k| self.data_key(k)).collect();
                let n: u64 = self
                    .run("clear", false, async |c| {
                        redis::cmd("UNLINK").arg(&full).query_async(c).await
                    })
                    .await?;
                removed += n;
            }
            if next.done() {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    /// Whether any cache entry exists under the prefix.
    pub async fn is_empty(&self) -> Result<bool, CacheError> {
        let mut cursor = ScanCursor::default();
        loop {
            let (next, keys) = self.scan_page("", cursor).await?;
            if !keys.is_empty() {
                return Ok(false);
            }
            if next.done() {
                return Ok(true);
            }
            cursor = next;
        }
    }

    /// Entries under the prefix: counted at most every `COUNT_EVERY`, within `COUNT_BUDGET`.
    pub(super) async fn entries(&self) -> Result<u64, CacheError> {
        let recent = *crate::sync::lock(&self.inner.counted);
        if let Some((at, n)) = recent
            && at.elapsed() < COUNT_EVERY
        {
            return Ok(n);
        }
        let count = async {
            let mut entries = 0;
            let mut cursor = ScanCursor::default();
            loop {
                let (next, keys) = self.scan_page("", cursor).await?;
                entries += keys.len() as u64;
                if next.done() {
                    return Ok::<u64, CacheError>(entries);
                }
                cursor = next;
            }
        };
        let entries = tokio::time::timeout(COUNT_BUDGET, count)
            .await
            .map_err(|_| CacheError::Unavailable("counting the entries took too long".into()))??;
        *crate::sync::lock(&self.inner.counted) = Some((Instant::now(), entries));
        Ok(entries)
    }
}

/// `raw` with Redis glob characters escaped, for `SCAN MATCH`.
fn glob_escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(glob_escape("reelcache:v1:"), "reelcache:v1:");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
