/*!
The grader: one worker process per submission ([`super::worker`]), up to `--jobs` at a
time, each in namespaces of its own when the system allows it (otherwise one at a time
on the host's loopback, and the output says so).

The grader reads each worker's results as they come ([`WorkerEvent`] lines) and writes
the submission's `results.json` as soon as it ends, so a time limit, an interrupt or a
crash of a worker never loses what was graded: every submission gets a `results.json`,
marked incomplete where grading was cut short. Then `summary.csv`, `summary.json` and
the table on the terminal.

[`WorkerEvent`]: super::outcome::WorkerEvent
*/

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::watch;

use super::isolate::Isolation;
use super::model::Rubric;
use super::outcome::{NOT_STARTED, SubmissionResult};
use super::output::{self, ResultsFormat, Summary, SummaryRow};

mod progress;
mod submission;

use progress::Progress;
use submission::grade_one;

/// Exit status: every submission was graded.
const EXIT_OK: u8 = 0;
/// Exit status: grading was cut short.
const EXIT_FAILED: u8 = 1;

/// How to grade, from the command line.
#[derive(Debug, Clone, Copy)]
pub struct GradeOptions {
    /// `--jobs` (default: the number of cores).
    pub jobs: Option<usize>,
    /// `--deadline`: a wall limit for the whole run.
    pub deadline: Option<Duration>,
    /// `--results-format`.
    pub format: ResultsFormat,
}

/// What to grade and where the results go.
pub struct Plan {
    /// The rubric file.
    pub rubric_path: PathBuf,
    /// (name, directory), sorted by name, this shard's only.
    pub submissions: Vec<(String, PathBuf)>,
    /// Where each submission's results go.
    pub dest: Dest,
    /// `--shard K/N`.
    pub shard: Option<(usize, usize)>,
}

pub enum Dest {
    /// `--out DIR`: `DIR/<name>/results.json`, transcripts, summaries.
    Dir(PathBuf),
    /// `--gradescope`: one results.json.
    File(PathBuf),
}

/// Why grading stops early.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stop {
    Running,
    Interrupted(&'static str),
    Deadline(Duration),
}

impl Stop {
    fn why(&self) -> Option<String> {
        match self {
            Stop::Running => None,
            Stop::Interrupted(sig) => Some(format!("netdrill was interrupted ({sig})")),
            Stop::Deadline(d) => Some(format!(
                "the grading deadline ({}) passed",
                humantime::format_duration(*d)
            )),
        }
    }
}

/// Grades every submission of `plan`; returns the exit status (0, or 1 when cut short).
pub async fn grade_all(
    args: &GradeOptions,
    rubric: &Rubric,
    plan: Plan,
    isolation: Isolation,
) -> u8 {
    let started = Instant::now();
    let (isolated, iso_name, iso_note) = describe(&isolation);
    let jobs = job_count(args.jobs, iso_note.as_deref());
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find the netdrill executable to start workers: {e}");
            return EXIT_FAILED;
        }
    };
    let (stop_tx, stop_rx) = watch::channel(Stop::Running);
    let stop_tx = Arc::new(stop_tx);
    spawn_stop_watchers(Arc::clone(&stop_tx), args.deadline);

    let total = plan.submissions.len();
    let progress = Progress::new(total);
    let ctx = Ctx {
        rubric,
        rubric_path: &plan.rubric_path,
        exe: &exe,
        isolated,
        iso_name: &iso_name,
        format: args.format,
        dest: &plan.dest,
    };
    let limits_warning = Once::new();
    let results: Vec<SubmissionResult> = futures::stream::iter(plan.submissions.iter())
        .map(|(name, dir)| {
            grade_and_write(&ctx, name, dir, stop_rx.clone(), &progress, &limits_warning)
        })
        .buffer_unordered(jobs)
        .collect()
        .await;
    progress.finish();

    let stop_why = stop_rx.borrow().why();
    let summary = summarize(
        rubric,
        &plan,
        &results,
        &iso_name,
        iso_note,
        stop_why.clone(),
    );
    conclude(
        &summary,
        &plan,
        &results,
        started,
        &iso_name,
        stop_why.as_deref(),
    )
}

/// Prints the summary's table and the closing lines, and writes the summaries (with
/// `--out`): the exit status.
fn conclude(
    summary: &Summary,
    plan: &Plan,
    results: &[SubmissionResult],
    started: Instant,
    iso_name: &str,
    stop_why: Option<&str>,
) -> u8 {
    let incomplete = !summary.complete;
    print!("{}", summary.table());
    if let Dest::Dir(out) = &plan.dest
        && let Err(e) = summary.write(out)
    {
        eprintln!(
            "error: cannot write the summary into {}: {e}",
            out.display()
        );
        return EXIT_FAILED;
    }
    let total = plan.submissions.len();
    let graded = results.iter().filter(|r| r.complete()).count();
    println!(
        "graded {graded} of {total} submissions completely in {:.1} s (isolation: {iso_name})",
        started.elapsed().as_secs_f64()
    );
    if let Some(why) = stop_why {
        println!("grading was cut short because {why}");
    }
    if incomplete || stop_why.is_some() {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// How many submissions are graded at once: `--jobs`, or the number of cores; one
/// at a time without isolation (`iso_note` says why, and is printed as a warning).
fn job_count(jobs: Option<usize>, iso_note: Option<&str>) -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut jobs = jobs.unwrap_or(cores);
    if let Some(note) = iso_note {
        eprintln!("warning: {note}.");
        jobs = 1;
    }
    jobs
}

/// Grades one submission (unless grading was stopped before it started), writes its
/// results at once, and counts it in the progress.
async fn grade_and_write(
    ctx: &Ctx<'_>,
    name: &str,
    dir: &Path,
    mut stop: watch::Receiver<Stop>,
    progress: &Progress,
    limits_warning: &Once,
) -> SubmissionResult {
    let result = if let Some(why) = stop.borrow_and_update().why() {
        SubmissionResult::assemble(
            ctx.rubric,
            name,
            &dir.display().to_string(),
            Vec::new(),
            Some(why),
            0.0,
        )
    } else {
        grade_one(ctx, name, dir, stop).await
    };
    let result = SubmissionResult {
        isolation: if result.isolation == NOT_STARTED {
            ctx.iso_name.to_string()
        } else {
            result.isolation
        },
        ..result
    };
    if let Some(note) = &result.limits_note {
        limits_warning.call_once(|| eprintln!("warning: {note}."));
    }
    if let Err(e) = write_one(ctx, &result) {
        eprintln!("error: cannot write the results of {}: {e}", result.name);
    }
    progress.done(&result);
    result
}

/// The isolation's name in the outputs, and where there is none, what that means.
fn describe(isolation: &Isolation) -> (bool, String, Option<String>) {
    match isolation {
        Isolation::Namespaces { user_ns } => (
            true,
            if *user_ns {
                "user namespaces"
            } else {
                "namespaces"
            }
            .to_string(),
            None,
        ),
        Isolation::None { why } => (
            false,
            "none".to_string(),
            Some(format!(
                "no isolation: {why}. Submissions were graded one at a time on the host's loopback; a program that hard-codes its port can collide with other programs there"
            )),
        ),
    }
}

/// `summary.json` (and `.csv`, and the table) of the submissions graded.
fn summarize(
    rubric: &Rubric,
    plan: &Plan,
    results: &[SubmissionResult],
    iso_name: &str,
    iso_note: Option<String>,
    stop_why: Option<String>,
) -> Summary {
    let mut rows: Vec<SummaryRow> = results.iter().map(SummaryRow::of).collect();
    rows.sort_by(|a, b| a.submission.cmp(&b.submission));
    let incomplete = results.iter().any(|r| !r.complete());
    Summary {
        title: rubric.title.clone(),
        rubric: plan.rubric_path.display().to_string(),
        tests: rubric.tests.iter().map(|t| t.name.clone()).collect(),
        max_score: rubric.max_score(),
        isolation: iso_name.to_string(),
        isolation_note: iso_note,
        limits_note: results.iter().find_map(|r| r.limits_note.clone()),
        shard: plan.shard.map(|(k, n)| format!("{k}/{n}")),
        complete: !incomplete,
        cut_short: stop_why.or_else(|| {
            incomplete.then(|| "some submissions could not be graded completely".to_string())
        }),
        submissions: rows,
    }
}

/// SIGINT / SIGTERM and the global deadline set the stop signal.
fn spawn_stop_watchers(stop: Arc<watch::Sender<Stop>>, deadline: Option<Duration>) {
    use tokio::signal::unix::{SignalKind, signal};
    let sig_stop = Arc::clone(&stop);
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        let which = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        sig_stop.send_if_modified(|s| {
            if *s == Stop::Running {
                *s = Stop::Interrupted(which);
                true
            } else {
                false
            }
        });
    });
    if let Some(d) = deadline {
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            stop.send_if_modified(|s| {
                if *s == Stop::Running {
                    *s = Stop::Deadline(d);
                    true
                } else {
                    false
                }
            });
        });
    }
}

/// What every submission's grading needs to know.
struct Ctx<'a> {
    rubric: &'a Rubric,
    rubric_path: &'a Path,
    exe: &'a Path,
    isolated: bool,
    iso_name: &'a str,
    format: ResultsFormat,
    dest: &'a Dest,
}

fn write_one(ctx: &Ctx<'_>, r: &SubmissionResult) -> std::io::Result<()> {
    match ctx.dest {
        Dest::Dir(out) => output::write_submission(&out.join(&r.name), r, ctx.rubric, ctx.format),
        Dest::File(path) => {
            let results = match ctx.format {
                ResultsFormat::Gradescope => output::gradescope(r, ctx.rubric),
                ResultsFormat::Prairielearn => output::prairielearn(r, ctx.rubric),
            };
            output::write_results_file(path, &results)
        }
    }
}
