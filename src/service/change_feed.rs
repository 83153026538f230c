//! TMDB's change feed: every `changes.every` (1 h; never offline) the server asks
//! `/movie/changes` for the movies edited since its last poll (the window in days, as TMDB takes
//! it: from the day the last poll ended, at most 14 days back, to today), reads every page (at
//! most 1,000, TMDB's own limit), skips null ids, and drops or refreshes those movies' stored
//! entries (`service/movies/changes.rs`). A poll that fails is logged and tried again whole at
//! the next interval; until the feed works again, details fall back to their normal TTL.
//!
//! Its state (the window polled last and the counts) is kept in `<data dir>/change-feed.json`,
//! written atomically (a temporary file, fsync, rename), so a restart goes on from where the
//! last poll ended. Format: version 1, the fields of `FeedState`; an unreadable or newer file is
//! set aside as `change-feed.json.unreadable` and the feed starts over from the last day.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::domain::Requester;
use crate::service::movies::MovieService;
use crate::tmdb::changes::parse_changes;

const FORMAT: u32 = 1;
const FILE: &str = "change-feed.json";
/// TMDB serves at most 14 days a request, and 1,000 pages.
const MAX_WINDOW_MS: u64 = 14 * 24 * 3600 * 1000;
const MAX_PAGES: u32 = 1000;
/// The first poll looks back one day (TMDB's default window).
const FIRST_WINDOW_MS: u64 = 24 * 3600 * 1000;
/// Hot entries of changed movies fetched again in one poll, at most (the others are dropped,
/// and fetched again when next read).
const MAX_REFRESHES: u64 = 100;

/// What the feed has done, kept across restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FeedState {
    pub version: u32,
    /// Where the last successful poll ended (Unix ms): the next one starts on its day.
    pub polled_until_ms: Option<u64>,
    /// The last window asked for: `start_date` and `end_date`, as sent.
    pub last_window: Option<(String, String)>,
    pub last_success_at: Option<String>,
    pub polls: u64,
    pub failures: u64,
    pub pages: u64,
    /// Ids listed (with repeats across polls), and the null ones among the entries.
    pub ids_seen: u64,
    pub null_ids: u64,
    /// Entries dropped, and hot ones fetched again instead.
    pub invalidated: u64,
    pub refreshed: u64,
    pub last_error: Option<String>,
}

pub struct ChangeFeed {
    movies: MovieService,
    every: Duration,
    path: PathBuf,
    state: Mutex<FeedState>,
    clock: Clock,
}

/// The feed's statistics: its state, and whether it runs.
#[derive(Debug, Clone, Serialize)]
pub struct FeedStats {
    pub enabled: bool,
    pub every_seconds: u64,
    #[serde(flatten)]
    pub state: FeedState,
}

/// `YYYY-MM-DD` (UTC) of a Unix ms time.
fn day_of(ms: u64) -> String {
    crate::clock::rfc3339(ms as i64)[..10].to_owned()
}

impl ChangeFeed {
    pub fn new(movies: MovieService, every: Duration, data_dir: &Path, clock: Clock) -> ChangeFeed {
        let path = data_dir.join(FILE);
        let state = load(&path);
        ChangeFeed {
            movies,
            every,
            path,
            state: Mutex::new(state),
            clock,
        }
    }

    fn enabled(&self) -> bool {
        !self.every.is_zero() && !self.movies.is_offline() && self.movies.tmdb().has_credential()
    }

    pub fn stats(&self) -> FeedStats {
        FeedStats {
            enabled: self.enabled(),
            every_seconds: self.every.as_secs(),
            state: crate::sync::lock(&self.state).clone(),
        }
    }

    /// Polls at once, then every `every`, until `stop` resolves (at once when it is off).
    pub async fn run(self: std::sync::Arc<Self>, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        if !self.enabled() {
            return stop.await;
        }
        loop {
            // A poll stopped half-way is polled again whole at the next start.
            tokio::select! {
                () = &mut stop => return,
                () = self.poll() => {}
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(self.every) => {}
            }
        }
    }

    /// One poll: every page of the window, then the changes applied, then the state saved.
    pub async fn poll(&self) {
        let now_ms = self.clock.now_ms();
        let since = crate::sync::lock(&self.state)
            .polled_until_ms
            .unwrap_or(now_ms.saturating_sub(FIRST_WINDOW_MS))
            .max(now_ms.saturating_sub(MAX_WINDOW_MS));
        let window = (day_of(since), day_of(now_ms));
        let result = self.read_window(&window).await;
        let mut state = crate::sync::lock(&self.state).clone();
        state.version = FORMAT;
        state.last_window = Some(window);
        match result {
            Ok((ids, nulls, pages)) => {
                let mut seen = std::collections::HashSet::new();
                let mut poll_refreshes = 0;
                for id in ids.iter().copied() {
                    if seen.insert(id) {
                        // At most `MAX_REFRESHES` hot entries fetched again a poll; past
                        // that, changed entries are only dropped.
                        let may_refresh = poll_refreshes < MAX_REFRESHES;
                        let applied = self.movies.apply_change(id, may_refresh).await;
                        poll_refreshes += applied.refreshed;
                        state.invalidated += applied.invalidated;
                        state.refreshed += applied.refreshed;
                    }
                }
                state.polls += 1;
                state.pages += u64::from(pages);
                state.ids_seen += ids.len() as u64;
                state.null_ids += nulls;
                state.polled_until_ms = Some(now_ms);
                state.last_success_at = Some(crate::clock::rfc3339(now_ms as i64));
                state.last_error = None;
                let ok_until = now_ms.saturating_add(2 * self.every.as_millis() as u64);
                self.movies.feed_succeeded(ok_until);
                tracing::info!(ids = ids.len(), pages, "change feed polled");
            }
            Err(error) => {
                state.failures += 1;
                tracing::warn!(%error, "change feed failed; details fall back to their TTL");
                state.last_error = Some(error);
            }
        }
        *crate::sync::lock(&self.state) = state.clone();
        let path = self.path.clone();
        let saved = crate::telemetry::spawn_blocking(move || save(&path, &state)).await;
        if let Err(e) = saved {
            tracing::warn!(error = %e, path = %self.path.display(), "cannot save the change feed's state");
        }
    }

    /// The window's ids (nulls counted apart) and how many pages it took.
    async fn read_window(
        &self,
        (start, end): &(String, String),
    ) -> Result<(Vec<u32>, u64, u32), String> {
        let mut ids = Vec::new();
        let mut nulls = 0;
        let mut page = 1;
        loop {
            let page_text = page.to_string();
            let params = [
                ("start_date", start.as_str()),
                ("end_date", end.as_str()),
                ("page", page_text.as_str()),
            ];
            let body = self
                .movies
                .tmdb()
                .get("/movie/changes", &params, Requester::Background)
                .await
                .map_err(|e| format!("page {page}: {e}"))?;
            let changes = parse_changes(&body).map_err(|e| format!("page {page}: {e}"))?;
            for id in changes.ids {
                match id {
                    Some(id) => ids.push(id),
                    None => nulls += 1,
                }
            }
            if page >= changes.total_pages.min(MAX_PAGES) {
                return Ok((ids, nulls, page));
            }
            page += 1;
        }
    }
}

fn load(path: &Path) -> FeedState {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(_) => return FeedState::default(),
    };
    match serde_json::from_slice::<FeedState>(&text) {
        Ok(state) if state.version == FORMAT => state,
        _ => {
            let aside = path.with_extension("json.unreadable");
            tracing::warn!(path = %path.display(), "unreadable change feed state; set aside, starting over");
            let _ = std::fs::rename(path, aside);
            FeedState::default()
        }
    }
}

fn save(path: &Path, state: &FeedState) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&serde_json::to_vec_pretty(state).expect("a state serialises"))?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    // The rename itself survives a crash once the directory is synced.
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
