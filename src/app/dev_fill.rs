//! `reelcache dev fill`: stores many synthetic entries at once, so the scale benchmark
//! (`bench/scale.sh`) can measure hit latency, memory and start-up over a large store without
//! fetching anything. The entries are the fake TMDB's synthetic documents, fresh for 30 days, under
//! the keys the server looks up (`recommended_movies:{id}:page:1` or `movie:{id}`, ids 1..=N).

use std::time::Duration;

use crate::app::cli::{FillArgs, FillShape};
use crate::app::commands::{CommandError, close_after_bulk_write, open};
use crate::cache::CacheKey;
use crate::cache::envelope::{self, EntryMeta, ListMeta, Shape};
use crate::clock::Clock;
use crate::config::Settings;
use crate::dev::fake_tmdb::catalog;

/// Entries written per sled batch.
const BATCH: usize = 10_000;
/// Distinct documents cycled through: enough that compression sees real variety.
const DISTINCT: u32 = 64;
const FRESH_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// The encoded envelopes the fill cycles through.
fn documents(shape: FillShape, now_ms: u64) -> Vec<Vec<u8>> {
    let meta = |shape| EntryMeta {
        stored_at_ms: now_ms,
        expires_at_ms: now_ms + FRESH_FOR.as_millis() as u64,
        etag: 0,
        shape,
        raw_len: 0,
    };
    (1..=DISTINCT)
        .map(|n| match shape {
            FillShape::Page => {
                let doc = catalog::trending("week", n, "en-US");
                let raw = serde_json::to_vec(&doc["results"]).expect("serialises");
                let list = ListMeta {
                    page: 1,
                    total_pages: 1,
                    total_results: 20,
                    items: 20,
                };
                envelope::encode(meta(Shape::List(list)), &raw)
            }
            FillShape::Movie => {
                let doc = catalog::details(catalog::id_of(n), "en-US");
                let raw = serde_json::to_vec(&doc).expect("serialises");
                envelope::encode(meta(Shape::Object), &raw)
            }
        })
        .collect()
}

fn key(shape: FillShape, id: u64) -> CacheKey {
    CacheKey::from_stored(match shape {
        FillShape::Page => format!("recommended_movies:{id}:page:1"),
        FillShape::Movie => format!("movie:{id}"),
    })
}

pub async fn run(settings: &Settings, args: &FillArgs) -> Result<(), CommandError> {
    let clock = Clock::system();
    let opened = open(settings, clock.clone()).await?;
    let cache = opened.state.cache.clone();
    let (shape, entries) = (args.shape, args.entries);
    let started = std::time::Instant::now();
    let docs = documents(shape, clock.now_ms());
    let written = tokio::task::spawn_blocking(move || -> Result<u64, CommandError> {
        let mut batch = Vec::with_capacity(BATCH);
        for id in 1..=entries {
            batch.push((
                key(shape, id),
                docs[(id % docs.len() as u64) as usize].clone(),
            ));
            if batch.len() == BATCH || id == entries {
                cache
                    .put_batch_blocking(std::mem::take(&mut batch))
                    .map_err(|e| CommandError::runtime(e.to_string()))?;
                if id % 100_000 == 0 {
                    eprintln!("  {id} entries");
                }
            }
        }
        Ok(entries)
    })
    .await
    .map_err(|e| CommandError::runtime(e.to_string()))??;
    close_after_bulk_write(opened, settings).await;
    eprintln!(
        "stored {written} synthetic {shape:?} entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
