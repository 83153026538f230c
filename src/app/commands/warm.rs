//! `reelcache warm`.

use super::*;

/// `reelcache warm`. Ctrl-C stops taking new work; what is in flight finishes and is stored.
pub async fn run_warm(settings: &Settings, args: &WarmArgs) -> Result<(), CommandError> {
    // The only user of TMDB in this process (the data directory is locked to it): no share of
    // the upstream budget needs keeping for other clients.
    let mut alone = settings.clone();
    alone.resilience.client_share = 100;
    let opened = open(&alone, Clock::system()).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_on_signal = stop.clone();
    // Registered before any work starts, so an early Ctrl-C is never the default "killed".
    let mut interrupt =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .map_err(|e| CommandError::runtime(format!("cannot install signal handlers: {e}")))?;
    let signal = tokio::spawn(async move {
        if interrupt.recv().await.is_some() {
            eprintln!("interrupted: finishing the requests in flight (run warm again to continue)");
            stop_on_signal.store(true, Ordering::Relaxed);
        }
    });
    let result = warm_with(&opened, args, &stop).await;
    signal.abort();
    close_after_bulk_write(opened, settings).await;
    let report = result?;
    eprintln!("{}", report.summary());
    if report.interrupted {
        return Err(CommandError {
            status: EXIT_INTERRUPTED,
            message: "interrupted".to_owned(),
        });
    }
    report
        .judge(args.max_failures)
        .map_err(CommandError::runtime)
}

pub(super) async fn warm_with(
    opened: &Opened,
    args: &WarmArgs,
    stop: &AtomicBool,
) -> Result<WarmReport, CommandError> {
    let plan = WarmPlan {
        trending_pages: args.trending_pages,
        popular_pages: args.popular_pages,
        recommendation_pages: args.recommendation_pages,
        details: !args.no_details,
        concurrency: args.concurrency as usize,
        budget: args.budget,
        image_size: args.images.as_deref().and_then(|size| {
            crate::domain::image::SIZES
                .iter()
                .find(|s| **s == size)
                .copied()
        }),
    };
    let progress = Progress::new("warm");
    let services = crate::service::warm::WarmServices {
        movies: &opened.state.movies,
        images: Some(&opened.state.images),
    };
    let result = warm(&services, &opened.state.counters, &plan, stop, &progress).await;
    progress.finish();
    result.map_err(|e| match e {
        WarmError::CredentialRefused | WarmError::Offline => CommandError::usage(e.to_string()),
    })
}
