//! `reelcache config check`.

use super::*;

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
