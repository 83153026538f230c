//! The image cache (`GET /api/images/{size}/{file_path}`): fetched once from TMDB's image server
//! (where `/configuration` says it is), kept on disk within a byte bound, served with its type,
//! validators and a long `Cache-Control`; bad paths, non-images, oversized answers and offline
//! misses refused in the error envelope; `warm --images` and snapshots carry images.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reelcache::dev::fake_tmdb::{Behaviour, FakeTmdb, catalog};
use serde_json::json;

use crate::helpers::{API_KEY, TestEnv, make_staff, start, test_settings};

/// A catalogue movie's poster file name (its `poster_path` without the `/`).
fn poster(index: u32) -> String {
    catalog::poster_path(catalog::id_of(index))[1..].to_owned()
}

fn image_url(size: &str, file: &str) -> String {
    format!("/api/images/{size}/{file}")
}

fn fake_path(size: &str, file: &str) -> String {
    format!("/t/p/{size}/{file}")
}

/// The files of the image cache under a data directory.
fn image_files(data_dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let root = data_dir.join("images/v1");
    for shard in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        if shard.file_name() == "tmp" {
            continue;
        }
        for file in std::fs::read_dir(shard.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            files.push(file.path());
        }
    }
    files
}

#[tokio::test]
async fn a_poster_is_fetched_once_then_served_from_the_image_cache_with_validators() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let file = poster(3);
    let url = image_url("w342", &file);

    let first = app.get(&url).await;
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert_eq!(first.header("content-type"), Some("image/svg+xml"));
    assert_eq!(first.x_cache(), "MISS");
    let title = catalog::title(catalog::id_of(3));
    let body = String::from_utf8(first.body.clone()).unwrap();
    assert!(
        body.starts_with("<svg") && body.contains("width=\"342\""),
        "{body}"
    );
    assert!(body.contains(title.split(' ').next().unwrap()), "{body}");
    assert_eq!(
        first.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let csp = first.header("content-security-policy").unwrap();
    assert!(
        csp.contains("sandbox") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let etag = first.header("etag").unwrap().to_owned();

    let second = app.get(&url).await;
    assert_eq!((second.status, second.x_cache()), (200, "HIT"));
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("etag"), Some(etag.as_str()));
    let revalidated = app
        .request(reqwest::Method::GET, &url, &[("if-none-match", &etag)])
        .await;
    assert_eq!(revalidated.status, 304);
    assert!(revalidated.body.is_empty());
    let head = app.request(reqwest::Method::HEAD, &url, &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    // TMDB's image server was asked once, where /configuration said it is; /configuration once.
    assert_eq!(env.tmdb.count(&fake_path("w342", &file)), 1);
    assert_eq!(env.tmdb.count("/configuration"), 1);
    // Another size is another image.
    let small = app.get(&image_url("w92", &file)).await;
    assert_eq!((small.status, small.x_cache()), (200, "MISS"));
    assert!(String::from_utf8_lossy(&small.body).contains("width=\"92\""));
    assert_eq!(env.tmdb.count("/configuration"), 1, "the answer is reused");
    // On disk, one file per image, outside sled.
    assert_eq!(image_files(env.dir.path()).len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_misses_for_one_image_make_one_upstream_request() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let file = poster(5);
    env.tmdb
        .set("/t/p/", Behaviour::Delay(Duration::from_millis(300)));
    let url = image_url("w185", &file);
    let replies = futures_util::future::join_all((0..12).map(|_| app.get_owned(url.clone()))).await;
    for reply in &replies {
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, replies[0].body);
    }
    assert_eq!(env.tmdb.count(&fake_path("w185", &file)), 1);
    assert_eq!(app.state().counters.snapshot().image_coalesced, 11);
    app.stop().await;
}

#[tokio::test]
async fn stored_images_survive_a_restart_and_serve_while_the_image_server_fails() {
    let env = TestEnv::new().await;
    let file = poster(8);
    let url = image_url("w342", &file);
    let app = env.spawn().await;
    let original = app.get(&url).await;
    assert_eq!(original.status, 200);
    app.stop().await;

    env.tmdb.set("/t/p/", Behaviour::Status(503));
    let app = env.spawn().await;
    let again = app.get(&url).await;
    assert_eq!((again.status, again.x_cache()), (200, "HIT"));
    assert_eq!(again.body, original.body);
    assert_eq!(env.tmdb.count(&fake_path("w342", &file)), 1);

    // Not stored and the image server fails: the contract's upstream error, nothing kept.
    let other = app.get(&image_url("w342", &poster(9))).await;
    assert_eq!(
        other.status,
        502,
        "{}",
        String::from_utf8_lossy(&other.body)
    );
    assert_eq!(other.error_code(), "UPSTREAM_ERROR");
    assert_eq!(image_files(env.dir.path()).len(), 1);
    // The image server's failures are its own: movie pages still come from TMDB.
    assert_eq!(app.get("/api/movies/trending/").await.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn a_damaged_image_file_is_fetched_again_not_served() {
    let env = TestEnv::new().await;
    let file = poster(11);
    let url = image_url("w342", &file);
    let app = env.spawn().await;
    let original = app.get(&url).await;
    app.stop().await;
    let stored = image_files(env.dir.path());
    assert_eq!(stored.len(), 1);
    let mut bytes = std::fs::read(&stored[0]).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x55;
    std::fs::write(&stored[0], &bytes).unwrap();

    let app = env.spawn().await;
    let again = app.get(&url).await;
    assert_eq!((again.status, again.x_cache()), (200, "MISS"));
    assert_eq!(again.body, original.body);
    assert_eq!(env.tmdb.count(&fake_path("w342", &file)), 2);
    app.stop().await;
}

#[tokio::test]
async fn bad_paths_are_refused_before_anything_is_read_or_fetched() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let file = poster(1);
    for (url, field) in [
        (image_url("w343", &file), "size"),
        (image_url("W342", &file), "size"),
        (image_url("w342", "..%2F..%2Fjwt-secret.jpg"), "file_path"),
        (image_url("w342", "%2E%2E.jpg"), "file_path"),
        (image_url("w342", "poster.html"), "file_path"),
        (image_url("w342", "poster.JPG"), "file_path"),
        (image_url("w342", "poster"), "file_path"),
        (image_url("w342", &"a".repeat(65)), "file_path"),
    ] {
        let r = app.get(&url).await;
        assert_eq!(
            (r.status, r.error_code()),
            (400, "VALIDATION_ERROR".into()),
            "{url}"
        );
        assert!(
            r.json()["error"]["fields"][field].is_array(),
            "{url}: {}",
            r.json()
        );
    }
    // Deeper paths are no route at all.
    let r = app.get("/api/images/w342/a/b.jpg").await;
    assert_eq!((r.status, r.error_code()), (404, "NOT_FOUND".into()));
    let r = app
        .request(reqwest::Method::POST, &image_url("w342", &file), &[])
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(env.tmdb.total(), 0, "nothing was fetched");
    app.stop().await;
}

#[tokio::test]
async fn what_is_not_an_image_or_is_too_big_is_refused_and_never_kept() {
    let env = TestEnv::new().await;
    let app = env.spawn_with(|s| s.images.max_file_bytes = 1_000).await;
    // An HTML page with a 200 (a captive portal, a CDN's error page).
    let file = poster(2);
    env.tmdb.set_times(
        &fake_path("w342", &file),
        Behaviour::Body("<html><body>Sign in to the Wi-Fi</body></html>".into()),
        1,
    );
    let r = app.get(&image_url("w342", &file)).await;
    assert_eq!((r.status, r.error_code()), (502, "UPSTREAM_ERROR".into()));
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not an image")
    );
    // Asked again next time: nothing was stored.
    assert_eq!(app.get(&image_url("w342", &file)).await.status, 200);
    assert_eq!(env.tmdb.count(&fake_path("w342", &file)), 2);

    // A PNG named .svg is not what the name says.
    env.tmdb.set_times(
        &fake_path("w92", &file),
        Behaviour::Body("\u{89}PNG\r\n\u{1a}\n0000".into()),
        1,
    );
    let r = app.get(&image_url("w92", &file)).await;
    assert_eq!(r.status, 502);

    // Larger than images.max_file_bytes (1,000 bytes here).
    let big = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\">{}</svg>",
        " ".repeat(2_000)
    );
    env.tmdb
        .set(&fake_path("w780", &file), Behaviour::Body(big));
    let r = app.get(&image_url("w780", &file)).await;
    assert_eq!(r.status, 502);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("larger than")
    );

    // An image the image server does not have: 404 in the envelope.
    let r = app.get(&image_url("w342", "NoSuchPoster.jpg")).await;
    assert_eq!((r.status, r.error_code()), (404, "NOT_FOUND".into()));
    // Remembered: asked of the image server once, for 10 minutes.
    assert_eq!(
        app.get(&image_url("w342", "NoSuchPoster.jpg")).await.status,
        404
    );
    assert_eq!(env.tmdb.count("/t/p/w342/NoSuchPoster.jpg"), 1);
    app.clock.advance(Duration::from_secs(601));
    assert_eq!(
        app.get(&image_url("w342", "NoSuchPoster.jpg")).await.status,
        404
    );
    assert_eq!(env.tmdb.count("/t/p/w342/NoSuchPoster.jpg"), 2);
    assert_eq!(image_files(env.dir.path()).len(), 1, "only the good image");
    app.stop().await;
}

#[tokio::test]
async fn the_image_cache_stays_within_its_byte_bound() {
    let env = TestEnv::new().await;
    // About ten small posters' worth (an image may take an eighth of it).
    let app = env
        .spawn_with(|s| {
            s.images.max_bytes = 4_800;
            s.images.memory_bytes = 0;
        })
        .await;
    for n in 0..15 {
        assert_eq!(app.get(&image_url("w92", &poster(n))).await.status, 200);
    }
    let on_disk: u64 = image_files(env.dir.path())
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert!(on_disk <= 4_800, "{on_disk} bytes on disk");
    let stats = app.state().images.stats();
    assert!(stats.evictions >= 5, "{stats:?}");
    assert_eq!(stats.bytes, on_disk);
    // The most recent one is still there; the first was evicted and is fetched again.
    assert_eq!(
        app.get(&image_url("w92", &poster(14))).await.x_cache(),
        "HIT"
    );
    assert_eq!(
        app.get(&image_url("w92", &poster(0))).await.x_cache(),
        "MISS"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_configured_image_host_is_used_without_asking_configuration() {
    let env = TestEnv::new().await;
    let base = format!("http://{}/t/p/", env.tmdb.addr());
    let app = env.spawn_with(|s| s.images.base_url = Some(base)).await;
    assert_eq!(app.get(&image_url("w154", &poster(4))).await.status, 200);
    assert_eq!(env.tmdb.count("/configuration"), 0);
    app.stop().await;
}

#[tokio::test]
async fn offline_only_stored_images_are_served_and_the_rest_is_a_404() {
    let env = TestEnv::new().await;
    let stored = poster(6);
    let app = env.spawn().await;
    assert_eq!(app.get(&image_url("w342", &stored)).await.status, 200);
    app.stop().await;

    // No demo data: it would bring posters of its own.
    let app = env
        .spawn_with(|s| {
            s.offline = true;
            s.seed_snapshot = reelcache::config::SeedSnapshot::None;
        })
        .await;
    let hit = app.get(&image_url("w342", &stored)).await;
    assert_eq!((hit.status, hit.x_cache()), (200, "HIT"));
    let missing = app.get(&image_url("w342", &poster(7))).await;
    assert_eq!(
        (missing.status, missing.error_code()),
        (404, "NOT_FOUND".into())
    );
    assert!(String::from_utf8_lossy(&missing.body).contains("offline"));
    assert_eq!(env.tmdb.count(&fake_path("w342", &poster(7))), 0);
    app.stop().await;
}

#[tokio::test]
async fn staff_see_the_image_cache_in_the_statistics_and_can_clear_it() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    assert_eq!(app.get(&image_url("w342", &poster(1))).await.status, 200);
    assert_eq!(app.get(&image_url("w342", &poster(1))).await.status, 200);
    let session = app.sign_up("imageuser").await;
    app.sign_up("imagestaff").await;
    make_staff(env.dir.path(), "imagestaff");
    let staff = app.log_in("imagestaff", "password123").await;
    let stats = app
        .authed(reqwest::Method::GET, "/api/utils/cache/", &staff.access)
        .await
        .json();
    let images = &stats["data"]["images"];
    assert_eq!(images["store"]["entries"], 1, "{images}");
    assert_eq!(
        (images["hits"].clone(), images["misses"].clone()),
        (json!(1), json!(1))
    );
    assert!(images["base_url"].as_str().unwrap().ends_with("/t/p/"));
    assert!(stats["data"]["slowest_routes"].is_array());

    // A key narrows the clear: no image has a page-cache key, so nothing goes.
    let narrowed = app
        .authed(
            reqwest::Method::DELETE,
            "/api/utils/cache/?namespace=images&key=movie:11",
            &staff.access,
        )
        .await;
    assert_eq!(
        (narrowed.status, narrowed.json()["removed"].clone()),
        (200, json!(0))
    );
    assert_eq!(image_files(env.dir.path()).len(), 1);
    let cleared = app
        .authed(
            reqwest::Method::DELETE,
            "/api/utils/cache/?namespace=images",
            &staff.access,
        )
        .await;
    assert_eq!(cleared.status, 200);
    assert_eq!(cleared.json()["removed"], 1);
    assert!(image_files(env.dir.path()).is_empty());
    // Not for the non-staff.
    let refused = app
        .authed(
            reqwest::Method::DELETE,
            "/api/utils/cache/?namespace=images",
            &session.access,
        )
        .await;
    assert_eq!(refused.status, 403);
    app.stop().await;
}

fn binary(data_dir: &Path, fake: &FakeTmdb) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reelcache"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TMDB_API_KEY", API_KEY)
        .env("TMDB_BASE_URL", fake.base_url())
        .env("REELCACHE_TMDB_RPS", "1000")
        .arg("--data-dir")
        .arg(data_dir);
    cmd
}

#[tokio::test]
async fn warm_with_images_fetches_every_poster_once_and_snapshots_carry_them() {
    let fake = FakeTmdb::start(Some(API_KEY)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut warm = binary(&data, &fake);
    warm.args([
        "warm",
        "--trending-pages",
        "1",
        "--popular-pages",
        "0",
        "--recommendation-pages",
        "0",
        "--no-details",
        "--images",
        "w342",
    ]);
    let output = tokio::task::spawn_blocking(move || warm.output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut posters: Vec<String> = ["day", "week"]
        .iter()
        .flat_map(|w| {
            catalog::trending(w, 1, "en-US")["results"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|m| m["poster_path"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect();
    posters.sort();
    posters.dedup();
    for p in &posters {
        assert_eq!(fake.count(&format!("/t/p/w342{p}")), 1, "{p}");
    }
    assert_eq!(image_files(&data).len(), posters.len());

    // Exported with the pages, imported elsewhere, served offline.
    let file = dir.path().join("with-images.rcsnap");
    let mut export = binary(&data, &fake);
    export.args(["snapshot", "export"]).arg(&file);
    let output = export.output().unwrap();
    let said = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{said}");
    assert!(
        said.contains(&format!("images {}", posters.len())),
        "{said}"
    );
    let fresh = dir.path().join("fresh");
    let mut import = binary(&fresh, &fake);
    import.args(["snapshot", "import"]).arg(&file);
    assert!(import.output().unwrap().status.success());
    fake.stop().await;

    let mut settings = test_settings(&fresh, "http://127.0.0.1:9/3");
    settings.offline = true;
    let app = start(settings).await;
    for p in &posters {
        let r = app.get(&format!("/api/images/w342{p}")).await;
        assert_eq!((r.status, r.x_cache()), (200, "HIT"), "{p}");
    }
    app.stop().await;
}

/// A poster in memory is answered before warp's filters (`http::fast_path`); from disk, by the
/// full route: a client cannot tell them apart.
#[tokio::test]
async fn an_image_hit_in_memory_carries_what_the_full_route_sends() {
    const ORIGIN: &str = "https://app.example.org";
    let env = TestEnv::new().await;
    let file = poster(12);
    let url = image_url("w342", &file);
    let app = env
        .spawn_with(|s| {
            s.http.cors_origins = Some(vec![ORIGIN.into()]);
            s.images.memory_bytes = 0;
        })
        .await;
    assert_eq!(app.get(&url).await.x_cache(), "MISS");
    let from_disk = app
        .request(reqwest::Method::GET, &url, &[("origin", ORIGIN)])
        .await;
    assert_eq!((from_disk.status, from_disk.x_cache()), (200, "HIT"));
    app.stop().await;

    let app = env
        .spawn_with(|s| s.http.cors_origins = Some(vec![ORIGIN.into()]))
        .await;
    assert_eq!(
        app.get(&url).await.x_cache(),
        "HIT",
        "read from disk into memory"
    );
    let from_memory = app
        .request(
            reqwest::Method::GET,
            &url,
            &[("origin", ORIGIN), ("x-request-id", "poster-1")],
        )
        .await;
    assert_eq!((from_memory.status, from_memory.x_cache()), (200, "HIT"));
    assert_eq!(from_memory.body, from_disk.body);
    let names = |r: &crate::helpers::Reply| {
        r.headers
            .keys()
            .map(|k| k.to_string())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(names(&from_memory), names(&from_disk));
    for name in [
        "content-type",
        "etag",
        "cache-control",
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
        "access-control-allow-origin",
    ] {
        assert_eq!(from_memory.header(name), from_disk.header(name), "{name}");
    }
    let listed = |r: &crate::helpers::Reply| {
        r.header("access-control-expose-headers")
            .unwrap_or_default()
            .split(',')
            .map(|h| h.trim().to_owned())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(listed(&from_memory), listed(&from_disk));
    assert_eq!(from_memory.header("x-request-id"), Some("poster-1"));
    let tag = from_memory.header("etag").unwrap().to_owned();
    let not_modified = app
        .request(reqwest::Method::GET, &url, &[("if-none-match", &tag)])
        .await;
    assert_eq!(not_modified.status, 304);
    let metrics = String::from_utf8(app.get("/metrics").await.body).unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("reelcache_http_requests_total")
                && l.contains("route=\"/api/images/{size}/{file_path}\"")
                && l.contains("door=\"fast\"")),
        "the fast path answered"
    );
    app.stop().await;
}
