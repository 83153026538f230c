//! The web pages in a real headless Chromium: the front end at `/` and the dashboard at
//! `/dashboard/`, served by the real binary offline on the built-in demo data (as a fresh clone
//! runs it), asserted as a person sees them: cards with titles and loaded posters, paging along
//! the API's links, a search, an account with a favorite added and removed, the dashboard's
//! numbers and charts after traffic, a phone's width, and a console without errors or CSP
//! violations.
//!
//! Screenshots go to the test's temporary directory; with `REELCACHE_UPDATE_SCREENSHOTS=1` they
//! are also copied to `docs/screenshots/` (the README shows those).

use std::path::{Path, PathBuf};
use std::process::Child;

use serde_json::{Value, json};

use crate::browser::Browser;
use crate::helpers::make_staff;
use crate::process::{command, listening_addr_async};

/// The real binary, offline on the built-in demo data, in a fresh directory.
struct Demo {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
}

impl Demo {
    async fn start() -> Demo {
        Demo::start_with(&[("REELCACHE_CLIENTS_RPS", "0")]).await
    }

    async fn start_with(env: &[(&str, &str)]) -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = command(dir.path());
        cmd.args(["--listen", "127.0.0.1:0"]);
        for (name, value) in env {
            cmd.env(name, value);
        }
        let child = cmd.spawn().unwrap();
        let (child, addr) = listening_addr_async(child).await;
        let demo = Demo {
            child,
            base: format!("http://{addr}"),
            dir,
        };
        // The demo data is imported before the first answer.
        let first = demo.api("/api/movies/trending/").await;
        assert_eq!(first["success"], true, "{first}");
        demo
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn shots(&self) -> PathBuf {
        self.dir.path().join("screenshots")
    }

    async fn api(&self, path: &str) -> Value {
        reqwest::get(format!("{}{path}", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Value {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    async fn titles(&self, path: &str) -> Vec<String> {
        self.api(path).await["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["title"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies `shot` to `docs/screenshots/` when asked to.
fn keep(shot: &Path) {
    if std::env::var("REELCACHE_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(shot, docs.join(shot.file_name().unwrap())).unwrap();
    }
}

const CARDS_LOADED: &str = "
    const cards = document.querySelectorAll('article.card');
    return cards.length >= 20 ? cards.length : 0;";

/// Every poster image on the page has loaded (a picture of some width).
const POSTERS_LOADED: &str = "
    const imgs = [...document.querySelectorAll('img.poster')];
    return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0) ? imgs.length : 0;";

pub async fn the_front_end_shows_trending_with_posters_pages_and_searches() {
    let demo = Demo::start().await;
    let browser = Browser::start(&demo.shots(), 1280, 900).await;
    browser.goto(&format!("{}/", demo.base)).await;
    browser.until("20 trending cards", CARDS_LOADED).await;
    assert_eq!(
        browser.texts("article.card .card-title").await,
        demo.titles("/api/movies/trending/?time_window=day&page=1")
            .await,
        "the cards are trending today, page 1, in order"
    );
    // Every poster loads, lazy ones too once scrolled to.
    browser
        .js("window.scrollTo(0, document.body.scrollHeight)", vec![])
        .await;
    let posters = browser.until("every poster loaded", POSTERS_LOADED).await;
    assert_eq!(posters, json!(20), "one poster per card");
    let badge = browser
        .until(
            "the cache badge",
            "const b = document.querySelector('.cache-badge'); return b && b.dataset.cache",
        )
        .await;
    assert_eq!(
        badge, "STALE",
        "the demo's entries are past their TTL: served stale"
    );
    browser.js("window.scrollTo(0, 0)", vec![]).await;
    keep(&browser.screenshot("front-end").await);

    // Paging follows the API's `next` and `previous`.
    browser.click("#next").await;
    browser
        .until(
            "page 2",
            "return document.querySelector('#page-info')?.textContent.includes('Page 2 of 5')",
        )
        .await;
    browser.until("20 cards", CARDS_LOADED).await;
    assert_eq!(
        browser.texts("article.card .card-title").await,
        demo.titles("/api/movies/trending/?time_window=day&page=2")
            .await
    );
    browser.click("#prev").await;
    browser
        .until(
            "page 1",
            "return document.querySelector('#page-info')?.textContent.includes('Page 1 of 5')",
        )
        .await;
    assert_eq!(
        browser.texts("article.card .card-title").await,
        demo.titles("/api/movies/trending/?time_window=day&page=1")
            .await
    );

    // A movie's details and recommendations.
    let first = demo.api("/api/movies/trending/").await["data"][0].clone();
    browser.click("article.card .card-title a").await;
    let title = browser
        .until(
            "the details",
            "return document.querySelector('#movie-title')?.textContent",
        )
        .await;
    assert_eq!(title, first["title"]);
    browser
        .until(
            "recommendations",
            "return document.querySelectorAll('.recommendations article.card').length",
        )
        .await;
    browser
        .until("posters on the details page", POSTERS_LOADED)
        .await;
    keep(&browser.screenshot("details").await);

    // Search (offline: the local index of stored titles).
    let word = first["title"]
        .as_str()
        .unwrap()
        .split(' ')
        .find(|w| w.len() > 3 && *w != "The")
        .unwrap()
        .to_owned();
    browser.type_into("#search-input", &word).await;
    browser.click("#search-button").await;
    browser
        .until(
            "search results",
            "return location.hash.startsWith('#/search') && document.querySelectorAll('article.card').length",
        )
        .await;
    let found = browser.texts("article.card .card-title").await;
    assert!(found.iter().any(|t| t.contains(&word)), "{word}: {found:?}");
    browser.assert_clean_console(&[]).await;
    browser.stop().await;
}

pub async fn an_account_adds_a_favorite_sees_it_listed_and_removes_it() {
    let demo = Demo::start().await;
    let browser = Browser::start(&demo.shots(), 1280, 900).await;
    // A session whose tokens the server no longer takes: asked to log in again.
    browser.goto(&format!("{}/", demo.base)).await;
    browser
        .js(
            "localStorage.setItem('reelcache.access', 'not-a-token'); \
             localStorage.setItem('reelcache.refresh', 'not-a-token'); \
             localStorage.setItem('reelcache.username', 'ghost');",
            vec![],
        )
        .await;
    browser.goto(&format!("{}/#/favorites", demo.base)).await;
    let said = browser
        .until(
            "the session-ended message",
            "const m = document.querySelector('#message'); return m && !m.hidden && m.textContent",
        )
        .await;
    assert!(said.as_str().unwrap().contains("log in again"), "{said}");
    browser
        .until(
            "the login form",
            "return document.querySelector('#login-form')",
        )
        .await;
    browser.assert_clean_console(&["401"]).await;

    browser.goto(&format!("{}/#/register", demo.base)).await;
    browser.type_into("#register-username", "filmfan").await;
    browser
        .type_into("#register-email", "filmfan@example.org")
        .await;
    browser
        .type_into("#register-password", "a long passphrase")
        .await;
    browser.click("#register-submit").await;
    browser
        .until(
            "signed in",
            "const u = document.querySelector('#current-user'); return u && !u.hidden && u.textContent",
        )
        .await;

    let movie = demo.api("/api/movies/trending/?time_window=week").await["data"][2].clone();
    let id = movie["id"].as_u64().unwrap();
    browser.goto(&format!("{}/#/movie/{id}", demo.base)).await;
    browser
        .until(
            "the favorite button",
            "return document.querySelector('#favorite-toggle')?.textContent.includes('Add')",
        )
        .await;
    browser.click("#favorite-toggle").await;
    browser
        .until(
            "added",
            "return document.querySelector('#favorite-toggle')?.textContent.includes('Remove')",
        )
        .await;

    browser.goto(&format!("{}/#/favorites", demo.base)).await;
    browser
        .until(
            "the favorite listed",
            "return document.querySelectorAll('.card.favorite').length",
        )
        .await;
    assert_eq!(
        browser.texts(".card.favorite .card-title").await,
        vec![movie["title"].as_str().unwrap().to_owned()]
    );
    browser.until("its poster", POSTERS_LOADED).await;
    keep(&browser.screenshot("favorites").await);
    browser.click(".remove-favorite").await;
    browser
        .until(
            "the empty list",
            "return document.querySelector('#favorites-empty')",
        )
        .await;

    // Log out, then in again through the form.
    browser.click("#logout").await;
    browser
        .until(
            "signed out",
            "return !document.querySelector('#login-link').hidden",
        )
        .await;
    browser.goto(&format!("{}/#/login", demo.base)).await;
    browser.type_into("#login-username", "filmfan").await;
    browser
        .type_into("#login-password", "a long passphrase")
        .await;
    browser.click("#login-submit").await;
    browser
        .until(
            "signed in again",
            "const u = document.querySelector('#current-user'); return u && !u.hidden && u.textContent.includes('filmfan')",
        )
        .await;
    browser.assert_clean_console(&[]).await;
    browser.stop().await;
}

pub async fn the_dashboard_shows_numbers_and_charts_after_traffic_and_clears() {
    let demo = Demo::start().await;
    // Some traffic: pages, details, images, a search.
    for page in 1..=3 {
        demo.api(&format!("/api/movies/trending/?page={page}"))
            .await;
    }
    let movies = demo.api("/api/movies/popular/").await;
    for movie in movies["data"].as_array().unwrap().iter().take(5) {
        demo.api(&format!("/api/movies/{}/", movie["id"])).await;
        let poster = movie["poster_path"].as_str().unwrap();
        reqwest::get(format!("{}/api/images/w342{poster}", demo.base))
            .await
            .unwrap();
    }
    demo.api("/api/movies/search/?query=the").await;
    // A staff account, made staff by the command line while the server runs.
    demo.post(
        "/api/users/register/",
        json!({"username": "operator", "password": "operator-passphrase"}),
        None,
    )
    .await;
    make_staff(&demo.data_dir(), "operator");

    let browser = Browser::start(&demo.shots(), 1280, 1000).await;
    browser.goto(&format!("{}/dashboard/", demo.base)).await;
    browser.type_into("#login-username", "operator").await;
    browser
        .type_into("#login-password", "operator-passphrase")
        .await;
    browser.click("#login-submit").await;
    let ratio = browser
        .until(
            "the hit ratio",
            "const t = document.querySelector('#stat-hit-ratio')?.textContent.trim(); \
             return t && t.endsWith('%') && t",
        )
        .await;
    assert!(ratio.as_str().unwrap().ends_with('%'), "{ratio}");
    let entries = browser
        .js(
            "return document.querySelector('#stat-entries').textContent",
            vec![],
        )
        .await;
    assert_ne!(entries, "0", "the demo's entries are counted");
    let drawn = browser
        .until(
            "a chart with points",
            "return Math.max(0, ...[...document.querySelectorAll('canvas.chart')].map(c => Number(c.dataset.points || 0)))",
        )
        .await;
    assert!(drawn.as_f64().unwrap() > 0.0, "{drawn}");
    let table = browser
        .js(
            "return document.querySelector('#namespaces-table').textContent",
            vec![],
        )
        .await;
    for ns in ["trending_movies", "movie", "images"] {
        assert!(table.as_str().unwrap().contains(ns), "{ns} in {table}");
    }
    let routes = browser
        .js(
            "return document.querySelector('#slowest-routes').textContent",
            vec![],
        )
        .await;
    assert!(
        routes.as_str().unwrap().contains("/api/movies/"),
        "{routes}"
    );
    keep(&browser.screenshot("dashboard").await);

    // The staff API's clear, from its button.
    browser
        .js(
            "const s = document.querySelector('#clear-namespace'); s.value = 'search_movies'; \
             s.dispatchEvent(new Event('change'));",
            vec![],
        )
        .await;
    browser.click("#clear-namespace-button").await;
    let message = browser
        .until(
            "the clear's answer",
            "const m = document.querySelector('#message'); return m && !m.hidden && m.textContent",
        )
        .await;
    assert!(message.as_str().unwrap().contains("Cleared"), "{message}");
    browser.assert_clean_console(&[]).await;
    browser.stop().await;
}

pub async fn the_front_end_fits_a_phone_and_starts_with_a_skip_link() {
    let demo = Demo::start().await;
    let browser = Browser::start(&demo.shots(), 375, 800).await;
    browser.goto(&format!("{}/", demo.base)).await;
    browser.until("cards", CARDS_LOADED).await;
    let widths = browser
        .js(
            "return [document.documentElement.scrollWidth, window.innerWidth]",
            vec![],
        )
        .await;
    assert!(
        widths[0].as_u64() <= widths[1].as_u64(),
        "no sideways scrolling at 375 px: {widths}"
    );
    keep(&browser.screenshot("front-end-phone").await);
    // The keyboard's first stop is the skip link.
    browser
        .client
        .find(fantoccini::Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{E004}")
        .await
        .unwrap();
    let focused = browser.js("return document.activeElement.id", vec![]).await;
    assert_eq!(focused, "skip-link");
    browser.assert_clean_console(&[]).await;
    browser.stop().await;
}

pub async fn a_rate_limited_client_is_told_when_to_try_again() {
    // One request a second, a burst of 25: the first page and its posters pass, then no more.
    let demo = Demo::start_with(&[
        ("REELCACHE_CLIENTS_RPS", "1"),
        ("REELCACHE_CLIENTS_BURST", "25"),
    ])
    .await;
    let browser = Browser::start(&demo.shots(), 1280, 900).await;
    browser.goto(&format!("{}/", demo.base)).await;
    browser.until("cards", CARDS_LOADED).await;
    // Every message the page shows from now on, however briefly (the next view clears it).
    browser
        .js(
            "window.seen = []; const m = document.querySelector('#message'); \
             new MutationObserver(() => { if (!m.hidden) window.seen.push(m.textContent); }) \
               .observe(m, {attributes: true, childList: true, characterData: true, subtree: true});",
            vec![],
        )
        .await;
    const SEEN: &str = "return window.seen.find(t => /try again in \\d+ s/.test(t)) || ''";
    let mut said = Value::Null;
    // Views asked for faster than one a second: the allowance runs out.
    for n in 0..40 {
        let page = 2 + n % 4;
        browser
            .goto(&format!("{}/#/popular?page={page}", demo.base))
            .await;
        said = browser.js(SEEN, vec![]).await;
        if said.as_str().is_some_and(|s| !s.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        said.as_str().unwrap().contains("Too many requests"),
        "{said}"
    );
    browser.assert_clean_console(&["429"]).await;
    browser.stop().await;
}

pub async fn a_page_the_offline_data_lacks_says_so() {
    let demo = Demo::start().await;
    let browser = Browser::start(&demo.shots(), 1280, 900).await;
    browser
        .goto(&format!("{}/#/trending/day?page=9", demo.base))
        .await;
    let said = browser
        .until(
            "the offline message",
            "const m = document.querySelector('#message'); return m && !m.hidden && m.textContent",
        )
        .await;
    assert!(said.as_str().unwrap().contains("offline"), "{said}");
    browser.assert_clean_console(&["503"]).await;
    browser.stop().await;
}
