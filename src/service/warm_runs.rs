//! The server's own warm runs: on a schedule (`warm.every`, never offline) or when staff ask
//! (`POST /api/utils/cache/warm/`), one at a time, each with a TMDB-call budget. A run is the
//! `warm` command's (`service/warm.rs`, the same code), in a background task; its progress is
//! kept here for `GET /api/utils/cache/warm/`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::clock::{Clock, rfc3339};
use crate::config::WarmSettings;
use crate::counters::Counters;
use crate::error::ApiError;
use crate::service::movies::MovieService;
use crate::service::warm::{WarmPlan, WarmProgress, WarmReport, WarmServices, warm};

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Schedule,
    Staff,
}

/// The current or last run.
#[derive(Debug, Clone, Serialize)]
pub struct RunStatus {
    pub trigger: Trigger,
    pub running: bool,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub plan: WarmPlan,
    pub fetched: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Items left for the next run because the budget was spent.
    pub left_over_budget: u64,
    pub budget_left: Option<u64>,
    /// Why the run stopped early (the credential refused, the server stopping).
    pub error: Option<String>,
}

pub struct WarmRuns {
    last: Mutex<Option<RunStatus>>,
    /// Set at shutdown: a run in progress takes no new work.
    stop: Arc<AtomicBool>,
    clock: Clock,
}

/// The plan a scheduled run follows, and the defaults of a staff run.
pub fn default_plan(settings: &WarmSettings) -> WarmPlan {
    WarmPlan {
        trending_pages: settings.trending_pages,
        popular_pages: settings.popular_pages,
        recommendation_pages: settings.recommendation_pages,
        details: settings.details,
        concurrency: settings.concurrency as usize,
        budget: Some(u64::from(settings.budget)),
        image_size: None,
    }
}

impl WarmRuns {
    pub fn new(clock: Clock) -> WarmRuns {
        WarmRuns {
            last: Mutex::new(None),
            stop: Arc::new(AtomicBool::new(false)),
            clock,
        }
    }

    /// The current or last run, if any ran since start.
    pub fn status(&self) -> Option<RunStatus> {
        crate::sync::lock(&self.last).clone()
    }

    /// Starts a run of `plan` in the background; `Conflict` while another runs.
    pub fn start(
        self: &Arc<Self>,
        movies: &MovieService,
        counters: &Arc<Counters>,
        plan: WarmPlan,
        trigger: Trigger,
    ) -> Result<RunStatus, ApiError> {
        if movies.is_offline() {
            return Err(ApiError::Conflict(
                "offline: warming needs TMDB (set a credential and leave offline mode)".to_owned(),
            ));
        }
        let status = {
            let mut last = crate::sync::lock(&self.last);
            if last.as_ref().is_some_and(|run| run.running) {
                return Err(ApiError::Conflict(
                    "a warm run is in progress: see GET /api/utils/cache/warm/".to_owned(),
                ));
            }
            let status = RunStatus {
                trigger,
                running: true,
                started_at: rfc3339(self.clock.now_ms() as i64),
                finished_at: None,
                plan: plan.clone(),
                fetched: 0,
                skipped: 0,
                failed: 0,
                left_over_budget: 0,
                budget_left: plan.budget,
                error: None,
            };
            *last = Some(status.clone());
            status
        };
        tracing::info!(?trigger, budget = ?plan.budget, "warm run started");
        let runs = Arc::clone(self);
        let movies = movies.clone();
        let counters = Arc::clone(counters);
        tokio::spawn(async move {
            let progress = Progress {
                runs: Arc::clone(&runs),
                budget: plan.budget,
            };
            let services = WarmServices {
                movies: &movies,
                images: None,
            };
            let result = warm(&services, &counters, &plan, &runs.stop, &progress).await;
            runs.finish(result.map_err(|e| e.to_string()));
        });
        Ok(status)
    }

    fn finish(&self, result: Result<WarmReport, String>) {
        let mut last = crate::sync::lock(&self.last);
        let Some(run) = last.as_mut() else {
            return;
        };
        run.running = false;
        run.finished_at = Some(rfc3339(self.clock.now_ms() as i64));
        match result {
            Ok(report) => {
                tracing::info!("{}", report.summary());
                run.fetched = report.fetched;
                run.skipped = report.skipped;
                run.failed = report.failed;
                run.left_over_budget = report.over_budget;
                run.budget_left = report.budget_left;
                if report.interrupted {
                    run.error = Some("stopped: the server is shutting down".to_owned());
                }
            }
            Err(error) => {
                tracing::warn!(%error, "warm run stopped");
                run.error = Some(error);
            }
        }
    }

    /// Runs the schedule until `stop` resolves: a run every `settings.every` (none when it is
    /// zero or the server is offline). A run still going when the next is due is left alone.
    pub async fn schedule(
        self: Arc<Self>,
        movies: MovieService,
        counters: Arc<Counters>,
        settings: WarmSettings,
        stop: impl Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        if settings.every.is_zero() || movies.is_offline() {
            stop.await;
            self.stop.store(true, Ordering::Relaxed);
            return;
        }
        loop {
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(settings.every) => {
                    if let Err(e) = self.start(&movies, &counters, default_plan(&settings), Trigger::Schedule) {
                        tracing::info!(error = %e, "scheduled warm run skipped");
                    }
                }
            }
        }
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Keeps the run's counts current.
struct Progress {
    runs: Arc<WarmRuns>,
    budget: Option<u64>,
}

impl WarmProgress for Progress {
    fn add_total(&self, _n: u64) {}

    fn finished_one(&self, report: &WarmReport) {
        if let Some(run) = crate::sync::lock(&self.runs.last).as_mut() {
            run.fetched = report.fetched;
            run.skipped = report.skipped;
            run.failed = report.failed;
            run.left_over_budget = report.over_budget;
            // As the run's budget counts: a failed item spent its unit too.
            run.budget_left = self
                .budget
                .map(|b| b.saturating_sub(report.fetched + report.failed));
        }
    }
}
