/*!
The rubric, as plain data: what `netdrill grade` runs against every submission.

A rubric file (contract §5) is read by [`super::rubric::load_rubric`] into a [`Rubric`];
every scenario it names is loaded and validated at the same time, so an invalid rubric
or scenario stops grading before any student program runs.
*/

use std::path::PathBuf;
use std::time::Duration;

use crate::scenario::Scenario;
use crate::scenario::model::{Protocol, Role};

/// Default wall limit of one submission (`timeout` at the top of the rubric).
pub const DEFAULT_SUBMISSION_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Default wall limit of one test (`timeout` of a `[[test]]`).
pub const DEFAULT_TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A validated rubric.
#[derive(Debug, Clone)]
pub struct Rubric {
    /// The rubric file, as given.
    pub path: PathBuf,
    /// `title` (default: the file stem).
    pub title: String,
    /// `timeout`: wall limit for one submission.
    pub timeout: Duration,
    /// `[target]`: how a submission's program is started.
    pub target: RubricTarget,
    /// `[limits]`: per process of a submission.
    pub limits: Limits,
    /// `[[test]]`, in file order.
    pub tests: Vec<RubricTest>,
}

impl Rubric {
    /// The most points a submission can get.
    pub fn max_score(&self) -> f64 {
        self.tests.iter().map(|t| t.points).sum()
    }
}

/// `[target]` of a rubric, or `[test.target]` of one test (every key optional there).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RubricTarget {
    /// `command`: run inside the submission directory; `{{port}}` is its port.
    pub command: Option<String>,
    /// `build`: run once per submission, in its directory, before its tests.
    pub build: Option<String>,
    /// `protocol`, replacing the scenario's.
    pub protocol: Option<Protocol>,
    /// `port`, replacing the scenario's (a program that hard-codes its port).
    pub port: Option<u16>,
    /// `role`, replacing the scenario's.
    pub role: Option<Role>,
}

impl RubricTarget {
    /// `self` with every key that `over` sets replaced by `over`'s.
    pub fn merged(&self, over: &RubricTarget) -> RubricTarget {
        RubricTarget {
            command: over.command.clone().or_else(|| self.command.clone()),
            build: over.build.clone().or_else(|| self.build.clone()),
            protocol: over.protocol.or(self.protocol),
            port: over.port.or(self.port),
            role: over.role.or(self.role),
        }
    }
}

/// `[limits]`: per process of a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// `cpu`: CPU time of one process.
    #[serde(with = "humantime_serde_secs")]
    pub cpu: Duration,
    /// `memory`: address space of one process, in bytes.
    pub memory: u64,
    /// `processes`: processes and threads of the submission, together.
    pub processes: u64,
    /// `file_size`: the largest file a process may write, in bytes.
    pub file_size: u64,
    /// `output`: stdout/stderr kept per process, in bytes (the rest is drained).
    pub output: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            cpu: Duration::from_secs(10),
            memory: 1 << 30,
            processes: 64,
            file_size: 16 << 20,
            output: 1 << 20,
        }
    }
}

/// Durations as whole milliseconds in the worker protocol.
mod humantime_serde_secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = <u64 as serde::Deserialize>::deserialize(d)?;
        Ok(Duration::from_millis(ms))
    }
}

/// Gradescope's test visibility.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Shown to the student (default).
    #[default]
    Visible,
    /// Never shown to the student.
    Hidden,
    /// Shown once the due date has passed.
    AfterDueDate,
    /// Shown once grades are published.
    AfterPublished,
}

/// One `[[test]]`.
#[derive(Debug, Clone)]
pub struct RubricTest {
    /// 1-based position in the rubric.
    pub number: usize,
    /// `name` (default: the scenario's name).
    pub name: String,
    /// `scenario`, resolved against the rubric's directory.
    pub scenario_path: PathBuf,
    /// `scenario` as written in the rubric.
    pub scenario_written: String,
    /// The loaded scenario.
    pub scenario: Scenario,
    /// `points` (≥ 0).
    pub points: f64,
    /// `visibility`.
    pub visibility: Visibility,
    /// `feedback`: shown when this test fails.
    pub feedback: Option<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `[test.target]`, merged over the rubric's `[target]`.
    pub target: RubricTarget,
    /// `timeout`: wall limit of this test.
    pub timeout: Duration,
    /// 1-based line of this `[[test]]` in the rubric.
    pub line: usize,
}
