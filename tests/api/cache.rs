//! The page cache as users see it: expiry, restarts, damage on disk, and size.

use std::time::Duration;

use crate::helpers::TestEnv;

/// A miss is answered from the fetched bytes, before its entry is written: whoever asks while
/// the write is on the way gets the same document as a hit (TMDB asked once), and a graceful
/// stop waits for the write.
#[tokio::test]
async fn a_miss_is_answered_before_its_write_and_nobody_waits_for_it_or_fetches_again() {
    let env = TestEnv::new().await;
    // Requests do not wait for the writes they cause, as a quick client's would not.
    let app = env.spawn().await.unsettled();
    let page = "/api/movies/trending/?page=4";
    let miss = app.get(page).await;
    assert_eq!((miss.status, miss.x_cache()), (200, "MISS"));
    assert_eq!(
        miss.header("cache-status"),
        Some("reelcache; fwd=miss; stored; ttl=3600")
    );
    for _ in 0..5 {
        let again = app.get(page).await;
        assert_eq!((again.status, again.x_cache()), (200, "HIT"));
        assert_eq!(again.body, miss.body, "the same document");
        assert_eq!(again.header("etag"), miss.header("etag"));
    }
    assert_eq!(env.tmdb.count_page("/trending/movie/day", 4), 1);
    // Stopped at once: the stop waits for the write on the way.
    app.stop().await;

    let app = env.spawn().await;
    let after = app.get(page).await;
    assert_eq!((after.x_cache(), &after.body), ("HIT", &miss.body));
    let stats = app.state().cache.stats().await.unwrap();
    assert_eq!(stats.namespaces["trending_movies"].entries, 1);
    assert_eq!(env.tmdb.count_page("/trending/movie/day", 4), 1);
    app.stop().await;
}

#[tokio::test]
async fn an_entry_is_fresh_for_its_ttl_and_fetched_again_after() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let id = reelcache::dev::fake_tmdb::catalog::id_of(9);
    app.get("/api/movies/trending/?page=1").await;
    app.get(&format!("/api/movies/{id}/")).await;

    app.clock.advance(Duration::from_secs(3599));
    assert_eq!(
        app.get("/api/movies/trending/?page=1").await.x_cache(),
        "HIT"
    );
    // Past the TTL and past the stale-while-revalidate window (10 minutes): fetched again
    // before answering.
    app.clock.advance(Duration::from_secs(1 + 601));
    let refetched = app.get("/api/movies/trending/?page=1").await;
    assert_eq!((refetched.status, refetched.x_cache()), (200, "MISS"));
    assert_eq!(env.tmdb.count_page("/trending/movie/day", 1), 2);
    assert_eq!(
        app.get("/api/movies/trending/?page=1").await.x_cache(),
        "HIT"
    );

    // Details live for 24 hours.
    assert_eq!(
        app.get(&format!("/api/movies/{id}/")).await.x_cache(),
        "HIT"
    );
    app.clock.advance(Duration::from_secs(24 * 3600 + 601));
    assert_eq!(
        app.get(&format!("/api/movies/{id}/")).await.x_cache(),
        "MISS"
    );
    assert_eq!(env.tmdb.count(&format!("/movie/{id}")), 2);
    app.stop().await;
}

#[tokio::test]
async fn ttls_are_configuration() {
    let env = TestEnv::new().await;
    let app = env
        .spawn_with(|s| s.ttl.trending = Duration::from_secs(30))
        .await;
    let first = app.get("/api/movies/trending/").await;
    assert_eq!(first.header("cache-control"), Some("public, max-age=30"));
    app.clock.advance(Duration::from_secs(31 + 601));
    assert_eq!(app.get("/api/movies/trending/").await.x_cache(), "MISS");
    app.stop().await;
}

#[tokio::test]
async fn entries_survive_a_restart() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let id = reelcache::dev::fake_tmdb::catalog::id_of(100);
    let paths = [
        "/api/movies/trending/?time_window=week&page=3".to_owned(),
        format!("/api/movies/{id}/recommendations/?page=2"),
        format!("/api/movies/{id}/"),
    ];
    let mut bodies = Vec::new();
    for path in &paths {
        bodies.push(app.get(path).await.body);
    }
    app.stop().await;
    let asked = env.tmdb.total();

    let app = env.spawn().await;
    for (path, body) in paths.iter().zip(&bodies) {
        let r = app.get(path).await;
        assert_eq!((r.status, r.x_cache()), (200, "HIT"), "{path}");
        assert_eq!(&r.body, body);
    }
    assert_eq!(
        env.tmdb.total(),
        asked,
        "TMDB was not asked again after the restart"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_corrupted_entry_on_disk_is_a_miss_and_is_replaced() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let good = app.get("/api/movies/trending/?page=7").await;
    app.get("/api/movies/trending/?page=8").await;
    app.stop().await;

    // Damage the stored bytes the way a bad disk would: flip one byte inside the payload, and
    // truncate another entry.
    {
        let db = crate::helpers::open_sled(&env.dir.path().join("cache/v1"));
        let pages = db.open_tree("pages").unwrap();
        let key = "trending_movies:day:page:7";
        let mut bytes = pages.get(key).unwrap().expect("stored").to_vec();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x5a;
        pages.insert(key, bytes).unwrap();
        let key = "trending_movies:day:page:8";
        let bytes = pages.get(key).unwrap().expect("stored").to_vec();
        pages.insert(key, &bytes[..bytes.len() / 3]).unwrap();
        db.flush().unwrap();
    }

    let app = env.spawn().await;
    let r = app.get("/api/movies/trending/?page=7").await;
    assert_eq!((r.status, r.x_cache()), (200, "MISS"));
    assert_eq!(r.body, good.body, "the answer is correct, from TMDB again");
    let r = app.get("/api/movies/trending/?page=8").await;
    assert_eq!((r.status, r.x_cache()), (200, "MISS"));
    assert_eq!(env.tmdb.count_page("/trending/movie/day", 7), 2);
    assert_eq!(
        app.get("/api/movies/trending/?page=7").await.x_cache(),
        "HIT"
    );
    let counters = app.state().counters.snapshot();
    assert_eq!(counters.corrupt_entries, 2);
    app.stop().await;
}

#[tokio::test]
async fn an_unopenable_cache_directory_is_moved_aside() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    app.get("/api/movies/trending/").await;
    app.stop().await;
    // Damaged twice: each start moves it aside, and only the latest copy is kept.
    for _ in 0..2 {
        // Replace sled's files with garbage.
        let dir = env.dir.path().join("cache/v1");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::write(&path, b"not a sled file at all").unwrap();
            }
        }
        std::fs::remove_dir_all(dir.join("blobs")).ok();
        std::fs::write(dir.join("blobs"), b"a file where a directory should be").unwrap();

        let app = env.spawn().await;
        let r = app.get("/api/movies/trending/").await;
        assert_eq!(r.status, 200);
        let aside: Vec<_> = std::fs::read_dir(env.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("cache.corrupt-")
            })
            .collect();
        assert_eq!(
            aside.len(),
            1,
            "the damaged store was kept for inspection, once"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_second_server_on_the_same_data_directory_is_refused() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let err = reelcache::app::startup::Application::build(env.settings())
        .await
        .err()
        .expect("the second start fails");
    assert!(err.to_string().contains("in use"), "{err}");
    // The first one is unharmed.
    assert_eq!(app.get("/api/movies/trending/").await.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn fifty_real_sized_pages_are_stored_compressed() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let mut raw_json = 0usize;
    for page in 1..=25 {
        for window in ["day", "week"] {
            let r = app
                .get(&format!(
                    "/api/movies/trending/?time_window={window}&page={page}"
                ))
                .await;
            assert_eq!(r.status, 200);
            raw_json += serde_json::to_vec(&r.json()["data"]).unwrap().len();
        }
    }
    let stats = app.state().cache.stats().await.unwrap();
    assert_eq!(stats.namespaces["trending_movies"].entries, 50);
    // Written once LZ4-HC with the dictionary has encoded them (or the fast compressor's
    // encoding first, replaced once quiet, when the encoder thread is slow to get to them).
    assert!(
        app.state()
            .cache
            .settle(std::time::Duration::from_secs(10))
            .await
    );
    let stats = app.state().cache.stats().await.unwrap();
    assert!(
        raw_json / 50 > 10_000,
        "pages are TMDB-sized ({} bytes)",
        raw_json / 50
    );
    assert_eq!(
        stats.raw_bytes as usize, raw_json,
        "raw bytes are the JSON served"
    );
    assert!(
        (stats.stored_bytes as f64) < 0.40 * raw_json as f64,
        "stored {} of {} raw bytes",
        stats.stored_bytes,
        raw_json
    );
    let counters = app.state().counters.snapshot();
    assert_eq!(counters.bytes_stored, stats.stored_bytes);
    app.stop().await;
}
