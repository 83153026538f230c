//! System tests: the black-box tests that need something a machine may lack, a `redis-server`,
//! root (to mount a tmpfs) or `systemd-analyze`. They run under their own harness (libtest-mimic,
//! `harness = false`) because libtest cannot decide at run time that a test is ignored: here a
//! test whose need is missing is reported as *ignored* in `cargo test`'s summary, with the reason
//! printed once, never as passed. Under `CI=true` nothing is ignored: a missing need fails the
//! tests that have it, so CI cannot go green without running them.
//!
//! A new test is a `pub async fn` (or `pub fn`) in one of the modules, listed in `trials()` with
//! its need.

use std::future::Future;
use std::process::ExitCode;

use libtest_mimic::{Arguments, Failed, Trial};

#[path = "../support/browser.rs"]
mod browser;
#[allow(dead_code)]
#[path = "../support/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../support/process.rs"]
mod process;

mod front_end;

mod account_conformance;
mod accounts_on_postgres;
mod cluster_failover;
mod deploy;
mod disk;
mod postgres_server;
mod postgres_tls;
mod redis_cluster;
mod redis_server;
mod scale_out;
mod scale_out_cli;
mod scenario;
mod store_conformance;

/// What a test needs from the machine beyond the build.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Need {
    Nothing,
    RedisServer,
    RedisCluster,
    Postgres,
    /// PostgreSQL and a Redis Cluster.
    ScaleOut,
    Root,
    SystemdAnalyze,
    /// Debian's chromium and chromedriver.
    Chromium,
}

impl Need {
    /// Why this machine cannot run a test with this need, or `None` when it can.
    fn missing(self) -> Option<&'static str> {
        match self {
            Need::Nothing => None,
            Need::RedisServer => {
                (!redis_server::installed()).then_some("redis-server not installed")
            }
            Need::RedisCluster => (!redis_server::installed() || !redis_cluster::cli_installed())
                .then_some("redis-server or redis-cli not installed"),
            Need::Postgres => postgres_server::missing(),
            Need::ScaleOut => postgres_server::missing().or(Need::RedisCluster.missing()),
            Need::Root => {
                (!disk::Tmpfs::mountable()).then_some("cannot mount a tmpfs (needs root)")
            }
            Need::SystemdAnalyze => {
                (!deploy::installed()).then_some("systemd-analyze not installed")
            }
            Need::Chromium => browser::missing(),
        }
    }
}

/// Runs an async test the way `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`
/// does. A panic fails the trial (libtest-mimic catches it).
fn block_on<F: Future<Output = ()>>(test: F) -> Result<(), Failed> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime")
        .block_on(test);
    Ok(())
}

macro_rules! trials {
    ($($need:ident: [$($kind:ident $module:ident::$name:ident),* $(,)?]),* $(,)?) => {
        vec![$($(trials!(@one $need, $kind, $module, $name)),*),*]
    };
    (@one $need:ident, async, $module:ident, $name:ident) => {
        (Need::$need, Trial::test(concat!(stringify!($module), "::", stringify!($name)), || {
            block_on($module::$name())
        }))
    };
    (@one $need:ident, sync, $module:ident, $name:ident) => {
        (Need::$need, Trial::test(concat!(stringify!($module), "::", stringify!($name)), || {
            $module::$name();
            Ok(())
        }))
    };
}

/// One store test, run on both backends (each built inside the runtime: Redis needs it).
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        vec![
            $((Need::Nothing, Trial::test(
                concat!("store_conformance::on_sled::", stringify!($name)),
                || block_on(async { store_conformance::$name(store_conformance::sled_backend()).await }),
            )),)*
            $((Need::RedisServer, Trial::test(
                concat!("store_conformance::on_redis::", stringify!($name)),
                || block_on(async { store_conformance::$name(store_conformance::redis_backend()).await }),
            )),)*
            $((Need::RedisCluster, Trial::test(
                concat!("store_conformance::on_redis_cluster::", stringify!($name)),
                || block_on(async {
                    store_conformance::$name(store_conformance::redis_cluster_backend()).await
                }),
            )),)*
        ]
    };
}

/// One account-store test, run on both back ends.
macro_rules! account_conformance {
    ($($name:ident),* $(,)?) => {
        vec![
            $((Need::Nothing, Trial::test(
                concat!("account_conformance::on_sqlite::", stringify!($name)),
                || block_on(async {
                    account_conformance::$name(account_conformance::sqlite_backend().await).await
                }),
            )),)*
            $((Need::Postgres, Trial::test(
                concat!("account_conformance::on_postgres::", stringify!($name)),
                || block_on(async {
                    account_conformance::$name(account_conformance::postgres_backend().await).await
                }),
            )),)*
        ]
    };
}

fn trials() -> Vec<(Need, Trial)> {
    let mut all = trials! {
        Nothing: [
            async disk::the_data_directory_is_owner_only_whatever_the_umask,
            async scale_out::a_tls_url_that_cannot_connect_is_an_unavailable_cache,
            async accounts_on_postgres::an_unreachable_database_is_a_clear_start_up_error,
            async scale_out_cli::without_redis_the_service_answers_and_logs_the_outage_with_a_rate_limit,
            sync deploy::the_install_steps_provide_everything_the_unit_names,
            async deploy::the_units_exec_start_serves_the_demo_from_an_empty_environment,
        ],
        SystemdAnalyze: [
            sync deploy::the_unit_passes_systemd_analyze_verify,
        ],
        Chromium: [
            async front_end::the_front_end_shows_trending_with_posters_pages_and_searches,
            async front_end::an_account_adds_a_favorite_sees_it_listed_and_removes_it,
            async front_end::the_dashboard_shows_numbers_and_charts_after_traffic_and_clears,
            async front_end::the_front_end_fits_a_phone_and_starts_with_a_skip_link,
            async front_end::a_rate_limited_client_is_told_when_to_try_again,
            async front_end::a_page_the_offline_data_lacks_says_so,
        ],
        Root: [
            async disk::a_full_disk_answers_writes_with_503_keeps_reading_restarts_and_recovers,
            async disk::a_read_only_cache_directory_serves_from_tmdb_and_reports_degraded,
        ],
        RedisCluster: [
            async cluster_failover::a_primary_killed_under_load_fails_no_request_and_the_cache_follows,
        ],
        ScaleOut: [
            async scenario::three_instances_on_postgres_and_a_redis_cluster_lose_nothing,
            sync scenario::the_local_scale_out_recipe_passes_its_check,
        ],
        Postgres: [
            async accounts_on_postgres::any_instance_serves_any_account_request,
            async accounts_on_postgres::without_a_configured_secret_an_instance_on_postgres_refuses_to_start,
            sync accounts_on_postgres::user_commands_and_config_check_work_on_postgres,
            async accounts_on_postgres::postgres_killed_and_restarted_loses_nothing_acknowledged,
            async accounts_on_postgres::migrate_to_moves_an_installation_over_and_refuses_a_non_empty_target,
            async postgres_tls::verify_full_with_a_private_authority_carries_the_accounts_over_tls,
            async postgres_tls::the_default_prefer_encrypts_without_checking_the_certificate,
            async postgres_tls::require_refuses_a_certificate_the_bundled_roots_do_not_vouch_for,
        ],
        RedisServer: [
            async scale_out::entries_are_the_same_envelopes_under_the_prefix_with_a_ttl_of_expiry_plus_grace,
            async scale_out::a_damaged_value_in_redis_is_a_miss_and_is_replaced,
            async scale_out::clears_use_the_prefix_and_leave_foreign_keys_alone,
            async scale_out::a_page_fetched_by_one_instance_is_a_hit_on_the_other,
            async scale_out::a_full_redis_refuses_writes_but_still_serves_what_it_holds,
            async scale_out::a_page_redis_refused_to_store_is_not_kept_in_memory_either,
            async scale_out::a_hot_copy_outlives_a_clear_elsewhere_by_at_most_a_second,
            async scale_out::a_hundred_concurrent_misses_over_two_instances_make_one_tmdb_request,
            async scale_out::an_instance_fetches_itself_when_the_lock_holder_dies,
            async scale_out::the_tmdb_rate_is_shared_by_the_instances,
            async scale_out::warm_from_another_data_directory_fills_the_shared_cache,
            async scale_out::offline_on_redis_seeds_an_empty_prefix_and_serves_it,
            async scale_out::redis_killed_and_restarted_under_traffic_fails_no_request,
            async scale_out::failed_logins_are_counted_across_instances,
            async scale_out::a_clients_requests_are_counted_across_instances,
            async scale_out_cli::the_readme_two_instance_example,
            sync scale_out_cli::snapshot_and_cache_commands_work_on_redis,
        ],
    };
    all.extend(conformance!(
        get_put_and_expiry,
        replace_and_remove,
        clear_by_prefix,
        stats_count_entries_and_bytes,
        scans_and_batches_hold_the_exact_envelope,
        puts_are_re_encoded_smaller_once_quiet_unless_changed_meanwhile,
    ));
    all.extend(account_conformance!(
        usernames_are_unique_whatever_their_letter_case,
        a_refresh_token_works_once_and_only_for_its_user,
        concurrent_adds_of_one_favorite_leave_one_row,
        settings_have_unique_codes_and_are_read_when_active,
        the_store_names_its_back_end_and_answers_a_ping,
    ));
    all
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let under_ci = std::env::var("CI").as_deref() == Ok("true");
    // Each need is checked once, not once a test.
    let mut reasons: Vec<(Need, Option<&str>, usize)> = Vec::new();
    let trials = trials()
        .into_iter()
        .map(|(need, trial)| {
            let index = match reasons.iter().position(|(n, _, _)| *n == need) {
                Some(index) => index,
                None => {
                    reasons.push((need, need.missing(), 0));
                    reasons.len() - 1
                }
            };
            let (_, missing, count) = &mut reasons[index];
            let Some(_) = missing else {
                return trial;
            };
            *count += 1;
            // Under CI the test runs and fails on the missing need, with its own message.
            trial.with_ignored_flag(!under_ci)
        })
        .collect();
    for (_, why, count) in &reasons {
        let Some(why) = why else { continue };
        if under_ci {
            eprintln!("system tests: {why}: {count} tests will fail (CI=true)");
        } else {
            eprintln!("system tests: {why}: {count} tests ignored (under CI=true they fail)");
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    // The run's PostgreSQL, if a test started it, is stopped by its PID.
    postgres_server::stop_shared();
    conclusion.exit_code()
}
