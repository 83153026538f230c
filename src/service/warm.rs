//! `warm`: fill the cache from TMDB before anyone asks. Trending (day and week) and popular pages
//! first, then details and recommendations of every movie on them. Every request goes through the
//! same service (and so the same rate limiter and cache rules) as the server's; what is still
//! fresh is skipped, so an interrupted warm continues where it stopped. With an image size, the
//! posters of every movie the pages show come last (`warm --images w342`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Deserialize;

use crate::counters::Counters;
use crate::domain::image::ImagePath;
use crate::domain::{MovieId, Page, Requester, TimeWindow};
use crate::error::ApiError;
use crate::service::images::ImageService;
use crate::service::movies::endpoints::{Details, Recommendations, Trending};
use crate::service::movies::{CacheOutcome, MovieService, Served};

#[derive(Debug, Clone, serde::Serialize)]
pub struct WarmPlan {
    pub trending_pages: u32,
    pub popular_pages: u32,
    pub recommendation_pages: u32,
    pub details: bool,
    pub concurrency: usize,
    /// At most this many TMDB fetches in the run (`None`: no bound). What is still fresh costs
    /// nothing; once it is spent, the rest is left for the next run.
    pub budget: Option<u64>,
    /// Also fetch the poster of every movie the run's pages show, at this size (`w342`).
    pub image_size: Option<&'static str>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct WarmReport {
    pub fetched: u64,
    pub skipped: u64,
    pub failed: u64,
    /// JSON bytes stored by this run, and what they took compressed.
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    pub elapsed: Duration,
    pub interrupted: bool,
    /// Items left undone because the run's TMDB budget was spent.
    pub over_budget: u64,
    /// What was left of the budget at the end (`None`: no budget).
    pub budget_left: Option<u64>,
}

/// How many failed requests a warm may have and still succeed (`--max-failures`): a count
/// (`10`) or a share of the pages and movies it covered (`5%`). Whatever the budget, a warm that
/// neither fetched nor found fresh anything, and failed anything, has failed: a script must not
/// take an empty cache for a warm one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureBudget {
    Count(u64),
    Percent(u8),
}

impl Default for FailureBudget {
    /// Any number of failures, so long as something was fetched: TMDB's odd 404 for a movie it
    /// lists is not a failed warm.
    fn default() -> Self {
        FailureBudget::Percent(100)
    }
}

impl std::str::FromStr for FailureBudget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not a count (10) or a percentage from 0% to 100% (5%)");
        match s.strip_suffix('%') {
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= 100 => Ok(FailureBudget::Percent(p)),
                _ => Err(bad()),
            },
            None => s.parse().map(FailureBudget::Count).map_err(|_| bad()),
        }
    }
}

impl WarmReport {
    pub fn done(&self) -> u64 {
        self.fetched + self.skipped + self.failed
    }

    /// `Err` with the reason when this warm failed by `budget`'s measure.
    pub fn judge(&self, budget: FailureBudget) -> Result<(), String> {
        if self.failed == 0 {
            return Ok(());
        }
        if self.fetched + self.skipped == 0 {
            return Err(format!(
                "warm failed: nothing fetched or fresh, {} requests failed (is TMDB reachable?)",
                self.failed
            ));
        }
        let done = self.done();
        let over = match budget {
            FailureBudget::Count(n) => self.failed > n,
            // failed / done > p / 100, in integers.
            FailureBudget::Percent(p) => self.failed * 100 > u64::from(p) * done,
        };
        if over {
            return Err(format!(
                "warm failed: {} of {done} failed, more than --max-failures allows",
                self.failed
            ));
        }
        Ok(())
    }

    pub fn summary(&self) -> String {
        let ratio = if self.raw_bytes == 0 {
            "n/a".to_owned()
        } else {
            format!("{:.2}", self.stored_bytes as f64 / self.raw_bytes as f64)
        };
        let over_budget = match self.over_budget {
            0 => String::new(),
            n => format!(", {n} left for the next run (budget spent)"),
        };
        format!(
            "{}: {} fetched, {} skipped (still fresh), {} failed{over_budget}; {} raw JSON bytes \
             stored as {} (ratio {ratio}); {:.1}s",
            if self.interrupted {
                "warm interrupted"
            } else {
                "warm finished"
            },
            self.fetched,
            self.skipped,
            self.failed,
            self.raw_bytes,
            self.stored_bytes,
            self.elapsed.as_secs_f64()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WarmError {
    #[error(
        "TMDB refused the credential (HTTP 401): check TMDB_API_KEY / TMDB_ACCESS_TOKEN. Nothing more was fetched."
    )]
    CredentialRefused,
    #[error("warm needs TMDB: set TMDB_API_KEY or TMDB_ACCESS_TOKEN, and do not pass --offline")]
    Offline,
}

/// Told about progress; implemented by the command line (a bar or periodic lines).
pub trait WarmProgress: Send + Sync {
    /// More work was discovered.
    fn add_total(&self, n: u64);
    /// One more item finished; `report` is the running total.
    fn finished_one(&self, report: &WarmReport);
}

#[derive(Debug, Clone)]
enum Job {
    Trending(TimeWindow, Page),
    Popular(Page),
    Details(MovieId),
    Recommendations(MovieId, Page),
    Image(ImagePath),
}

enum JobResult {
    Done {
        fetched: bool,
        ids: Vec<MovieId>,
        /// The `poster_path`s the answer holds.
        posters: Vec<String>,
    },
    Failed,
    Cancelled,
    OverBudget,
}

/// What is left of a run's TMDB budget: one unit is taken before each item and given back when
/// the item turned out fresh (no fetch), so fetches never exceed it, whatever the concurrency.
struct Budget(Option<AtomicU64>);

impl Budget {
    fn take(&self) -> bool {
        self.0.as_ref().is_none_or(|left| {
            left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        })
    }

    fn give_back(&self) {
        if let Some(left) = &self.0 {
            left.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn left(&self) -> Option<u64> {
        self.0.as_ref().map(|left| left.load(Ordering::SeqCst))
    }
}

#[derive(Deserialize)]
struct Item {
    id: u32,
    #[serde(default)]
    poster_path: Option<String>,
}

/// The movies a list names, and their posters.
fn list_items(served: &Served) -> (Vec<MovieId>, Vec<String>) {
    let Some(raw) = served.payload() else {
        return (Vec::new(), Vec::new());
    };
    let items = serde_json::from_slice::<Vec<Item>>(&raw).unwrap_or_default();
    let ids = items.iter().filter_map(|i| MovieId::new(i.id)).collect();
    let posters = items.into_iter().filter_map(|i| i.poster_path).collect();
    (ids, posters)
}

/// A movie's poster, from its details.
fn details_poster(served: &Served) -> Vec<String> {
    served
        .payload()
        .and_then(|raw| serde_json::from_slice::<Item>(&raw).ok())
        .and_then(|item| item.poster_path)
        .into_iter()
        .collect()
}

async fn run_job(
    service: &MovieService,
    images: Option<&ImageService>,
    job: Job,
    stop: &AtomicBool,
    budget: &Budget,
) -> Result<JobResult, WarmError> {
    if stop.load(Ordering::Relaxed) {
        return Ok(JobResult::Cancelled);
    }
    if !budget.take() {
        return Ok(JobResult::OverBudget);
    }
    let result = match (job, images) {
        (Job::Image(path), Some(images)) => match images.warm(&path).await {
            Ok(fetched) => Ok(JobResult::Done {
                fetched,
                ids: Vec::new(),
                posters: Vec::new(),
            }),
            Err(e) => {
                tracing::warn!(%path, error = %e, "warm: image fetch failed");
                Ok(JobResult::Failed)
            }
        },
        (Job::Image(_), None) => Ok(JobResult::Failed),
        (job, _) => run_job_within(service, job).await,
    };
    // Fresh: no TMDB call was made.
    if let Ok(JobResult::Done { fetched: false, .. }) = &result {
        budget.give_back();
    }
    result
}

async fn run_job_within(service: &MovieService, job: Job) -> Result<JobResult, WarmError> {
    let language = *service.default_language();
    let result = match job.clone() {
        Job::Image(_) => unreachable!("images are warmed by run_job"),
        Job::Trending(window, page) => {
            let request = Trending { window, page };
            service
                .cached(request, &language, Requester::Background)
                .await
        }
        Job::Popular(page) => service.warm_popular(&language, page).await,
        Job::Details(id) => {
            let request = Details { id };
            service
                .cached(request, &language, Requester::Background)
                .await
        }
        Job::Recommendations(id, page) => {
            let request = Recommendations { id, page };
            service
                .cached(request, &language, Requester::Background)
                .await
        }
    };
    match result {
        Ok(served) => {
            let (ids, posters) = match job {
                Job::Trending(..) | Job::Popular(_) => list_items(&served),
                Job::Recommendations(..) => (Vec::new(), list_items(&served).1),
                Job::Details(_) => (Vec::new(), details_poster(&served)),
                Job::Image(_) => (Vec::new(), Vec::new()),
            };
            Ok(JobResult::Done {
                fetched: served.outcome == CacheOutcome::Miss,
                ids,
                posters,
            })
        }
        Err(ApiError::CredentialRefused) => Err(WarmError::CredentialRefused),
        Err(e) => {
            tracing::warn!(?job, error = %e, "warm: fetch failed");
            Ok(JobResult::Failed)
        }
    }
}

/// What the services a warm run uses.
pub struct WarmServices<'a> {
    pub movies: &'a MovieService,
    /// For `image_size`: `None` leaves images alone.
    pub images: Option<&'a ImageService>,
}

/// Runs `jobs` with bounded concurrency, adding to `report`; returns the movie ids the lists
/// named and the posters the answers held. Stops taking new jobs once `stop` is set; jobs in
/// flight finish and are stored.
async fn run_jobs(
    services: &WarmServices<'_>,
    jobs: Vec<Job>,
    plan: &WarmPlan,
    stop: &AtomicBool,
    budget: &Budget,
    report: &mut WarmReport,
    progress: &dyn WarmProgress,
) -> Result<(Vec<MovieId>, Vec<String>), WarmError> {
    let mut ids = Vec::new();
    let mut posters = Vec::new();
    let mut results = futures_util::stream::iter(jobs)
        .map(|job| run_job(services.movies, services.images, job, stop, budget))
        .buffer_unordered(plan.concurrency.max(1));
    while let Some(result) = results.next().await {
        match result? {
            JobResult::Done {
                fetched,
                ids: found,
                posters: shown,
            } => {
                if fetched {
                    report.fetched += 1;
                } else {
                    report.skipped += 1;
                }
                ids.extend(found);
                posters.extend(shown);
            }
            JobResult::Failed => report.failed += 1,
            JobResult::OverBudget => report.over_budget += 1,
            JobResult::Cancelled => {
                report.interrupted = true;
                continue;
            }
        }
        progress.finished_one(report);
    }
    Ok((ids, posters))
}

pub async fn warm(
    services: &WarmServices<'_>,
    counters: &Counters,
    plan: &WarmPlan,
    stop: &AtomicBool,
    progress: &dyn WarmProgress,
) -> Result<WarmReport, WarmError> {
    let service = services.movies;
    if service.is_offline() {
        return Err(WarmError::Offline);
    }
    let started = Instant::now();
    let before = counters.snapshot();
    let mut report = WarmReport::default();

    let pages = |n: u32| (1..=n).filter_map(Page::new);
    let mut lists: Vec<Job> = Vec::new();
    for window in TimeWindow::ALL {
        lists.extend(pages(plan.trending_pages).map(|p| Job::Trending(window, p)));
    }
    lists.extend(pages(plan.popular_pages).map(Job::Popular));
    progress.add_total(lists.len() as u64);
    let budget = Budget(plan.budget.map(AtomicU64::new));
    let (mut ids, mut posters) =
        run_jobs(services, lists, plan, stop, &budget, &mut report, progress).await?;

    // Each movie once, in the order the lists named them.
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(*id));
    let mut per_movie: Vec<Job> = Vec::new();
    for id in ids {
        if plan.details {
            per_movie.push(Job::Details(id));
        }
        per_movie.extend(pages(plan.recommendation_pages).map(|p| Job::Recommendations(id, p)));
    }
    progress.add_total(per_movie.len() as u64);
    if !stop.load(Ordering::Relaxed) {
        let (_, shown) = run_jobs(
            services,
            per_movie,
            plan,
            stop,
            &budget,
            &mut report,
            progress,
        )
        .await?;
        posters.extend(shown);
    } else {
        report.interrupted = true;
    }

    // Every poster the pages show, once, in the order they were met.
    if let Some(size) = plan.image_size.filter(|_| services.images.is_some()) {
        let mut seen = std::collections::HashSet::new();
        let images: Vec<Job> = posters
            .iter()
            .filter(|p| seen.insert(p.as_str()))
            .filter_map(|p| ImagePath::parse(size, p.trim_start_matches('/')).ok())
            .map(Job::Image)
            .collect();
        progress.add_total(images.len() as u64);
        if !stop.load(Ordering::Relaxed) {
            run_jobs(services, images, plan, stop, &budget, &mut report, progress).await?;
        } else {
            report.interrupted = true;
        }
    }

    // The pages are stored; their final (LZ4-HC) encoding is what the report counts.
    service.settle_cache().await;
    let after = counters.snapshot();
    report.raw_bytes = after.bytes_raw - before.bytes_raw;
    report.stored_bytes = after.bytes_stored - before.bytes_stored;
    report.elapsed = started.elapsed();
    report.budget_left = budget.left();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(fetched: u64, skipped: u64, failed: u64) -> WarmReport {
        WarmReport {
            fetched,
            skipped,
            failed,
            ..WarmReport::default()
        }
    }

    #[test]
    fn budgets_parse_as_counts_or_percentages() {
        assert_eq!("10".parse(), Ok(FailureBudget::Count(10)));
        assert_eq!("0".parse(), Ok(FailureBudget::Count(0)));
        assert_eq!("5%".parse(), Ok(FailureBudget::Percent(5)));
        assert_eq!("100%".parse(), Ok(FailureBudget::Percent(100)));
        for bad in ["101%", "-1", "five", "%", "1.5%", ""] {
            assert!(bad.parse::<FailureBudget>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_warm_that_got_nothing_and_failed_something_fails_whatever_the_budget() {
        let all = FailureBudget::default();
        assert!(report(0, 0, 1).judge(all).is_err());
        assert!(report(0, 0, 0).judge(FailureBudget::Count(0)).is_ok());
        // Fresh entries are a warm cache: a rerun that only retried failures is judged by budget.
        assert!(report(0, 9, 1).judge(all).is_ok());
        assert!(report(1, 0, 99).judge(all).is_ok());
    }

    #[test]
    fn failures_over_the_budget_fail_the_warm() {
        assert!(report(9, 0, 1).judge(FailureBudget::Count(1)).is_ok());
        assert!(report(8, 0, 2).judge(FailureBudget::Count(1)).is_err());
        // 1 of 10 is 10 %.
        assert!(report(9, 0, 1).judge(FailureBudget::Percent(10)).is_ok());
        assert!(report(9, 0, 1).judge(FailureBudget::Percent(9)).is_err());
        assert!(report(5, 4, 1).judge(FailureBudget::Percent(9)).is_err());
    }
}
