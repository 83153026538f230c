//! One set of store-level tests (get, put, expiry, remove, clear by prefix, stats, scans and
//! batches), written once and run against both backends: `Store::Sled` in a temporary
//! directory and `Store::Redis` on a real `redis-server`. Time is a parameter, never slept.

use std::sync::Arc;
use std::time::Duration;

use reelcache::cache::hot::HotTier;
use reelcache::cache::{CacheKey, Lookup, PageCache, RedisStore, Shape, SledSlot, Store, envelope};
use reelcache::clock::Clock;
use reelcache::config::{RedisUrl, Settings};
use reelcache::counters::Counters;

use crate::redis_server::RedisServer;

const NOW: u64 = 1_800_000_000_000;
const TTL: Duration = Duration::from_secs(60);

/// A backend under test, with whatever keeps it alive.
pub struct Backend {
    pub cache: PageCache,
    _dir: tempfile::TempDir,
    _redis: Option<RedisServer>,
    _cluster: Option<crate::redis_cluster::RedisCluster>,
}

fn settings(dir: &std::path::Path) -> Settings {
    Settings::defaults_in(dir)
}

pub fn sled_backend() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let sled = SledSlot::open(dir.path(), &s.cache).expect("sled opens");
    Backend {
        cache: PageCache::new(
            Store::Sled(sled),
            Arc::new(Counters::default()),
            u64::MAX,
            HotTier::new(0, None),
        ),
        _dir: dir,
        _redis: None,
        _cluster: None,
    }
}

pub fn redis_backend() -> Backend {
    let server = RedisServer::start();
    let (cache, dir) = on_redis(&server.url(), "single");
    Backend {
        cache,
        _dir: dir,
        _redis: Some(server),
        _cluster: None,
    }
}

/// The same store on a Redis Cluster of three primaries (keys spread over every slot).
pub fn redis_cluster_backend() -> Backend {
    let cluster = crate::redis_cluster::RedisCluster::start();
    let (cache, dir) = on_redis(&cluster.url(), "cluster");
    Backend {
        cache,
        _dir: dir,
        _redis: None,
        _cluster: Some(cluster),
    }
}

/// A page cache on the Redis at `url`, whose topology must be `topology`.
fn on_redis(url: &str, topology: &str) -> (PageCache, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.cache.url = Some(RedisUrl::parse(url).unwrap());
    s.cache.redis_timeout = Duration::from_secs(5);
    // The entries' times are NOW; the store's clock decides their Redis TTL.
    let clock = Clock::frozen_at(NOW);
    let redis = RedisStore::open(&s.cache, s.resilience.stale_grace, clock, false).unwrap();
    assert_eq!(redis.topology(), topology);
    let cache = PageCache::new(
        Store::Redis(redis),
        Arc::new(Counters::default()),
        0,
        HotTier::new(0, None),
    );
    (cache, dir)
}

fn key(raw: &str) -> CacheKey {
    CacheKey::from_stored(raw.to_owned())
}

fn payload(i: u32) -> Vec<u8> {
    format!(r#"{{"id":{i},"title":"Film {i}","overview":"a film, a film, a film"}}"#).into_bytes()
}

async fn put(cache: &PageCache, k: &str, i: u32) {
    cache
        .put(&key(k), Shape::Object, &payload(i), NOW, TTL)
        .await;
}

pub async fn get_put_and_expiry(b: Backend) {
    let cache = &b.cache;
    assert!(matches!(
        cache.get(&key("movie:1"), NOW).await,
        Lookup::Miss
    ));
    assert!(cache.is_empty().await);
    put(cache, "movie:1", 1).await;
    assert!(!cache.is_empty().await);
    match cache.get(&key("movie:1"), NOW + 59_999).await {
        Lookup::Fresh(entry) => {
            assert_eq!(entry.render(b"", b"").unwrap(), payload(1));
            assert_eq!(entry.meta.stored_at_ms, NOW);
            assert_eq!(entry.meta.expires_at_ms, NOW + 60_000);
        }
        other => panic!("expected fresh, got {other:?}"),
    }
    // Past its TTL (the time is a parameter): kept, and reported as expired.
    assert!(matches!(
        cache.get(&key("movie:1"), NOW + 60_000).await,
        Lookup::Expired(_)
    ));
}

/// A put is stored at once with the fast compressor (format 1) and later swapped for the LZ4-HC +
/// dictionary encoding (format 2) of the same document, unless a newer put or a removal came first.
pub async fn puts_are_re_encoded_smaller_once_quiet_unless_changed_meanwhile(b: Backend) {
    let cache = &b.cache;
    let page =
        reelcache::dev::fake_tmdb::catalog::trending("day", 2, "en-US")["results"].to_string();
    let k = "trending_movies:day:page:2";
    cache
        .put(&key(k), Shape::Object, page.as_bytes(), NOW, TTL)
        .await;
    let Lookup::Fresh(first) = cache.get(&key(k), NOW).await else {
        panic!("stored before the put returns");
    };
    // Stored first with the fast compressor; the encoder thread, which works as jobs come, may
    // already have swapped in its encoding.
    assert!(
        [1, 2].contains(&first.encoded()[0]),
        "format {}",
        first.encoded()[0]
    );
    put(cache, "movie:3", 1).await;
    put(cache, "movie:3", 2).await;
    put(cache, "movie:4", 4).await;
    assert!(cache.remove(&key("movie:4")).await);

    assert!(
        cache.settle(Duration::from_secs(10)).await,
        "re-encoding finished"
    );
    let Lookup::Fresh(now) = cache.get(&key(k), NOW).await else {
        panic!("still stored");
    };
    assert_eq!(now.encoded()[0], 2, "re-encoded with the dictionary");
    assert_eq!(now.meta, first.meta, "the same entry");
    assert_eq!(now.render(b"", b"").unwrap(), page.as_bytes());
    assert!(
        (now.encoded().len() as f64) < 0.40 * page.len() as f64,
        "{} stored bytes for {} raw",
        now.encoded().len(),
        page.len()
    );
    assert!(now.encoded().len() <= first.encoded().len());
    let Lookup::Fresh(newest) = cache.get(&key("movie:3"), NOW).await else {
        panic!("stored");
    };
    assert_eq!(
        newest.render(b"", b"").unwrap(),
        payload(2),
        "an older put's re-encoding does not overwrite a newer put"
    );
    assert!(
        matches!(cache.get(&key("movie:4"), NOW).await, Lookup::Miss),
        "a removal is not undone by the re-encoding of what it removed"
    );
}

pub async fn replace_and_remove(b: Backend) {
    let cache = &b.cache;
    put(cache, "movie:2", 1).await;
    put(cache, "movie:2", 2).await;
    let Lookup::Fresh(entry) = cache.get(&key("movie:2"), NOW).await else {
        panic!("stored");
    };
    assert_eq!(
        entry.render(b"", b"").unwrap(),
        payload(2),
        "the last put wins"
    );
    assert!(cache.remove(&key("movie:2")).await);
    assert!(matches!(
        cache.get(&key("movie:2"), NOW).await,
        Lookup::Miss
    ));
    assert!(!cache.remove(&key("movie:2")).await, "already gone");
}

pub async fn clear_by_prefix(b: Backend) {
    let cache = &b.cache;
    for i in 0..3 {
        put(cache, &format!("movie:{i}"), i).await;
        put(cache, &format!("trending_movies:day:page:{i}"), i).await;
    }
    put(cache, "movies_of_another_kind:1", 9).await;
    assert_eq!(cache.clear_prefix("movie:").await.unwrap(), 3);
    assert!(matches!(
        cache.get(&key("movie:1"), NOW).await,
        Lookup::Miss
    ));
    assert!(matches!(
        cache.get(&key("movies_of_another_kind:1"), NOW).await,
        Lookup::Fresh(_)
    ));
    assert!(matches!(
        cache.get(&key("trending_movies:day:page:1"), NOW).await,
        Lookup::Fresh(_)
    ));
    assert_eq!(cache.clear_prefix("").await.unwrap(), 4);
    assert!(cache.is_empty().await);
}

pub async fn stats_count_entries_and_bytes(b: Backend) {
    let cache = &b.cache;
    for i in 0..4 {
        put(cache, &format!("movie:{i}"), i).await;
    }
    put(cache, "trending_movies:week:page:1", 7).await;
    // Entries are re-encoded (smaller) once the store is quiet: counted after that, so the
    // stats and the scan below see the same bytes.
    assert!(
        cache.settle(Duration::from_secs(10)).await,
        "re-encoded in time"
    );
    let stats = cache.stats().await.unwrap();
    assert_eq!(stats.entries, 5);
    let movies = &stats.namespaces["movie"];
    assert_eq!(movies.entries, 4);
    let raw: u64 = (0..4).map(|i| payload(i).len() as u64).sum();
    assert_eq!(movies.raw_bytes, raw);
    let stored: u64 = cache
        .scan_blocking_async("movie:")
        .await
        .iter()
        .map(|(_, v)| v.len() as u64)
        .sum();
    assert_eq!(movies.stored_bytes, stored);
    assert_eq!(stats.namespaces["trending_movies"].entries, 1);
    assert_eq!(stats.namespaces["search_movies"].entries, 0);
    assert_eq!(stats.backend, cache.backend());
}

pub async fn scans_and_batches_hold_the_exact_envelope(b: Backend) {
    let cache = &b.cache;
    let meta = envelope::EntryMeta {
        stored_at_ms: NOW,
        expires_at_ms: NOW + 3_600_000,
        etag: 0,
        shape: Shape::Object,
        raw_len: 0,
    };
    let batch: Vec<(CacheKey, Vec<u8>)> = (0..50)
        .map(|i| {
            (
                key(&format!("movie:{i}")),
                envelope::encode(meta, &payload(i)),
            )
        })
        .collect();
    let expected = batch.clone();
    let importer = cache.clone();
    tokio::task::spawn_blocking(move || importer.put_batch_blocking(batch))
        .await
        .unwrap()
        .unwrap();
    let mut found = cache.scan_blocking_async("movie:").await;
    found.sort();
    let mut expected: Vec<(String, Vec<u8>)> = expected
        .into_iter()
        .map(|(k, v)| (k.as_str().to_owned(), v))
        .collect();
    expected.sort();
    assert_eq!(
        found, expected,
        "the same envelope bytes, whatever the backend"
    );
}

/// `scan_blocking` from the blocking pool, as snapshots and offline search use it.
trait ScanAll {
    async fn scan_blocking_async(&self, prefix: &str) -> Vec<(String, Vec<u8>)>;
}

impl ScanAll for PageCache {
    async fn scan_blocking_async(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        let cache = self.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || {
            cache
                .scan_blocking(&prefix)
                .map(|item| item.map(|(k, v)| (k, v.to_vec())))
                .collect::<Result<Vec<_>, _>>()
                .expect("the scan succeeds")
        })
        .await
        .unwrap()
    }
}
