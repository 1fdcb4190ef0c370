/*!
What grading one submission produced, as plain data.

A grading worker (one process per submission, see [`super::worker`]) sends
[`WorkerEvent`]s to the grader as JSON lines, one per finished piece of work, so that
what was graded survives the worker being killed. The grader gathers them into a
[`SubmissionResult`], from which every output file is written ([`super::output`]).
*/

use serde::{Deserialize, Serialize};

use super::model::{Rubric, Visibility};

/// The isolation of a submission whose worker never reported.
pub const NOT_STARTED: &str = "not started";

/// How the reason of a test that did not run begins.
pub const CUT_SHORT: &str = "grading was cut short because ";

/// How one test of one submission ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestStatus {
    /// Every step passed: full points.
    Passed,
    /// A step failed, or the program could not be started or built: 0 points.
    Failed,
    /// Never run: grading was cut short first (0 points).
    NotRun,
}

/// One test of one submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// 1-based position in the rubric.
    pub number: usize,
    /// The test's name (rubric `name`, or the scenario's).
    pub name: String,
    /// Passed, failed or not run.
    pub status: TestStatus,
    /// Points earned.
    pub score: f64,
    /// Points possible.
    pub max_score: f64,
    /// One paragraph: why it failed (empty when it passed).
    pub message: String,
    /// Markdown for the student: why it failed, the transcript, the rubric's feedback.
    pub output: String,
    /// The plain transcript of the run (empty when it did not run).
    pub transcript: String,
    /// What the program under test printed (stdout and stderr), up to the rubric's
    /// `output` limit, with a closing note when more was drained.
    #[serde(default)]
    pub program_output: String,
    /// Wall-clock time of the test.
    pub duration_ms: u64,
    /// The rubric's visibility for it.
    pub visibility: Visibility,
    /// The rubric's tags for it.
    pub tags: Vec<String>,
}

impl TestResult {
    /// A test that was never run, with the reason.
    pub fn not_run(rubric: &Rubric, index: usize, why: &str) -> TestResult {
        let t = &rubric.tests[index];
        TestResult {
            number: t.number,
            name: t.name.clone(),
            status: TestStatus::NotRun,
            score: 0.0,
            max_score: t.points,
            message: why.to_string(),
            output: format!("**Not run**: {why}\n"),
            transcript: String::new(),
            program_output: String::new(),
            duration_ms: 0,
            visibility: t.visibility,
            tags: t.tags.clone(),
        }
    }
}

/// The outcome of the submission's `build` command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildResult {
    /// The command.
    pub command: String,
    /// True when it exited with status 0 in time.
    pub ok: bool,
    /// How it ended (`exited with status 2`, `did not finish within 2m`).
    pub status: String,
    /// Its output (stdout and stderr together), capped.
    pub output: String,
    /// Wall-clock time.
    pub duration_ms: u64,
}

/// What a worker tells the grader, one JSON object per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WorkerEvent {
    /// The worker runs, with this isolation.
    Started {
        /// `namespaces`, `user namespaces` or `none`.
        isolation: String,
        /// Where isolation is `none`: why.
        why: Option<String>,
    },
    /// The limits in force: the pids cgroup that counts the submission's processes
    /// (the grader removes it once the worker has ended), or why there is none.
    Limits {
        /// The cgroup's directory.
        cgroup: Option<String>,
        /// Why there is no cgroup.
        why: Option<String>,
    },
    /// The build finished.
    Build(BuildResult),
    /// A test finished.
    Test(TestResult),
    /// Every test ran.
    Done,
}

/// Everything known about one submission once its grading ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmissionResult {
    /// The submission's name (its directory's name).
    pub name: String,
    /// Its directory, as given.
    pub dir: String,
    /// One per rubric test, in rubric order.
    pub tests: Vec<TestResult>,
    /// The build, when the rubric has one and it ran.
    pub build: Option<BuildResult>,
    /// Why grading of this submission was cut short, when it was.
    pub cut_short: Option<String>,
    /// Wall-clock seconds.
    pub execution_time: f64,
    /// The isolation it ran under (`not started` when no worker reported).
    pub isolation: String,
    /// Where no pids cgroup counted its processes: why, and what that leaves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits_note: Option<String>,
}

impl SubmissionResult {
    /// Points earned.
    pub fn score(&self) -> f64 {
        self.tests.iter().map(|t| t.score).sum()
    }

    /// Points possible.
    pub fn max_score(&self) -> f64 {
        self.tests.iter().map(|t| t.max_score).sum()
    }

    /// True when every test ran.
    pub fn complete(&self) -> bool {
        self.cut_short.is_none()
    }

    /// The result of a submission whose worker reported `events` and then ended,
    /// cleanly or not: every rubric test appears once; those without a result are
    /// "not run" with `cut_short` (or a generic reason) as the why.
    pub fn assemble(
        rubric: &Rubric,
        name: &str,
        dir: &str,
        events: Vec<WorkerEvent>,
        cut_short: Option<String>,
        execution_time: f64,
    ) -> SubmissionResult {
        let mut tests: Vec<Option<TestResult>> = vec![None; rubric.tests.len()];
        let mut build = None;
        let mut isolation = NOT_STARTED.to_string();
        let mut limits_note = None;
        let mut done = false;
        for e in events {
            match e {
                WorkerEvent::Started { isolation: i, .. } => isolation = i,
                WorkerEvent::Build(b) => build = Some(b),
                WorkerEvent::Limits {
                    cgroup: None,
                    why: Some(why),
                } => {
                    let root = nix::unistd::geteuid().is_root();
                    limits_note = Some(if root {
                        format!(
                            "no pids cgroup ({why}); running as root, RLIMIT_NPROC does not bind, so the `processes` limit was not enforced"
                        )
                    } else {
                        format!(
                            "no pids cgroup ({why}); the `processes` limit was enforced by RLIMIT_NPROC, which counts every process of the user"
                        )
                    });
                }
                WorkerEvent::Limits { .. } => {}
                WorkerEvent::Test(t) => {
                    if let Some(slot) = t.number.checked_sub(1).and_then(|i| tests.get_mut(i)) {
                        *slot = Some(t);
                    }
                }
                WorkerEvent::Done => done = true,
            }
        }
        let missing = tests.iter().any(Option::is_none);
        // A test the worker could not run (its own time limit) says why.
        let not_run = tests.iter().flatten().find_map(|t| {
            (t.status == TestStatus::NotRun).then(|| {
                t.message
                    .strip_prefix(CUT_SHORT)
                    .unwrap_or(&t.message)
                    .to_string()
            })
        });
        let cut_short = match (cut_short, missing || !done) {
            (Some(why), _) => Some(why),
            (None, true) => Some("the grading worker ended before every test ran".to_string()),
            (None, false) => not_run,
        };
        let why = cut_short
            .as_deref()
            .map(|w| format!("{CUT_SHORT}{w}"))
            .unwrap_or_default();
        let tests = tests
            .into_iter()
            .enumerate()
            .map(|(i, t)| t.unwrap_or_else(|| TestResult::not_run(rubric, i, &why)))
            .collect();
        SubmissionResult {
            name: name.to_string(),
            dir: dir.to_string(),
            tests,
            build,
            cut_short,
            execution_time,
            isolation,
            limits_note,
        }
    }
}
