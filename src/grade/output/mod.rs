/*!
What grading writes: per submission, Gradescope's `results.json` (or PrairieLearn's
format) and a transcript per test; over the class, `summary.csv` and `summary.json`.

Every file is written atomically (a temporary file in the same directory, then a
rename), so a reader never sees half a file, even when grading is interrupted.
*/

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::model::Rubric;
use super::outcome::{SubmissionResult, TestStatus};

mod merge;

pub use merge::merge;

/// Which per-submission results format to write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultsFormat {
    /// Gradescope's `results.json` (default).
    #[default]
    Gradescope,
    /// PrairieLearn's external grader `results.json`.
    Prairielearn,
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    // Readable like any file written the ordinary way (tempfile makes them 0600).
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn num(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// The submission-level markdown: score, build, why it was cut short.
fn overview(r: &SubmissionResult, rubric: &Rubric) -> String {
    let mut md = format!(
        "**{}**: {} of {} points.\n",
        rubric.title,
        fmt_points(r.score()),
        fmt_points(r.max_score())
    );
    if let Some(why) = &r.cut_short {
        let _ = write!(
            md,
            "\n**Grading was cut short because {why}.** Tests that did not run got 0 points.\n"
        );
    }
    if let Some(b) = &r.build
        && !b.ok
    {
        let _ = write!(
            md,
            "\n**The build (`{}`) failed**: it {}. No test could run.\n",
            b.command, b.status
        );
    }
    md
}

/// Points as people write them: `3`, `2.5`.
pub fn fmt_points(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// Gradescope's `results.json` for one submission (only the fields of the contract).
pub fn gradescope(r: &SubmissionResult, rubric: &Rubric) -> Value {
    let tests: Vec<Value> = r
        .tests
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "number": t.number.to_string(),
                "score": num(t.score),
                "max_score": num(t.max_score),
                "status": if t.status == TestStatus::Passed { "passed" } else { "failed" },
                "output": t.output,
                "output_format": "md",
                "visibility": t.visibility,
                "tags": t.tags,
            })
        })
        .collect();
    json!({
        "score": num(r.score()),
        "execution_time": r.execution_time.ceil() as u64,
        "output": overview(r, rubric),
        "output_format": "md",
        "tests": tests,
    })
}

/// PrairieLearn's external-grader `results.json` for one submission.
pub fn prairielearn(r: &SubmissionResult, rubric: &Rubric) -> Value {
    let max = r.max_score();
    let score = if max > 0.0 { r.score() / max } else { 0.0 };
    let tests: Vec<Value> = r
        .tests
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "points": num(t.score),
                "max_points": num(t.max_score),
                "message": t.message,
                "output": t.output,
            })
        })
        .collect();
    json!({
        "gradable": true,
        "score": score,
        "message": overview(r, rubric),
        "tests": tests,
    })
}

/// A file name for test `number` named `name`: `02-a-line-split-over-three-writes.txt`.
pub fn transcript_file_name(number: usize, name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug: String = slug.chars().take(60).collect();
    format!("{number:02}-{slug}.txt")
}

/// Writes `DIR/results.json` and `DIR/transcripts/*` for one submission.
pub fn write_submission(
    dir: &Path,
    r: &SubmissionResult,
    rubric: &Rubric,
    format: ResultsFormat,
) -> std::io::Result<()> {
    let results = match format {
        ResultsFormat::Gradescope => gradescope(r, rubric),
        ResultsFormat::Prairielearn => prairielearn(r, rubric),
    };
    write_results_file(&dir.join("results.json"), &results)?;
    let tdir = dir.join("transcripts");
    std::fs::create_dir_all(&tdir)?;
    for t in &r.tests {
        let mut text = format!(
            "test {}: {}\nstatus: {}\npoints: {} of {}\n",
            t.number,
            t.name,
            match t.status {
                TestStatus::Passed => "passed",
                TestStatus::Failed => "failed",
                TestStatus::NotRun => "not run",
            },
            fmt_points(t.score),
            fmt_points(t.max_score)
        );
        if !t.message.is_empty() {
            let _ = write!(text, "\n{}\n", t.message.trim_end());
        }
        if !t.transcript.is_empty() {
            let _ = write!(text, "\ntranscript:\n{}", t.transcript);
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
        if !t.program_output.is_empty() {
            let _ = write!(
                text,
                "\nwhat the program printed (stdout and stderr):\n{}",
                t.program_output
            );
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
        write_atomic(
            &tdir.join(transcript_file_name(t.number, &t.name)),
            text.as_bytes(),
        )?;
    }
    if let Some(b) = &r.build {
        let text = format!("$ {}\n{}\n({})\n", b.command, b.output.trim_end(), b.status);
        write_atomic(&tdir.join("00-build.txt"), text.as_bytes())?;
    }
    Ok(())
}

/// Writes a results JSON document atomically at `path`.
pub fn write_results_file(path: &Path, results: &Value) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(results).map_err(std::io::Error::other)?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// One row of the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// The submission's name.
    pub submission: String,
    /// Points earned.
    pub score: f64,
    /// Points possible.
    pub max_score: f64,
    /// True when every test ran.
    pub complete: bool,
    /// Why grading was cut short.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cut_short: Option<String>,
    /// Points per test, in rubric order.
    pub tests: Vec<TestScore>,
    /// The isolation it ran under.
    pub isolation: String,
    /// Wall-clock seconds.
    pub execution_time: f64,
    /// True when its build failed (then no test ran).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub build_failed: bool,
}

impl SummaryRow {
    /// The row of one submission.
    pub fn of(r: &SubmissionResult) -> SummaryRow {
        SummaryRow {
            submission: r.name.clone(),
            score: r.score(),
            max_score: r.max_score(),
            complete: r.complete(),
            cut_short: r.cut_short.clone(),
            tests: r
                .tests
                .iter()
                .map(|t| TestScore {
                    name: t.name.clone(),
                    score: t.score,
                    max_score: t.max_score,
                    status: t.status,
                })
                .collect(),
            isolation: r.isolation.clone(),
            execution_time: r.execution_time,
            build_failed: r.build.as_ref().is_some_and(|b| !b.ok),
        }
    }
}

/// One test's points in a summary row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestScore {
    /// The test's name.
    pub name: String,
    /// Points earned.
    pub score: f64,
    /// Points possible.
    pub max_score: f64,
    /// Passed, failed or not run.
    pub status: TestStatus,
}

/// `summary.json`: the whole class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The rubric's title.
    pub title: String,
    /// The rubric file.
    pub rubric: String,
    /// Test names, in rubric order.
    pub tests: Vec<String>,
    /// Points possible.
    pub max_score: f64,
    /// How submissions were isolated: `namespaces`, `user namespaces` or `none`.
    pub isolation: String,
    /// Where isolation is `none`: why, and what that means.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub isolation_note: Option<String>,
    /// Where the `processes` limit was not enforced by a pids cgroup: why.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limits_note: Option<String>,
    /// `K/N` when this is one shard of a class.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shard: Option<String>,
    /// True when every submission was graded completely (else `cut_short` says why).
    pub complete: bool,
    /// Why grading was cut short.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cut_short: Option<String>,
    /// One row per submission, sorted by name.
    pub submissions: Vec<SummaryRow>,
}

impl Summary {
    /// `summary.csv`: `submission,score,max_score,<one column per test>`.
    pub fn csv(&self) -> String {
        let mut out = String::from("submission,score,max_score");
        for t in &self.tests {
            out.push(',');
            out.push_str(&csv_field(t));
        }
        out.push('\n');
        for row in &self.submissions {
            let _ = write!(
                out,
                "{},{},{}",
                csv_field(&row.submission),
                fmt_points(row.score),
                fmt_points(row.max_score)
            );
            for t in &row.tests {
                let _ = write!(out, ",{}", fmt_points(t.score));
            }
            out.push('\n');
        }
        out
    }

    /// Writes `summary.csv` and `summary.json` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let mut json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        json.push('\n');
        write_atomic(&dir.join("summary.json"), json.as_bytes())?;
        write_atomic(&dir.join("summary.csv"), self.csv().as_bytes())
    }

    /// The table printed on the terminal.
    pub fn table(&self) -> String {
        let width = self
            .submissions
            .iter()
            .map(|r| r.submission.chars().count())
            .max()
            .unwrap_or(0)
            .max("SUBMISSION".len());
        let mut out = format!("{:<width$}  {:>9}  NOTES\n", "SUBMISSION", "SCORE");
        for r in &self.submissions {
            let score = format!("{}/{}", fmt_points(r.score), fmt_points(r.max_score));
            let failed: Vec<&str> = r
                .tests
                .iter()
                .filter(|t| t.status == TestStatus::Failed)
                .map(|t| t.name.as_str())
                .collect();
            let mut notes = String::new();
            if let Some(why) = &r.cut_short {
                let _ = write!(notes, "INCOMPLETE ({why})");
            } else if r.build_failed {
                notes.push_str("build failed");
            } else if !failed.is_empty() {
                let _ = write!(notes, "failed: {}", failed.join("; "));
            }
            let _ = writeln!(out, "{:<width$}  {:>9}  {notes}", r.submission, score);
        }
        out
    }
}

/// A CSV field, quoted when it must be (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests;
