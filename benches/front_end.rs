//! The front end's first load, measured in a real headless Chromium (Debian's `chromium` and
//! `chromedriver`): the release binary offline on the built-in demo data, `/` loaded 10 times,
//! each in a fresh browser (an empty HTTP cache). For each load, from the browser's own
//! Performance API:
//!
//! - the bytes transferred before images (the page, its CSS and scripts, the API answer it
//!   asks for), against the target of 150 KB;
//! - the time from `DOMContentLoaded` to the first cards on screen (`performance.mark` in
//!   `app.js` right after they are added), against the target of 200 ms;
//! - for scale, the bytes of the posters the first screen loads.
//!
//! `cargo bench --bench front_end` (about a minute).

#[path = "../tests/support/browser.rs"]
#[allow(dead_code)]
mod browser;

use std::io::BufRead;
use std::process::{Command, Stdio};

use serde_json::Value;

const LOADS: usize = 10;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Some(missing) = browser::missing() {
        eprintln!("front_end bench skipped: {missing}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_reelcache"))
        .env_clear()
        .env("RUST_LOG", "warn")
        .env("REELCACHE_CLIENTS_RPS", "0")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the release binary starts");
    let line = std::io::BufReader::new(server.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let base = line.replace("listening on ", "");
    reqwest::get(format!("{base}/api/movies/trending/"))
        .await
        .unwrap();

    let mut before_images = Vec::new();
    let mut first_cards = Vec::new();
    let mut images = Vec::new();
    for _ in 0..LOADS {
        let browser = browser::Browser::start(&dir.path().join("shots"), 1280, 900).await;
        browser.goto(&format!("{base}/")).await;
        browser
            .until(
                "the first cards",
                "return performance.getEntriesByName('reelcache:first-cards').length",
            )
            .await;
        browser
            .until(
                "the first screen's posters",
                "return [...document.querySelectorAll('img.poster[loading=eager]')].every(i => i.complete)",
            )
            .await;
        let m: Value = browser
            .js(
                "const nav = performance.getEntriesByType('navigation')[0];
                 const res = performance.getEntriesByType('resource');
                 const sum = (list) => list.reduce((n, e) => n + e.transferSize, 0);
                 const mark = performance.getEntriesByName('reelcache:first-cards')[0];
                 return {
                   before_images: nav.transferSize + sum(res.filter(e => e.initiatorType !== 'img')),
                   images: sum(res.filter(e => e.initiatorType === 'img')),
                   first_cards_ms: mark.startTime - nav.domContentLoadedEventStart,
                 };",
                vec![],
            )
            .await;
        before_images.push(m["before_images"].as_f64().unwrap() / 1024.0);
        images.push(m["images"].as_f64().unwrap() / 1024.0);
        first_cards.push(m["first_cards_ms"].as_f64().unwrap());
        browser.stop().await;
    }
    let _ = server.kill();
    let _ = server.wait();
    let max = |v: &[f64]| v.iter().copied().fold(f64::MIN, f64::max);
    println!("front end, first load of / in headless Chromium, {LOADS} fresh browsers:");
    println!(
        "  transferred before images: median {:.1} KB, max {:.1} KB (target < 150 KB)",
        median(before_images.clone()),
        max(&before_images)
    );
    println!(
        "  first cards after DOMContentLoaded: median {:.1} ms, max {:.1} ms (target < 200 ms)",
        median(first_cards.clone()),
        max(&first_cards)
    );
    println!(
        "  posters of the first screen: median {:.1} KB",
        median(images)
    );
}
