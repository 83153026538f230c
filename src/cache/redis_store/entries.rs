//! Reading and writing entries: one key at a time, or pipelines of `BATCH`.

use super::{BATCH, RedisStore};
use crate::cache::CacheError;

/// Compare-and-set of one entry, keeping its TTL (read with PTTL rather than SET's KEEPTTL,
/// which Redis 5 lacks; -1 is no TTL, offline).
pub(super) const REPLACE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
elseif ttl == -1 then
  redis.call('SET', KEYS[1], ARGV[2])
else
  return 0
end
return 1
";
impl RedisStore {
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let key = self.data_key(key);
        self.run("get", false, async |c| {
            redis::cmd("GET").arg(&key).query_async(c).await
        })
        .await
    }

    /// Milliseconds Redis should keep an entry expiring at `expires_at_ms`: until expiry + grace,
    /// or `None` for no TTL (offline). `Some(0)`: nothing could serve it any more.
    fn ttl_ms(&self, expires_at_ms: u64) -> Option<u64> {
        if self.inner.persist {
            return None;
        }
        let drop_at = expires_at_ms.saturating_add(self.inner.grace_ms);
        Some(drop_at.saturating_sub(self.inner.clock.now_ms()))
    }

    fn set_cmd(&self, pipe: &mut redis::Pipeline, key: &str, bytes: &[u8], expires_at_ms: u64) {
        let key = self.data_key(key);
        match self.ttl_ms(expires_at_ms) {
            None => pipe.cmd("SET").arg(&key).arg(bytes).ignore(),
            Some(0) => pipe.cmd("UNLINK").arg(&key).ignore(),
            Some(ttl) => pipe
                .cmd("SET")
                .arg(&key)
                .arg(bytes)
                .arg("PX")
                .arg(ttl)
                .ignore(),
        };
    }

    /// Stores `bytes` until `expires_at_ms` + stale grace.
    pub async fn put(&self, key: &str, bytes: &[u8], expires_at_ms: u64) -> Result<(), CacheError> {
        let mut pipe = redis::pipe();
        self.set_cmd(&mut pipe, key, bytes, expires_at_ms);
        self.run("put", false, async |c| pipe.query_async::<()>(c).await)
            .await
    }

    /// Replaces `old` with `new` under `key`, keeping its TTL, only if `old` is still what is
    /// stored: a removal or a newer write in between wins. `true` when replaced.
    pub async fn replace(&self, key: &str, old: &[u8], new: &[u8]) -> Result<bool, CacheError> {
        let key = self.data_key(key);
        let script = &self.inner.replace_script;
        self.run("replace", false, async |c| {
            script
                .key(&key)
                .arg(old)
                .arg(new)
                .invoke_async::<u64>(c)
                .await
        })
        .await
        .map(|replaced| replaced == 1)
    }

    /// Stores many (key, bytes, expires_at_ms) in pipelines of `BATCH`. A cluster takes a
    /// pipeline only for keys of one slot: there the writes of a batch go out concurrently, one
    /// each, over the one multiplexed connection per node.
    pub async fn put_many(&self, entries: &[(String, Vec<u8>, u64)]) -> Result<(), CacheError> {
        if self.topology() == "cluster" {
            for chunk in entries.chunks(BATCH) {
                futures_util::future::try_join_all(
                    chunk
                        .iter()
                        .map(|(key, bytes, expires)| self.put(key, bytes, *expires)),
                )
                .await?;
            }
            return Ok(());
        }
        for chunk in entries.chunks(BATCH) {
            let mut pipe = redis::pipe();
            for (key, bytes, expires) in chunk {
                self.set_cmd(&mut pipe, key, bytes, *expires);
            }
            self.run("put", false, async |c| pipe.query_async::<()>(c).await)
                .await?;
        }
        Ok(())
    }

    /// Removes `key`; `true` when it existed.
    pub async fn remove(&self, key: &str) -> Result<bool, CacheError> {
        let key = self.data_key(key);
        let removed: u64 = self
            .run("remove", false, async |c| {
                redis::cmd("UNLINK").arg(&key).query_async(c).await
            })
            .await?;
        Ok(removed > 0)
    }
}
