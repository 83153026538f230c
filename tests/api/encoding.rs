//! Page hits in gzip or zstd for clients that accept them (`Accept-Encoding`): compressed once
//! per hot entry and kept, `Vary: Accept-Encoding`, an ETag per coding, the same on both doors;
//! misses, stale answers and clients that accept neither get the body as it is.

use std::io::Read;

use reqwest::Method;

use crate::helpers::{Reply, TestApp, TestEnv};

const PAGE: &str = "/api/movies/trending/?time_window=week&page=3";

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn unzstd(body: &[u8]) -> Vec<u8> {
    zstd::stream::decode_all(body).expect("valid zstd")
}

async fn get(app: &TestApp, accept: &str) -> Reply {
    app.request(Method::GET, PAGE, &[("accept-encoding", accept)])
        .await
}

#[tokio::test]
async fn a_hot_hit_goes_in_the_coding_the_client_prefers_compressed_once() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    let miss = get(&app, "gzip, zstd").await;
    assert_eq!((miss.status, miss.x_cache()), (200, "MISS"));
    assert_eq!(
        miss.header("content-encoding"),
        None,
        "a miss goes as it is"
    );
    assert_eq!(miss.header("vary"), Some("accept-encoding"));
    let identity = app.get(PAGE).await;
    assert_eq!(
        (identity.x_cache(), identity.header("content-encoding")),
        ("HIT", None)
    );
    assert_eq!(identity.body, miss.body);
    let plain_tag = identity.header("etag").unwrap().to_owned();

    let zstd = get(&app, "gzip, deflate, br, zstd").await;
    assert_eq!(zstd.header("content-encoding"), Some("zstd"));
    assert_eq!(zstd.header("vary"), Some("accept-encoding"));
    assert_eq!(unzstd(&zstd.body), identity.body);
    assert!(
        zstd.body.len() * 2 < identity.body.len(),
        "{} bytes",
        zstd.body.len()
    );
    let zstd_tag = zstd.header("etag").unwrap().to_owned();
    assert_eq!(zstd_tag, format!("\"{}-zst\"", plain_tag.trim_matches('"')));

    let gzip = get(&app, "gzip").await;
    assert_eq!(gzip.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&gzip.body), identity.body);
    let gzip_tag = gzip.header("etag").unwrap().to_owned();
    assert_ne!(gzip_tag, plain_tag);
    assert_ne!(gzip_tag, zstd_tag);

    // Refused codings are not sent.
    for accept in ["br", "gzip;q=0", "identity", "*;q=0"] {
        let r = get(&app, accept).await;
        assert_eq!(r.header("content-encoding"), None, "{accept}");
        assert_eq!(r.body, identity.body, "{accept}");
    }
    // Each coding's own validator: a 304 for the matching one only.
    let revalidated = app
        .request(
            Method::GET,
            PAGE,
            &[("accept-encoding", "gzip"), ("if-none-match", &gzip_tag)],
        )
        .await;
    assert_eq!(revalidated.status, 304);
    assert_eq!(revalidated.header("etag"), Some(gzip_tag.as_str()));
    let other = app
        .request(
            Method::GET,
            PAGE,
            &[("accept-encoding", "zstd"), ("if-none-match", &gzip_tag)],
        )
        .await;
    assert_eq!(other.status, 200);

    // Compressed once per coding, however many hits.
    for _ in 0..5 {
        get(&app, "gzip").await;
        get(&app, "zstd").await;
    }
    assert_eq!(app.state().counters.snapshot().compressions, 2);
    app.stop().await;
}

#[tokio::test]
async fn both_doors_send_the_same_coded_answer() {
    let env = TestEnv::new().await;
    let app = env.spawn().await;
    assert_eq!(get(&app, "gzip").await.x_cache(), "MISS");
    // Through the server: the fast path answers the hot hit.
    let fast = get(&app, "gzip").await;
    assert_eq!((fast.status, fast.x_cache()), (200, "HIT"));
    // The full route alone (warp's filters, in process), from the same hot entry.
    let full = warp::test::request()
        .path(PAGE)
        .header("accept-encoding", "gzip")
        .reply(&reelcache::http::routes(app.state().clone()))
        .await;
    assert_eq!(full.status(), 200);
    for name in [
        "content-encoding",
        "etag",
        "vary",
        "content-type",
        "x-cache",
    ] {
        assert_eq!(
            fast.header(name),
            full.headers().get(name).and_then(|v| v.to_str().ok()),
            "{name}"
        );
    }
    assert_eq!(fast.body, full.body().to_vec());
    app.stop().await;
}
