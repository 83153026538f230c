//! The command-line tools other than `serve`: `warm`, `snapshot export|import`, and the hidden
//! `dev make-demo` that regenerates the bundled demo data. Each opens the data directory the same
//! way the server does.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::app::cli::WarmArgs;
use crate::app::startup::Opened;
use crate::cache::snapshot::{self, SnapshotHeader};
use crate::clock::Clock;
use crate::config::{Credential, Settings};
use crate::service::warm::{WarmError, WarmPlan, WarmProgress, WarmReport, warm};

/// A failed command: what to print and the exit status.
#[derive(Debug)]
pub struct CommandError {
    pub status: u8,
    pub message: String,
}

impl CommandError {
    pub(crate) fn runtime(message: impl Into<String>) -> CommandError {
        CommandError {
            status: 1,
            message: message.into(),
        }
    }
    fn usage(message: impl Into<String>) -> CommandError {
        CommandError {
            status: 2,
            message: message.into(),
        }
    }
}

/// Exit status of a run stopped by Ctrl-C, as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;

/// A progress bar on a terminal; a plain line every few seconds otherwise (logs, CI).
struct Progress {
    bar: Option<ProgressBar>,
    label: &'static str,
    total: Mutex<u64>,
    last_line: Mutex<Instant>,
}

impl Progress {
    fn new(label: &'static str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(label);
            bar
        });
        Progress {
            bar,
            label,
            total: Mutex::new(0),
            last_line: Mutex::new(Instant::now()),
        }
    }

    fn line_due(&self) -> bool {
        let mut last = crate::sync::lock(&self.last_line);
        if last.elapsed() >= Duration::from_secs(2) {
            *last = Instant::now();
            true
        } else {
            false
        }
    }

    fn add_total(&self, n: u64) {
        let mut total = crate::sync::lock(&self.total);
        *total += n;
        if let Some(bar) = &self.bar {
            bar.set_length(*total);
        }
    }

    fn set_position(&self, done: u64, detail: impl FnOnce() -> String) {
        match &self.bar {
            Some(bar) => bar.set_position(done),
            None if self.line_due() => {
                let total = *crate::sync::lock(&self.total);
                eprintln!("{}: {done}/{total} {}", self.label, detail());
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl WarmProgress for Progress {
    fn add_total(&self, n: u64) {
        Progress::add_total(self, n);
    }

    fn finished_one(&self, report: &WarmReport) {
        self.set_position(report.done(), || {
            format!(
                "({} fetched, {} skipped, {} failed)",
                report.fetched, report.skipped, report.failed
            )
        });
    }
}

/// Opens the data directory for a command. Commands fetch exactly what they are asked to:
/// no prefetching of next pages.
pub(crate) async fn open(settings: &Settings, clock: Clock) -> Result<Opened, CommandError> {
    let mut settings = settings.clone();
    settings.resilience.prefetch = false;
    Opened::open(&settings, clock)
        .await
        .map_err(|e| CommandError::runtime(e.to_string()))
}

/// Flushes the cache and waits until nothing holds it.
pub(crate) async fn close(opened: Opened) {
    drop(release(opened).await);
}

/// `close`, for a command that wrote many entries: before the data directory is let go, sled's
/// log is folded into its snapshot (`SledStore::fold_log`), so that the command pays for it
/// rather than the server's next start.
pub(crate) async fn close_after_bulk_write(opened: Opened, settings: &Settings) {
    let fold = opened.state.cache.log_to_fold();
    let lock = release(opened).await;
    crate::app::startup::fold_sled_log(fold, &settings.data_dir, &settings.cache).await;
    drop(lock);
}

/// Flushes the cache and waits until nothing holds it; the data directory's lock is returned.
async fn release(opened: Opened) -> std::fs::File {
    let Opened {
        state,
        mut state_released,
        lock,
    } = opened;
    if let Err(e) = state.cache.flush().await {
        tracing::warn!(error = %e, "flushing the cache failed");
    }
    drop(state);
    let _ = state_released.recv().await;
    lock
}

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

async fn warm_with(
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
    };
    let progress = Progress::new("warm");
    let result = warm(
        &opened.state.movies,
        &opened.state.counters,
        &plan,
        stop,
        &progress,
    )
    .await;
    progress.finish();
    result.map_err(|e| match e {
        WarmError::CredentialRefused | WarmError::Offline => CommandError::usage(e.to_string()),
    })
}

/// `reelcache snapshot export FILE`.
pub async fn run_export(
    settings: &Settings,
    file: &Path,
    namespaces: &[String],
    description: &str,
) -> Result<(), CommandError> {
    let header = SnapshotHeader {
        created_at_ms: Clock::system().now_ms(),
        producer: concat!("reelcache ", env!("CARGO_PKG_VERSION")).to_owned(),
        description: description.to_owned(),
    };
    export_with(settings, Clock::system(), file, namespaces, header).await
}

async fn export_with(
    settings: &Settings,
    clock: Clock,
    file: &Path,
    namespaces: &[String],
    header: SnapshotHeader,
) -> Result<(), CommandError> {
    if let Some(unknown) = namespaces
        .iter()
        .find(|ns| !crate::cache::key::SNAPSHOT_NAMESPACES.contains(&ns.as_str()))
    {
        return Err(CommandError::usage(format!(
            "unknown namespace '{unknown}' (snapshots hold: {})",
            crate::cache::key::SNAPSHOT_NAMESPACES.join(", ")
        )));
    }
    let opened = open(settings, clock).await?;
    let cache = opened.state.cache.clone();
    let (file_owned, namespaces) = (file.to_owned(), namespaces.to_vec());
    let estimate = cache.usage().stored_bytes();
    let result = with_progress("export", estimate, move |progress| {
        snapshot::export(&cache, &file_owned, &namespaces, &header, progress)
    })
    .await?;
    close(opened).await;
    let summary = result.map_err(|e| CommandError::runtime(e.to_string()))?;
    eprintln!(
        "exported {} entries ({} bytes) to {}: {}",
        summary.entries,
        summary.bytes,
        file.display(),
        describe_namespaces(&summary.namespaces)
    );
    Ok(())
}

/// Runs blocking snapshot work off the async threads, showing bytes done out of `total`.
async fn with_progress<T: Send + 'static>(
    label: &'static str,
    total: u64,
    work: impl FnOnce(&mut dyn FnMut(u64)) -> T + Send + 'static,
) -> Result<T, CommandError> {
    tokio::task::spawn_blocking(move || {
        let progress = Progress::new(label);
        progress.add_total(total);
        let result = work(&mut |bytes| progress.set_position(bytes, || "bytes".to_owned()));
        progress.finish();
        result
    })
    .await
    .map_err(|e| CommandError::runtime(e.to_string()))
}

fn describe_namespaces(namespaces: &std::collections::BTreeMap<String, u64>) -> String {
    namespaces
        .iter()
        .map(|(ns, n)| format!("{ns} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `reelcache snapshot import FILE`: nothing changes unless the whole file checks out.
pub async fn run_import(settings: &Settings, file: &Path) -> Result<(), CommandError> {
    let opened = open(settings, Clock::system()).await?;
    let cache = opened.state.cache.clone();
    let file_owned = file.to_owned();
    let total = snapshot::file_len(file);
    let result = with_progress("import", total, move |progress| {
        snapshot::import(&cache, &file_owned, progress)
    })
    .await?;
    close_after_bulk_write(opened, settings).await;
    let (header, summary) = result.map_err(|e| match e {
        // Verified, then the store failed while loading it (a full disk, say): some batches
        // may be in. Say so rather than claim nothing changed.
        snapshot::SnapshotError::Store(_) => CommandError::runtime(format!(
            "{} was only partly imported (the file checked out, then the cache store failed; \
             run the import again once it can write): {e}",
            file.display()
        )),
        e => CommandError::runtime(format!(
            "{} was not imported, the cache is unchanged: {e}",
            file.display()
        )),
    })?;
    eprintln!(
        "imported {} entries from {} (written by {}{}): {}",
        summary.entries,
        file.display(),
        header.producer,
        if header.description.is_empty() {
            String::new()
        } else {
            format!("; {}", header.description)
        },
        describe_namespaces(&summary.namespaces)
    );
    Ok(())
}

/// What the demo snapshot says about itself.
pub const DEMO_DESCRIPTION: &str = "SYNTHETIC DEMO DATA generated by `reelcache dev make-demo` \
    from reelcache's built-in fake TMDB. It is not real TMDB data: titles, overviews and numbers \
    are made up.";
/// The demo data's fixed clock: 2026-01-01T00:00:00Z, so the file is byte-for-byte reproducible.
pub const DEMO_EPOCH_MS: u64 = 1_767_225_600_000;

/// `reelcache dev make-demo FILE`: warm a temporary cache from the built-in fake TMDB (on
/// 127.0.0.1) with a frozen clock, then export it. The same build always writes the same bytes.
pub async fn run_make_demo(file: &Path) -> Result<(), CommandError> {
    let fake = crate::dev::fake_tmdb::FakeTmdb::start(None)
        .await
        .map_err(|e| CommandError::runtime(format!("cannot start the fake TMDB: {e}")))?;
    let dir = tempfile_dir()?;
    let mut settings = Settings::defaults_in(&dir);
    settings.tmdb.base_url = fake.base_url();
    settings.tmdb.credential = Some(Credential::from_shape("synthetic-demo"));
    settings.tmdb.rps = std::num::NonZeroU32::new(10_000).expect("non-zero");
    settings.resilience.client_share = 100;
    let clock = Clock::frozen_at(DEMO_EPOCH_MS);
    let opened = open(&settings, clock.clone()).await?;
    let args = WarmArgs {
        trending_pages: 5,
        popular_pages: 5,
        recommendation_pages: 2,
        no_details: false,
        concurrency: 8,
        max_failures: crate::service::warm::FailureBudget::Count(0),
    };
    let report = warm_with(&opened, &args, &AtomicBool::new(false)).await?;
    close(opened).await;
    // The demo is complete or not written.
    report
        .judge(args.max_failures)
        .map_err(CommandError::runtime)?;
    eprintln!("{}", report.summary());
    let header = SnapshotHeader {
        created_at_ms: DEMO_EPOCH_MS,
        producer: concat!("reelcache ", env!("CARGO_PKG_VERSION")).to_owned(),
        description: DEMO_DESCRIPTION.to_owned(),
    };
    let result = export_with(&settings, clock, file, &[], header).await;
    fake.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn tempfile_dir() -> Result<std::path::PathBuf, CommandError> {
    let dir = std::env::temp_dir().join(format!(
        "reelcache-make-demo-{}-{}",
        std::process::id(),
        Clock::system().now_ms()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| CommandError::runtime(e.to_string()))?;
    Ok(dir)
}

/// `reelcache db backup FILE` (any time: a consistent copy) and `reelcache db restore FILE` (the
/// server stopped: it takes the data directory's lock).
pub fn run_db(
    settings: &Settings,
    command: &crate::app::cli::DbCommand,
) -> Result<(), CommandError> {
    use crate::app::cli::DbCommand;
    use crate::db::{Database, FILE_NAME};
    let db_error = |e: crate::db::DbError| CommandError::runtime(e.to_string());
    match command {
        DbCommand::Backup { file } => {
            if file.exists() {
                return Err(CommandError::usage(format!(
                    "{} exists already; back up to a new file",
                    file.display()
                )));
            }
            let db = Database::open(&settings.data_dir).map_err(db_error)?;
            db.backup_to(file).map_err(db_error)?;
            crate::private_fs::restrict(file)
                .map_err(|e| CommandError::runtime(format!("{}: {e}", file.display())))?;
            println!(
                "backed up {} to {}",
                settings.data_dir.join(FILE_NAME).display(),
                file.display()
            );
        }
        DbCommand::Restore { file } => {
            Database::check_backup(file).map_err(db_error)?;
            let _lock = crate::app::startup::lock_data_dir(&settings.data_dir).map_err(|e| {
                CommandError::runtime(format!("{e}; stop the server before restoring"))
            })?;
            let live = settings.data_dir.join(FILE_NAME);
            let staged = settings.data_dir.join(format!("{FILE_NAME}.restoring"));
            let io = |what: &str, e: std::io::Error| CommandError::runtime(format!("{what}: {e}"));
            std::fs::copy(file, &staged).map_err(|e| io("copying the backup in", e))?;
            crate::private_fs::restrict(&staged).map_err(|e| io("its mode", e))?;
            std::fs::File::open(&staged)
                .and_then(|f| f.sync_all())
                .map_err(|e| io("writing the copy to disk", e))?;
            if live.exists() {
                // The database it replaces, with its WAL folded in, is kept beside it.
                let previous = settings
                    .data_dir
                    .join(format!("{FILE_NAME}.before-restore"));
                let previous_tmp = settings
                    .data_dir
                    .join(format!("{FILE_NAME}.before-restore.tmp"));
                let _ = std::fs::remove_file(&previous_tmp);
                Database::open(&settings.data_dir)
                    .and_then(|db| db.backup_to(&previous_tmp))
                    .map_err(db_error)?;
                std::fs::rename(&previous_tmp, &previous)
                    .map_err(|e| io("keeping the old database", e))?;
            }
            for suffix in ["-wal", "-shm"] {
                let side = settings.data_dir.join(format!("{FILE_NAME}{suffix}"));
                if side.exists() {
                    std::fs::remove_file(&side).map_err(|e| io("removing the old WAL", e))?;
                }
            }
            std::fs::rename(&staged, &live).map_err(|e| io("putting the backup in place", e))?;
            println!(
                "restored {} from {} (the previous database is {FILE_NAME}.before-restore)",
                live.display(),
                file.display()
            );
        }
    }
    Ok(())
}

/// `reelcache user ...`: opens only the SQLite database, so it is safe while a server runs on
/// the same data directory (SQLite serialises the writers).
pub fn run_user(
    settings: &Settings,
    command: &crate::app::cli::UserCommand,
) -> Result<(), CommandError> {
    use crate::app::cli::UserCommand;
    use crate::db::{Database, users};
    let db =
        Database::open(&settings.data_dir).map_err(|e| CommandError::runtime(e.to_string()))?;
    let db_error = |e: crate::db::DbError| CommandError::runtime(e.to_string());
    match command {
        UserCommand::Create {
            username,
            admin,
            email,
            password_stdin: _,
        } => {
            let username = crate::domain::account::username(Some(username))
                .map_err(|e| CommandError::usage(e.to_string()))?;
            let email = crate::domain::account::email(email.as_deref())
                .map_err(|e| CommandError::usage(e.to_string()))?;
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| CommandError::runtime(format!("cannot read the password: {e}")))?;
            let password = line.trim_end_matches(['\r', '\n']);
            let password = crate::domain::account::password(Some(password))
                .map_err(|e| CommandError::usage(e.to_string()))?;
            let hash = crate::service::auth::password::hash(&password);
            let user = db
                .call_blocking(|conn| {
                    users::insert(conn, &username, &email, &hash, *admin, crate::db::now_ms())
                })
                .map_err(|e| {
                    if e.is_unique_violation() {
                        CommandError::usage(format!("a user named '{username}' already exists"))
                    } else {
                        db_error(e)
                    }
                })?;
            println!(
                "created user {} (id {}){}",
                user.username,
                user.id,
                if user.is_staff { ", staff" } else { "" }
            );
        }
        UserCommand::SetAdmin { username, revoke } => {
            let found = db
                .call_blocking(|conn| users::set_staff(conn, username, !revoke))
                .map_err(db_error)?;
            if !found {
                return Err(CommandError::runtime(format!("no user named '{username}'")));
            }
            println!(
                "{username} is {}",
                if *revoke {
                    "no longer staff"
                } else {
                    "now staff"
                }
            );
        }
        UserCommand::List => {
            let all = db
                .call_blocking(|conn| users::list(conn))
                .map_err(db_error)?;
            println!(
                "{:>6}  {:<24} {:<32} {:<6} {:<6} joined",
                "id", "username", "email", "staff", "active"
            );
            for u in all {
                println!(
                    "{:>6}  {:<24} {:<32} {:<6} {:<6} {}",
                    u.id,
                    u.username,
                    u.email,
                    u.is_staff,
                    u.is_active,
                    crate::db::rfc3339(u.date_joined)
                );
            }
        }
    }
    Ok(())
}

/// `reelcache cache stats|clear`: through the running server's admin socket when a server holds
/// the data directory, otherwise directly on the store.
pub async fn run_cache(
    settings: &Settings,
    command: &crate::app::cli::CacheCommand,
) -> Result<(), CommandError> {
    use crate::app::cli::CacheCommand;
    use crate::ops::admin_socket::{self, Request};
    let request = match command {
        CacheCommand::Stats => Request::Stats,
        CacheCommand::Clear { namespace, key } => Request::Clear {
            namespace: namespace.clone(),
            key: key.clone(),
        },
    };
    let answer = match Opened::open(settings, Clock::system()).await {
        Ok(opened) => {
            let result = match &request {
                Request::Stats => crate::service::cache_admin::stats(&opened.state).await,
                Request::Clear { namespace, key } => crate::service::cache_admin::clear(
                    &opened.state,
                    namespace.as_deref(),
                    key.as_deref(),
                )
                .await
                .map(|c| serde_json::to_value(c).expect("serialises")),
            };
            close(opened).await;
            result.map_err(|e| match e {
                crate::error::ApiError::Validation { message, .. } => CommandError::usage(message),
                other => CommandError::runtime(other.to_string()),
            })?
        }
        Err(crate::app::startup::StartupError::DataDirLocked(_)) => {
            let answer = admin_socket::send(&settings.data_dir, &request)
                .await
                .map_err(CommandError::runtime)?;
            if !answer.ok {
                let message = answer.error.unwrap_or_default();
                return Err(if answer.client_error {
                    CommandError::usage(message)
                } else {
                    CommandError::runtime(message)
                });
            }
            answer.data
        }
        Err(e) => return Err(CommandError::runtime(e.to_string())),
    };
    match command {
        CacheCommand::Stats => println!(
            "{}",
            serde_json::to_string_pretty(&answer).expect("serialises")
        ),
        CacheCommand::Clear { .. } => println!(
            "{} ({} removed)",
            answer["message"].as_str().unwrap_or("cleared"),
            answer["removed"]
        ),
    }
    Ok(())
}

/// `reelcache config check`: every setting, its value (secrets redacted) and where it came from.
/// The columns are as wide as their longest entry, so long variable names stay aligned.
pub fn run_config_check(resolved: &crate::config::Resolved) {
    let rows = resolved.describe();
    let key_w = rows.iter().map(|r| r.0.len()).chain([7]).max().unwrap_or(7);
    let env_w = rows
        .iter()
        .map(|r| r.1.len())
        .chain([11])
        .max()
        .unwrap_or(11);
    let value_w = rows
        .iter()
        .map(|r| r.2.chars().count())
        .chain([5])
        .max()
        .unwrap_or(5)
        .min(60);
    println!(
        "{:<key_w$}  {:<env_w$}  {:<value_w$}  source",
        "setting", "environment", "value"
    );
    for (key, env, value, origin) in rows {
        println!("{key:<key_w$}  {env:<env_w$}  {value:<value_w$}  {origin}");
    }
}

/// After a valid `config check`: what the configuration will run, and why.
pub fn print_config_summary(settings: &Settings) {
    println!("configuration is valid");
    for line in settings.summary() {
        println!("{line}");
    }
}
