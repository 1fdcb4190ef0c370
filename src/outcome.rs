/*!
The outcome of running one scenario, as plain data: how it ended ([`Status`]), where and
why it failed ([`StepFailure`]) and everything the run produced ([`RunResult`]).

It lives outside `interp/` so that reports and the grader read runs without reaching
into the interpreter: data flows one way, scenario → interp → outcome → report.
*/

use std::time::Duration;

use crate::transcript::{Failure, Transcript};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every step did what the scenario says.
    Passed,
    /// A step failed, or the target could not be started.
    Failed,
    /// The scenario could not be run at all.
    Error,
}

/// Where and why a run failed.
#[derive(Debug, Clone)]
pub struct StepFailure {
    /// The step's number in `steps` (0: the target, before the first step).
    pub step: usize,
    /// The failing step's line in the file (for `parallel`, the inner step's).
    pub line: usize,
    /// The failing step's span, for the report.
    pub span: Option<miette::SourceSpan>,
    /// Who did it.
    pub actor: String,
    /// The action word.
    pub action: String,
    /// What went wrong.
    pub failure: Failure,
}

/// The outcome of one scenario run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Passed, failed or error.
    pub status: Status,
    /// What happened.
    pub transcript: Transcript,
    /// The first failure, if any.
    pub failure: Option<StepFailure>,
    /// Wall-clock time of the run (never part of the transcript).
    pub duration: Duration,
    /// The link's seed, when the scenario has an active link.
    pub seed: Option<u64>,
    /// What a spawned server target printed, as far as its spawn policy kept it (see
    /// [`crate::interp::process::ChildGroup::kept_output`]), and the bytes not kept.
    pub target_output: Option<(String, u64)>,
}
