/*!
Reports of a set of runs: human (miette-rendered failures), JSON (contract §4), JUnit,
TAP, and transcript snapshots.

Every writer takes the same [`ScenarioOutcome`] list, in the order the files were given,
so the choice of format never changes what was run.
*/

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::outcome::{Status, StepFailure};
use crate::transcript::{Failure, Transcript};

pub mod evidence;
pub mod github;
pub mod human;
pub mod json;
pub mod junit;
pub mod snapshot;
pub mod tap;

/// One scenario file's outcome, valid or not.
#[derive(Debug, Clone)]
pub struct ScenarioOutcome {
    /// The scenario's name (the file stem when it could not be read).
    pub name: String,
    /// The scenario's `about`, shown with a failure.
    pub about: Option<String>,
    /// The file, as given on the command line.
    pub file: String,
    /// Passed, failed, or error (could not be run).
    pub status: Status,
    /// Wall-clock time of the run.
    pub duration: Duration,
    /// The first failure of a failed run.
    pub failure: Option<StepFailure>,
    /// What happened (empty for an invalid file).
    pub transcript: Transcript,
    /// The file's text, for pointing at the failing step.
    pub source: Option<Arc<str>>,
    /// For an invalid file: the rendered diagnostics, and the line of the first problem.
    pub error: Option<(String, usize)>,
    /// The link's seed, when the scenario has an active link.
    pub seed: Option<u64>,
    /// Attempts made under `--retries`, and the failures of those that failed.
    pub retry: Retry,
}

/// How many times a scenario ran under `--retries`, and why the earlier attempts failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// Attempts made (1 without retries).
    pub attempts: u32,
    /// The failures of the attempts before the last, in order.
    pub earlier: Vec<EarlierAttempt>,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 1,
            earlier: Vec::new(),
        }
    }
}

/// A failed attempt that was retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierAttempt {
    /// Its failure message, with the step (`step 3 (line 9) client recv_line: …`).
    pub message: String,
    /// Its transcript.
    pub transcript: String,
}

impl ScenarioOutcome {
    /// Passed only on a later attempt: the scenario is flaky.
    pub fn flaky(&self) -> bool {
        self.status == Status::Passed && !self.retry.earlier.is_empty()
    }

    /// One line naming the failing step and what went wrong, or the first line of an
    /// invalid file's diagnostics.
    pub fn headline(&self) -> Option<String> {
        if let Some(f) = &self.failure {
            let first = f.failure.message.lines().next().unwrap_or("");
            return Some(if f.step == 0 && f.span.is_none() {
                first.to_string()
            } else {
                format!(
                    "step {} (line {}) {} {}: {first}",
                    f.step, f.line, f.actor, f.action
                )
            });
        }
        self.error.as_ref().map(|(text, _)| {
            text.lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string()
        })
    }
}

/// How many passed, failed, could not be run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Passed.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Could not be run (or was interrupted).
    pub error: usize,
    /// Passed only on a retry (counted in `passed` too).
    pub flaky: usize,
}

impl Summary {
    /// Counts the outcomes.
    pub fn of(outcomes: &[ScenarioOutcome]) -> Summary {
        let mut s = Summary::default();
        for o in outcomes {
            s.flaky += usize::from(o.flaky());
            match o.status {
                Status::Passed => s.passed += 1,
                Status::Failed => s.failed += 1,
                Status::Error => s.error += 1,
            }
        }
        s
    }
}

/// What a failure expected, in full up to the evidence bound (the transcript's shortened
/// form when the failure kept no evidence).
pub fn expected_in_full(f: &Failure) -> Option<String> {
    match &f.evidence {
        Some(e) if e.kind != crate::transcript::EvidenceKind::Pattern => {
            Some(evidence::shown_in_full(&e.expected, e.kind))
        }
        _ => f.expected.clone(),
    }
}

/// What arrived, in full up to the evidence bound, and how the stream ended after it.
pub fn actual_in_full(f: &Failure) -> Option<String> {
    match &f.evidence {
        Some(e) => Some(format!(
            "{}{}",
            evidence::shown_in_full(&e.actual, e.kind),
            e.end
        )),
        None => f.actual.clone(),
    }
}

/// The failing step's lines in the file, numbered, with the comment lines just above
/// it: the scenario author's note on a step is often the best hint a student gets.
pub fn source_excerpt(source: &str, failure: &StepFailure) -> Option<String> {
    let span = failure.span?;
    let start = span.offset().min(source.len());
    let end = (span.offset() + span.len()).min(source.len());
    let first = crate::scenario::raw::line_of(source, start);
    let last = crate::scenario::raw::line_of(source, end.saturating_sub(1).max(start));
    let lines: Vec<&str> = source.lines().collect();
    let mut from = first;
    while from > 1
        && lines
            .get(from - 2)
            .is_some_and(|l| l.trim_start().starts_with('#'))
    {
        from -= 1;
    }
    let width = last.to_string().len();
    let mut out = String::new();
    for n in from..=last.min(lines.len()) {
        out.push_str(&format!("{n:>width$} | {}\n", lines[n - 1]));
    }
    Some(out)
}

/// Writes `text` to a temporary file beside `path`, then renames it into place, so a
/// reader never sees half a file.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let mut tmp = tempfile::NamedTempFile::new_in(parent)?;
    // A temporary file is private (0600); the report keeps the mode of the file it
    // replaces, or gets the usual 0644, so that CI steps run as others can read it.
    let mode = std::fs::metadata(path).map_or(0o644, |m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o7777
    });
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    tmp.write_all(text.as_bytes())?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
