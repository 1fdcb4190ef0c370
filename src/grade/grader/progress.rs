/*!
The grader's progress on stderr: a bar on a terminal, a plain line per submission
otherwise.
*/

use std::io::IsTerminal;
use std::time::Duration;

use crate::grade::outcome::{NOT_STARTED, SubmissionResult, TestStatus};
use crate::grade::output;

/// Progress: a bar on a terminal, a plain line per submission otherwise (stderr).
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub(super) fn new(total: usize) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "grading {bar:30} {pos}/{len} submissions  {elapsed}  {msg}",
            ) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { bar }
    }

    pub(super) fn done(&self, r: &SubmissionResult) {
        let verb = if r.isolation == NOT_STARTED
            || r.tests.iter().all(|t| t.status == TestStatus::NotRun)
        {
            "not graded"
        } else {
            "graded"
        };
        let line = format!(
            "{verb} {}: {}/{} in {:.1} s{}",
            r.name,
            output::fmt_points(r.score()),
            output::fmt_points(r.max_score()),
            r.execution_time,
            r.cut_short
                .as_deref()
                .map(|w| format!(" (incomplete: {})", w.lines().next().unwrap_or("")))
                .unwrap_or_default()
        );
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(r.name.clone());
            }
            None => eprintln!("{line}"),
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
