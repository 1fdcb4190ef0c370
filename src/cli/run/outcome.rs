/*!
One scenario's run as a report's [`ScenarioOutcome`]: attempts under `--retries`, the
wall limits of each attempt, and the outcomes of files that could not be run.
*/

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::interp::engine::{self, RunOptions, Wall};
use crate::interp::pool::RunPool;
use crate::outcome::Status;
use crate::report::human;
use crate::report::{EarlierAttempt, Retry, ScenarioOutcome};
use crate::scenario::Scenario;
use crate::transcript::Transcript;

/// The wall limits that bound each attempt.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// `--scenario-timeout` (or its default).
    pub(super) scenario: Duration,
    /// `--deadline`: when the whole run must end, and how long it was.
    pub(super) deadline: Option<(Instant, Duration)>,
}

impl Limits {
    /// The wall of an attempt starting now: the nearer of the scenario's and the run's.
    fn wall(&self) -> Wall {
        let own = Wall {
            at: Instant::now() + self.scenario,
            what: format!(
                "the scenario's wall limit of {} (--scenario-timeout)",
                humantime::format_duration(self.scenario)
            ),
        };
        match self.deadline {
            Some((at, length)) if at < own.at => Wall {
                at,
                what: format!(
                    "the run's deadline of {} (--deadline)",
                    humantime::format_duration(length)
                ),
            },
            _ => own,
        }
    }

    /// Whether the run's deadline has passed.
    pub(super) fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|(at, _)| Instant::now() >= at)
    }
}

/// How to retry.
#[derive(Debug, Clone, Copy)]
pub(super) struct Retries {
    /// More attempts after a failure.
    pub(super) more: u32,
    /// A new link seed per attempt.
    pub(super) reseed: bool,
}

/// Runs `sc` until it passes or its attempts are spent (or the deadline passed).
pub(super) async fn run_scenario(
    file: &Path,
    sc: Arc<Scenario>,
    opts: &RunOptions,
    pool: &RunPool,
    limits: Limits,
    retries: Retries,
) -> ScenarioOutcome {
    let mut earlier = Vec::new();
    let mut attempt: u32 = 1;
    loop {
        let mut opts = opts.clone();
        if retries.reseed && attempt > 1 {
            let base = opts.seed.or(sc.link.seed).unwrap_or(0);
            opts.seed = Some(base.wrapping_add(u64::from(attempt - 1)));
        }
        opts.wall = Some(limits.wall());
        let mut outcome = run_once(file, &sc, opts, pool).await;
        if outcome.status != Status::Failed || attempt > retries.more || limits.past_deadline() {
            outcome.retry = Retry {
                attempts: attempt,
                earlier,
            };
            return outcome;
        }
        earlier.push(EarlierAttempt {
            message: outcome.headline().unwrap_or_default(),
            transcript: outcome.transcript.render(),
        });
        attempt += 1;
    }
}

async fn run_once(
    file: &Path,
    sc: &Arc<Scenario>,
    opts: RunOptions,
    pool: &RunPool,
) -> ScenarioOutcome {
    let task_sc = Arc::clone(sc);
    let joined = pool
        .run(async move { engine::run(&task_sc, &opts).await })
        .await;
    let result = match joined {
        Ok(r) => r,
        Err(e) => {
            let mut outcome = error_outcome(
                file,
                format!("netdrill failed inside this run (an internal error): {e}"),
            );
            outcome.name = sc.name.clone();
            return outcome;
        }
    };
    ScenarioOutcome {
        name: sc.name.clone(),
        about: sc.about.clone(),
        file: file.display().to_string(),
        status: result.status,
        duration: result.duration,
        failure: result.failure,
        transcript: result.transcript,
        source: Some(Arc::clone(&sc.source)),
        error: None,
        seed: result.seed,
        retry: Retry::default(),
    }
}

/// The outcome of a scenario that could not be run, with `text` as its report.
pub(super) fn error_outcome(file: &Path, text: String) -> ScenarioOutcome {
    ScenarioOutcome {
        about: None,
        name: file.display().to_string(),
        file: file.display().to_string(),
        status: Status::Error,
        duration: Duration::ZERO,
        failure: None,
        transcript: Transcript::new(),
        source: None,
        error: Some((text, 1)),
        seed: None,
        retry: Retry::default(),
    }
}

/// A scenario that was still running, or not started, when the run was interrupted.
pub(super) fn interrupted(file: &Path, sc: &Scenario, started: bool) -> ScenarioOutcome {
    let what = if started {
        "interrupted (Ctrl-C or SIGTERM) before it finished"
    } else {
        "not run: the run was interrupted (Ctrl-C or SIGTERM) before it started"
    };
    let mut o = error_outcome(file, what.to_string());
    o.name = sc.name.clone();
    o
}

/// A scenario the run's deadline left no time for: it fails, so the run does.
pub(super) fn not_started(file: &Path, sc: &Scenario, deadline: Duration) -> ScenarioOutcome {
    let mut o = error_outcome(
        file,
        format!(
            "not run: the run's deadline of {} (--deadline) passed before it started",
            humantime::format_duration(deadline)
        ),
    );
    o.name = sc.name.clone();
    o.status = Status::Failed;
    o.failure = Some(crate::outcome::StepFailure {
        step: 0,
        line: 1,
        span: None,
        actor: String::new(),
        action: "deadline".into(),
        failure: crate::transcript::Failure::msg(o.error.take().map(|e| e.0).unwrap_or_default()),
    });
    o
}

/// The outcome of a file that could not be loaded: its diagnostics, not run.
pub(super) fn invalid_outcome(file: &Path, err: &crate::diagnostic::LoadError) -> ScenarioOutcome {
    // Plain text: it also goes into the JSON and JUnit reports.
    let mut outcome = error_outcome(file, human::render(err, false));
    outcome.error = outcome
        .error
        .map(|(text, _)| (text, first_problem_line(file, err)));
    outcome.name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string());
    outcome
}

/// The line of the first labelled problem of a diagnostic (1 when there is none).
fn first_problem_line(file: &Path, err: &dyn miette::Diagnostic) -> usize {
    let offset = err
        .related()
        .and_then(|mut r| r.find_map(|d| d.labels().and_then(|mut l| l.next())))
        .or_else(|| err.labels().and_then(|mut l| l.next()))
        .map(|l| l.offset());
    match (offset, std::fs::read(file)) {
        (Some(off), Ok(bytes)) => {
            crate::scenario::raw::line_of(&String::from_utf8_lossy(&bytes), off)
        }
        _ => 1,
    }
}
