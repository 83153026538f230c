//! Entry point: parse the command line, load settings, start logging, run the command.

use std::io::Write;
use std::process::ExitCode;

use reelcache::app::cli::{Cli, Command, ConfigCommand, DevCommand, SnapshotCommand};
use reelcache::app::commands::{self, CommandError};
use reelcache::app::startup::Application;
use reelcache::config::{Resolved, Settings};
use reelcache::telemetry;

/// Exit statuses: 0 success, 1 runtime failure, 2 bad usage or configuration (clap uses 2 too).
const EXIT_RUNTIME: u8 = 1;
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    no_transparent_huge_pages();
    reelcache::app::allocator::free_memory_back_at_once();
    raise_open_files_limit();
    let (cli, flags) = Cli::parse_with_flags();
    let settings = Resolved::collect(
        cli.config.as_deref(),
        &|name| std::env::var(name).ok(),
        &flags,
    )
    .and_then(|resolved| {
        if let Some(Command::Config(ConfigCommand::Check)) = &cli.command {
            // Show what was found even when a value turns out to be invalid below.
            commands::run_config_check(&resolved);
        }
        resolved.into_settings()
    });
    let settings = match settings {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("reelcache: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Some(Command::Config(ConfigCommand::Check)) = &cli.command {
        commands::print_config_summary(&settings);
        return ExitCode::SUCCESS;
    }
    telemetry::init(settings.http.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.http.worker_threads())
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("reelcache: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(settings).await.map_err(|message| CommandError {
                status: EXIT_RUNTIME,
                message,
            }),
            Command::Warm(args) => commands::run_warm(&settings, &args).await,
            Command::Snapshot(SnapshotCommand::Export {
                file,
                namespaces,
                description,
            }) => commands::run_export(&settings, &file, &namespaces, &description).await,
            Command::Snapshot(SnapshotCommand::Import { file }) => {
                commands::run_import(&settings, &file).await
            }
            Command::Dev(DevCommand::MakeDemo { file }) => commands::run_make_demo(&file).await,
            Command::Dev(DevCommand::MakeDict { file }) => {
                std::fs::write(&file, reelcache::dev::dictionary::make_dictionary()).map_err(|e| {
                    CommandError {
                        status: EXIT_RUNTIME,
                        message: format!("cannot write {}: {e}", file.display()),
                    }
                })
            }
            Command::Dev(DevCommand::Fill(args)) => {
                reelcache::app::dev_fill::run(&settings, &args).await
            }
            Command::User(command) => commands::run_user(&settings, &command).await,
            Command::Db(command) => commands::run_db(&settings, &command).await,
            Command::Cache(command) => commands::run_cache(&settings, &command).await,
            Command::Config(ConfigCommand::Check) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.status != commands::EXIT_INTERRUPTED {
                eprintln!("reelcache: {}", e.message);
            }
            ExitCode::from(e.status)
        }
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    // Listen for signals before announcing the address: a script that reads the line and sends
    // SIGTERM at once must get a clean stop, not the default "killed".
    let shutdown = shutdown_signal().map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let app = Application::build(settings)
        .await
        .map_err(|e| e.to_string())?;
    // Scripts wait for this exact line on stdout; logs go to stderr.
    println!("listening on http://{}", app.local_addr());
    let _ = std::io::stdout().flush();
    tracing::info!(addr = %app.local_addr(), "serving");
    app.run_until_stopped(shutdown)
        .await
        .map_err(|e| e.to_string())
}

/// Registers SIGINT and SIGTERM now; the future resolves on either.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received, shutting down"),
            _ = terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Transparent huge pages off for this process. mimalloc asks for them on its arenas, and a
/// 2 MiB page is resident whole however little of it is used: an idle server measured 56 MB
/// resident with them and 16 MB without, at the same hit throughput (BENCHMARKS.md, "Scale").
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with integer arguments only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// The soft limit on open files raised to the hard one. Every client connection is a file
/// descriptor, and the usual soft default (1,024) is fewer than a busy server, or a client
/// holding connections open on purpose, needs; the hard limit is what the administrator allows
/// (systemd: `LimitNOFILE`). The server keeps its connection limit below whatever this leaves.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 || limit.rlim_cur >= limit.rlim_max
        {
            return;
        }
        let wanted = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max;
        if limit.rlim_max == libc::RLIM_INFINITY {
            // An unlimited hard limit cannot be the soft one: the kernel's own ceiling is.
            limit.rlim_cur = std::fs::read_to_string("/proc/sys/fs/nr_open")
                .ok()
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(65_536);
        }
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            eprintln!(
                "reelcache: cannot raise the open-files limit above {wanted}; connections are \
                 bounded by it"
            );
        }
    }
}

/// mimalloc instead of the system allocator: see BENCHMARKS.md ("Memory").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
