//! Micro-benchmarks of the cache's building blocks: the entry envelope (encode, decode with its
//! checksum, render), key building, and the sled store's get/put with 1 k and 1 M entries.
//!
//! `cargo bench --bench cache`. The 1 M-entry store takes about a minute to fill (small
//! synthetic entries, so it fits any disk); `REELCACHE_BENCH_LARGE=100000` picks another size.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use reelcache::cache::envelope::{self, EntryMeta, ListMeta, Shape};
use reelcache::cache::{CacheKey, SledStore};
use reelcache::config::Settings;
use reelcache::dev::fake_tmdb::catalog;
use reelcache::domain::{Language, MovieId, Page, TimeWindow};

/// The `results` array of a synthetic trending page: what a list entry's payload holds.
fn page_payload(page: u32) -> Vec<u8> {
    let doc = catalog::trending("day", page, "en-US");
    serde_json::to_vec(&doc["results"]).expect("serialises")
}

fn list_meta(page: u32) -> EntryMeta {
    EntryMeta {
        stored_at_ms: 1_700_000_000_000,
        expires_at_ms: 1_700_003_600_000,
        etag: 0,
        shape: Shape::List(ListMeta {
            page,
            total_pages: 1000,
            total_results: 20_000,
            items: 20,
        }),
        raw_len: 0,
    }
}

fn envelope_benches(c: &mut Criterion) {
    let raw = page_payload(1);
    let encoded = envelope::encode(list_meta(1), &raw);
    let mut group = c.benchmark_group("envelope");
    group.throughput(criterion::Throughput::Bytes(raw.len() as u64));
    let fast = envelope::encode_fast(list_meta(1), &raw);
    group.bench_function("encode (format 2: LZ4-HC + dictionary, background)", |b| {
        b.iter(|| envelope::encode(black_box(list_meta(1)), black_box(&raw)))
    });
    group.bench_function("encode_fast (format 1: LZ4, before the answer)", |b| {
        b.iter(|| envelope::encode_fast(black_box(list_meta(1)), black_box(&raw)))
    });
    group.bench_function("decode+checksum", |b| {
        b.iter(|| envelope::decode(black_box(&encoded)).expect("valid").meta)
    });
    for (name, bytes) in [
        ("decode+render (format 2)", &encoded),
        ("decode+render (format 1)", &fast),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                envelope::decode(black_box(bytes))
                    .expect("valid")
                    .render(b"{\"success\":true,\"data\":", b"}")
                    .expect("renders")
            })
        });
    }
    group.finish();
}

fn key_benches(c: &mut Criterion) {
    let page = Page::new(7).expect("valid");
    let fr = Language::parse("fr-FR").expect("valid");
    let id = MovieId::new(550).expect("valid");
    let mut group = c.benchmark_group("key");
    group.bench_function("trending", |b| {
        b.iter(|| CacheKey::trending(black_box(TimeWindow::Day), None, black_box(page)))
    });
    group.bench_function("recommendations+language", |b| {
        b.iter(|| CacheKey::recommendations(black_box(id), Some(&fr), black_box(page)))
    });
    group.finish();
}

/// A store holding `entries` synthetic entries of a few hundred bytes each.
fn filled_store(entries: u64) -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = Settings::defaults_in(dir.path());
    let store = SledStore::open(dir.path(), &settings.cache).expect("opens");
    let value = envelope::encode(list_meta(1), &vec![b'x'; 600]);
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..entries {
        batch.push((format!("movie:{i}"), value.clone()));
        if batch.len() == 10_000 {
            store
                .put_batch_blocking(std::mem::take(&mut batch))
                .expect("fills");
        }
    }
    store.put_batch_blocking(batch).expect("fills");
    (dir, store)
}

fn store_benches(c: &mut Criterion) {
    let large: u64 = std::env::var("REELCACHE_BENCH_LARGE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let page = envelope::encode(list_meta(1), &page_payload(1));
    for entries in [1_000, large] {
        let (_dir, store) = filled_store(entries);
        let mut group = c.benchmark_group(format!("store/{entries}"));
        group.measurement_time(Duration::from_secs(5));
        let mut n = 0u64;
        group.bench_function("get", |b| {
            b.iter(|| {
                // Walk the keys with a stride so reads are not all one page of the tree.
                n = (n + 7_919) % entries;
                store
                    .get(&format!("movie:{n}"))
                    .expect("reads")
                    .expect("present")
            })
        });
        group.bench_function("put (page, replacing)", |b| {
            b.iter_batched(
                || page.clone(),
                |bytes| {
                    n = (n + 7_919) % entries;
                    store.put(&format!("movie:{n}"), bytes).expect("writes")
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, envelope_benches, key_benches, store_benches);
criterion_main!(benches);
