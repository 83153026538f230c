//! reelcache on a Redis Cluster: the page cache spread over three primaries, and a primary
//! killed under load. Requests must keep being answered (from TMDB or stale copies, as with a
//! Redis outage) and, once the replica has taken over, the cache must work again by itself on
//! the new topology.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reelcache::config::RedisUrl;

use crate::helpers::TestEnv;
use crate::redis_cluster::RedisCluster;

pub async fn a_primary_killed_under_load_fails_no_request_and_the_cache_follows() {
    let mut cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    let url = cluster.url();
    let on_cluster = |s: &mut reelcache::config::Settings| {
        s.cache.url = Some(RedisUrl::parse(&url).unwrap());
    };
    let (env_a, env_b) = (TestEnv::new().await, TestEnv::new().await);
    let a = env_a.spawn_with(on_cluster).await;
    let b = env_b.spawn_with(on_cluster).await;

    let health = a.get("/health/").await.json();
    assert_eq!(health["checks"]["cache"]["backend"], "redis");
    assert_eq!(health["checks"]["cache"]["topology"], "cluster");
    assert_eq!(health["checks"]["cache"]["status"], "ok");

    // Pages fetched by one instance are hits on the other: the keys live on all three shards.
    for page in 1..=12 {
        let path = format!("/api/movies/trending/?page={page}");
        assert_eq!(a.get(&path).await.x_cache(), "MISS");
        assert_eq!(
            b.get(&path).await.x_cache(),
            "HIT",
            "{path} from the cluster"
        );
    }

    // Load on both instances (hits and misses) while a primary dies and its replica takes over.
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for (worker, base) in [&a.base, &b.base, &a.base, &b.base].into_iter().enumerate() {
        let (stop, answered, failed) = (stop.clone(), answered.clone(), failed.clone());
        let (base, client) = (base.clone(), a.client.clone());
        load.push(tokio::spawn(async move {
            let started = Instant::now();
            let mut i = worker;
            // Bounded: stops when told, or after 60 s whatever happens.
            while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
                i += 4;
                let page = 1 + i % 200;
                let status = client
                    .get(format!("{base}/api/movies/trending/?page={page}"))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                answered.fetch_add(1, Ordering::Relaxed);
                if status != 200 {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (took, cluster) = tokio::task::spawn_blocking(move || {
        let took = cluster.kill_a_primary();
        (took, cluster)
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in load {
        worker.await.unwrap();
    }
    let (answered, failed) = (
        answered.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    eprintln!(
        "cluster failover: replica promoted {took:?} after the kill; {answered} requests during \
         the load, {failed} client errors"
    );
    assert!(answered > 50, "the load ran: {answered}");
    assert_eq!(failed, 0, "no client error while TMDB could answer");

    // The cache works again on the new topology: a page stored through one instance is a hit
    // on the other (whichever shard it lands on).
    crate::helpers::eventually("the cache to work on the new topology", || async {
        let page = 300 + rand_page();
        let path = format!("/api/movies/trending/?page={page}");
        a.get(&path).await.status == 200 && b.get(&path).await.x_cache() == "HIT"
    })
    .await;
    assert_eq!(cluster.primaries().len(), 3, "a replica took over");
    a.stop().await;
    b.stop().await;
}

/// A page number nobody asked for yet (each try of `eventually` needs a new one).
fn rand_page() -> u32 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed) as u32
}
