//! The whole hit path in-process: a request in, a finished response out (request id, security
//! headers, metrics and the access log included). Sockets and hyper's parsing are not included;
//! the load harness (`bench/shared-cache-comparison.sh`) measures those against nginx and
//! Varnish.
//!
//! Three variants on the same 100 stored trending pages:
//! - `fast path`: what a hot-tier hit takes in the server (`http::fast_path::answer`);
//! - `full route, hot tier`: the same hit through every filter of warp's router (client limiter,
//!   CORS, routing, the movie handler), which is what answers everything else;
//! - `full route, sled + decompress`: the hot tier off, so every hit reads sled, verifies the
//!   checksum and decompresses.
//!
//! `cargo bench --bench hit_path`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use reelcache::app::open::Opened;
use reelcache::cache::{CacheKey, ListMeta, Shape};
use reelcache::clock::Clock;
use reelcache::config::{Credential, Settings};
use reelcache::dev::fake_tmdb::catalog;
use reelcache::domain::{Page, TimeWindow};

const PAGES: u32 = 100;

fn hit_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("hit_path");
    for (name, hot_bytes) in [
        ("full route, hot tier", 32 << 20),
        ("full route, sled + decompress", 0),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::defaults_in(dir.path());
        // Never contacted: every request is a hit.
        settings.tmdb.base_urls = vec!["http://127.0.0.1:9/3".to_owned()];
        settings.tmdb.credential = Some(Credential::from_shape("bench-key-0123456789abcdef"));
        settings.clients.rps = 0;
        settings.cache.hot_bytes = hot_bytes;
        let opened = runtime
            .block_on(Opened::open(&settings, Clock::system()))
            .expect("opens");
        let state = opened.state.clone();
        runtime.block_on(async {
            for page in 1..=PAGES {
                let doc = catalog::trending("day", page, "en-US");
                let raw = serde_json::to_vec(&doc["results"]).expect("serialises");
                let shape = Shape::List(ListMeta {
                    page,
                    total_pages: 1000,
                    total_results: 20_000,
                    items: 20,
                });
                let key = CacheKey::trending(TimeWindow::Day, None, Page::new(page).expect("ok"));
                state
                    .cache
                    .put(
                        &key,
                        shape,
                        &raw,
                        state.clock.now_ms(),
                        settings.ttl.trending,
                    )
                    .await;
            }
        });
        let routes = reelcache::http::routes(state.clone());
        let paths: Vec<String> = (1..=PAGES)
            .map(|p| format!("/api/movies/trending/?time_window=day&page={p}"))
            .collect();
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % paths.len();
                let response = runtime.block_on(
                    warp::test::request()
                        .path(black_box(&paths[i]))
                        .reply(&routes),
                );
                assert_eq!(response.status(), 200);
                response
            })
        });
        if hot_bytes > 0 {
            let requests: Vec<warp::http::Request<()>> = paths
                .iter()
                .map(|path| {
                    warp::http::Request::get(path.as_str())
                        .body(())
                        .expect("a request")
                })
                .collect();
            // Made hot by the full-route runs above.
            let mut i = 0;
            group.bench_function("fast path", |b| {
                b.iter(|| {
                    i = (i + 1) % requests.len();
                    let outcome =
                        reelcache::http::fast_path::answer(&state, black_box(&requests[i]), None);
                    let reelcache::http::fast_path::Outcome::Answered(response) = outcome else {
                        panic!("not a hot hit");
                    };
                    assert_eq!(response.status(), 200);
                    response
                })
            });
        }
        drop(opened);
    }
    group.finish();
}

criterion_group!(benches, hit_path);
criterion_main!(benches);
