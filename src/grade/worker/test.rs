/*!
Running one test of the rubric: the test's scenario, with the rubric's `[target]` in
force, against a fresh start of the student's program; its result and the Markdown that
explains it.
*/

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::diagnose::{diagnose, human_size};
use super::markdown::failed_markdown;
use crate::grade::limits::PidsCgroup;
use crate::grade::model::{Limits, Rubric, RubricTest};
use crate::grade::outcome::{CUT_SHORT, TestResult, TestStatus};
use crate::interp::engine::{self, RunOptions, TargetOverride};
use crate::outcome::Status;
use crate::report::ScenarioOutcome;
use crate::report::human::{self, HumanOptions};

/// The test's scenario with the rubric's `[target]` keys in force, and how to run it:
/// the rubric's command, in the submission's directory.
fn prepared(test: &RubricTest, dir: &Path) -> (crate::scenario::Scenario, RunOptions) {
    let target = &test.target;
    let mut scenario = test.scenario.clone();
    if let Some(p) = target.protocol {
        scenario.target.protocol = p;
    }
    if let Some(p) = target.port {
        scenario.target.port = Some(p);
    }
    if let Some(r) = target.role {
        scenario.target.role = r;
    }
    let opts = RunOptions {
        target: target.command.clone().map(TargetOverride::Command),
        timeout: None,
        seed: None,
        port: None,
        cwd: Some(dir.to_path_buf()),
        wall: None,
    };
    (scenario, opts)
}

/// Runs one test with a fresh start of the student's program, within `left` (what
/// remains of the submission's time) and the test's own wall limit.
pub(super) async fn run_test(
    rubric: &Rubric,
    test: &RubricTest,
    dir: &Path,
    left: Duration,
    cgroup: Option<&PidsCgroup>,
) -> TestResult {
    let started = Instant::now();
    let target = &test.target;
    let (scenario, opts) = prepared(test, dir);
    let wall = test.timeout.min(left);
    let hits_before = cgroup.map(|c| c.hit_limit()).unwrap_or(0);
    let run = tokio::time::timeout(wall, engine::run(&scenario, &opts)).await;
    let hit_process_limit = cgroup.map(|c| c.hit_limit()).unwrap_or(0) > hits_before;
    let duration_ms = started.elapsed().as_millis() as u64;
    let base = passed(test, duration_ms);
    let Ok(result) = run else {
        return timed_out(rubric, test, wall, base);
    };
    let base = TestResult {
        transcript: result.transcript.render(),
        program_output: program_output(result.target_output.as_ref(), &rubric.limits),
        ..base
    };
    if result.status == Status::Passed {
        return TestResult {
            output: "**Passed**\n".into(),
            ..base
        };
    }
    let outcome = ScenarioOutcome {
        name: scenario.name.clone(),
        about: scenario.about.clone(),
        file: test.scenario_written.clone(),
        status: result.status,
        duration: result.duration,
        failure: result.failure.clone(),
        transcript: result.transcript.clone(),
        source: Some(Arc::clone(&scenario.source)),
        error: None,
        seed: result.seed,
        retry: Default::default(),
    };
    let raw = result
        .failure
        .as_ref()
        .map(|f| f.failure.message.clone())
        .unwrap_or_default();
    let headline = diagnose(
        &raw,
        &rubric.limits,
        hit_process_limit,
        target.command.as_deref(),
    );
    // A program that could not be started has nothing to show in the scenario (whose
    // [target] the rubric replaced): the headline says it all.
    let started_up = result.failure.as_ref().is_none_or(|f| f.step > 0);
    failed(test, headline, &outcome, started_up, base)
}

/// The result of `test` when it passes: full points, nothing to say yet.
fn passed(test: &RubricTest, duration_ms: u64) -> TestResult {
    TestResult {
        number: test.number,
        name: test.name.clone(),
        status: TestStatus::Passed,
        score: test.points,
        max_score: test.points,
        message: String::new(),
        output: String::new(),
        transcript: String::new(),
        program_output: String::new(),
        duration_ms,
        visibility: test.visibility,
        tags: test.tags.clone(),
    }
}

/// The result of a test that did not end within `wall`: failed when that was the
/// test's own time limit, not run when it was what was left of the submission's.
fn timed_out(rubric: &Rubric, test: &RubricTest, wall: Duration, base: TestResult) -> TestResult {
    if wall < test.timeout {
        // The submission's own limit, not the test's: grading was cut short.
        let why = format!(
            "{CUT_SHORT}the submission's time limit ({}) ran out during this test",
            humantime::format_duration(rubric.timeout)
        );
        return TestResult {
            duration_ms: base.duration_ms,
            ..TestResult::not_run(rubric, test.number - 1, &why)
        };
    }
    let why = {
        format!(
            "the test did not finish within its time limit ({})",
            humantime::format_duration(test.timeout)
        )
    };
    TestResult {
        status: TestStatus::Failed,
        score: 0.0,
        output: failed_markdown(&why, None, test.feedback.as_deref()),
        message: why,
        ..base
    }
}

/// The result of a test whose scenario failed: no points, the `headline`, the hint and
/// (when the program started, `started_up`) what happened in the scenario.
fn failed(
    test: &RubricTest,
    headline: String,
    outcome: &ScenarioOutcome,
    started_up: bool,
    base: TestResult,
) -> TestResult {
    let details = started_up.then(|| {
        human::details(
            outcome,
            HumanOptions {
                verbose: false,
                color: false,
            },
        )
    });
    TestResult {
        status: TestStatus::Failed,
        score: 0.0,
        // The rubric's hint is about what the test checks: useless (even misleading)
        // when the program never started.
        output: failed_markdown(
            &headline,
            details.as_deref(),
            test.feedback.as_deref().filter(|_| started_up),
        ),
        message: headline,
        ..base
    }
}

/// What the program printed, with a note on what was drained beyond the kept part.
fn program_output(kept: Option<&(String, u64)>, limits: &Limits) -> String {
    let Some((text, dropped)) = kept else {
        return String::new();
    };
    let mut out = text.clone();
    if *dropped > 0 {
        out.push_str(&format!(
            "… ({dropped} more bytes were printed and drained: only the first {} of a program's output is kept, the rubric's `output` limit)\n",
            human_size(limits.output)
        ));
    }
    out
}
