/*!
A progress bar on stderr for suites that take over a second, when stderr is a terminal;
nothing otherwise (the report lines on stdout are the plain progress). Report lines are
printed around the bar, never through it.
*/

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a suite runs before its bar appears.
const SHOW_AFTER: Duration = Duration::from_secs(1);

pub(super) struct Progress {
    bar: Option<ProgressBar>,
    shown: bool,
    start: Instant,
}

impl Progress {
    pub(super) fn new(total: usize) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::hidden());
            if let Ok(style) = ProgressStyle::with_template(
                "running {bar:30} {pos}/{len} scenarios  {elapsed}  {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Progress {
            bar,
            shown: false,
            start: Instant::now(),
        }
    }

    /// Shows the bar once the suite has run for a second.
    pub(super) fn tick(&mut self) {
        if let Some(bar) = &self.bar
            && !self.shown
            && self.start.elapsed() >= SHOW_AFTER
        {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(200));
            self.shown = true;
        }
    }

    /// Prints a finished scenario's report on stdout, and counts it.
    pub(super) fn print(&self, text: &str, name: &str) {
        let write = || {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(text.as_bytes());
            let _ = stdout.flush();
        };
        match &self.bar {
            Some(bar) => {
                bar.suspend(write);
                bar.inc(1);
                bar.set_message(name.to_string());
            }
            None => write(),
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
