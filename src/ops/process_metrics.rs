//! The process's own resources under the names every Prometheus client library uses
//! (`process_resident_memory_bytes`, `process_open_fds`, ...), so the usual dashboards and alerts
//! work unchanged. Read from `/proc/self` at scrape time: a few small files and one directory
//! listing, nothing kept between scrapes. Elsewhere than Linux they are left out.

/// Appends the process families, each with its `# HELP` and `# TYPE`, to a text exposition.
pub fn render(out: &mut String) {
    #[cfg(target_os = "linux")]
    linux::render(out);
    #[cfg(not(target_os = "linux"))]
    let _ = out;
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fmt::Write as _;
    use std::sync::OnceLock;

    fn family(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n\n"
        );
    }

    /// Clock ticks per second and the page size: what `/proc/self/stat` counts in.
    fn units() -> (f64, u64) {
        // SAFETY: sysconf only reads a system constant.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        (
            if ticks > 0 { ticks as f64 } else { 100.0 },
            u64::try_from(page).unwrap_or(4096),
        )
    }

    /// The fields of `/proc/self/stat` after the command name (which may hold spaces and
    /// parentheses, hence the last `)`): index 0 is field 3 of proc(5), the state.
    fn stat_fields(stat: &str) -> Option<Vec<&str>> {
        let after_name = &stat[stat.rfind(')')? + 1..];
        Some(after_name.split_whitespace().collect())
    }

    /// When the process started, in seconds since the epoch: boot time plus the start in ticks.
    /// Fixed for the process's life, so worked out once.
    fn start_time(start_ticks: u64, ticks: f64) -> Option<f64> {
        static START: OnceLock<Option<f64>> = OnceLock::new();
        *START.get_or_init(|| {
            let stat = std::fs::read_to_string("/proc/stat").ok()?;
            let boot: u64 = stat
                .lines()
                .find_map(|l| l.strip_prefix("btime "))?
                .trim()
                .parse()
                .ok()?;
            Some(boot as f64 + start_ticks as f64 / ticks)
        })
    }

    pub fn render(out: &mut String) {
        let (ticks, page) = units();
        if let Some(fields) = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .as_deref()
            .and_then(stat_fields)
            .map(|f| f.iter().map(|s| s.parse::<u64>().ok()).collect::<Vec<_>>())
        {
            // proc(5): utime 14, stime 15, starttime 22, vsize 23, rss 24.
            let field = |n: usize| fields.get(n - 3).copied().flatten();
            if let (Some(user), Some(system)) = (field(14), field(15)) {
                family(
                    out,
                    "process_cpu_seconds_total",
                    "counter",
                    "Total user and system CPU time spent in seconds.",
                    (user + system) as f64 / ticks,
                );
            }
            if let Some(rss) = field(24) {
                family(
                    out,
                    "process_resident_memory_bytes",
                    "gauge",
                    "Resident memory size in bytes.",
                    rss * page,
                );
            }
            if let Some(vsize) = field(23) {
                family(
                    out,
                    "process_virtual_memory_bytes",
                    "gauge",
                    "Virtual memory size in bytes.",
                    vsize,
                );
            }
            if let Some(start) = field(22).and_then(|t| start_time(t, ticks)) {
                family(
                    out,
                    "process_start_time_seconds",
                    "gauge",
                    "Start time of the process since unix epoch in seconds.",
                    start,
                );
            }
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            family(
                out,
                "process_open_fds",
                "gauge",
                "Number of open file descriptors.",
                fds.count(),
            );
        }
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct passed.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0
            && limit.rlim_cur != libc::RLIM_INFINITY
        {
            family(
                out,
                "process_max_fds",
                "gauge",
                "Maximum number of open file descriptors.",
                limit.rlim_cur,
            );
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn stat_fields_survive_a_command_name_with_spaces_and_parentheses() {
            let stat =
                "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 4 0 1234 5000 60";
            let fields = stat_fields(stat).unwrap();
            assert_eq!(fields[0], "S");
            assert_eq!(fields[14 - 3], "7", "utime");
            assert_eq!(fields[22 - 3], "1234", "starttime");
            assert_eq!(fields[24 - 3], "60", "rss");
        }
    }
}
