//! The progress bar (a plain line every few seconds off a terminal) that `warm`, `snapshot` and
//! `dev make-demo` show.

use super::*;

/// A progress bar on a terminal; a plain line every few seconds otherwise (logs, CI).
pub(super) struct Progress {
    bar: Option<ProgressBar>,
    label: &'static str,
    total: Mutex<u64>,
    last_line: Mutex<Instant>,
}

impl Progress {
    pub(super) fn new(label: &'static str) -> Progress {
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

    pub(super) fn add_total(&self, n: u64) {
        let mut total = crate::sync::lock(&self.total);
        *total += n;
        if let Some(bar) = &self.bar {
            bar.set_length(*total);
        }
    }

    pub(super) fn set_position(&self, done: u64, detail: impl FnOnce() -> String) {
        match &self.bar {
            Some(bar) => bar.set_position(done),
            None if self.line_due() => {
                let total = *crate::sync::lock(&self.total);
                eprintln!("{}: {done}/{total} {}", self.label, detail());
            }
            None => {}
        }
    }

    pub(super) fn finish(&self) {
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
