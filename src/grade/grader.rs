/*!
The grader: one worker process per submission ([`super::worker`]), up to `--jobs` at a
time, each in namespaces of its own when the system allows it (otherwise one at a time
on the host's loopback, and the output says so).

The grader reads each worker's results as they come ([`WorkerEvent`] lines) and writes
the submission's `results.json` as soon as it ends, so a time limit, an interrupt or a
crash of a worker never loses what was graded: every submission gets a `results.json`,
marked incomplete where grading was cut short. Then `summary.csv`, `summary.json` and
the table on the terminal.
*/

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::watch;

use super::isolate::Isolation;
use super::model::Rubric;
use super::outcome::{NOT_STARTED, SubmissionResult, TestStatus, WorkerEvent};
use super::output::{self, ResultsFormat, Summary, SummaryRow};

/// Exit status: every submission was graded.
const EXIT_OK: u8 = 0;
/// Exit status: grading was cut short.
const EXIT_FAILED: u8 = 1;

/// How long a worker gets beyond the submission's time limit to report and end.
const WORKER_GRACE: Duration = Duration::from_secs(15);
/// How long a worker gets between SIGTERM and SIGKILL when grading is cut short.
const STOP_GRACE: Duration = Duration::from_secs(2);

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
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut jobs = args.jobs.unwrap_or(cores);
    if let Some(note) = &iso_note {
        eprintln!("warning: {note}.");
        jobs = 1;
    }
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
    let ctx = &ctx;
    let progress = &progress;
    let limits_warning = std::sync::Once::new();
    let limits_warning = &limits_warning;
    let results: Vec<SubmissionResult> = futures::stream::iter(plan.submissions.iter())
        .map(|(name, dir)| {
            let mut stop = stop_rx.clone();
            async move {
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
    let graded = results.iter().filter(|r| r.complete()).count();
    println!(
        "graded {graded} of {total} submissions completely in {:.1} s (isolation: {iso_name})",
        started.elapsed().as_secs_f64()
    );
    if let Some(why) = &stop_why {
        println!("grading was cut short because {why}");
    }
    if incomplete || stop_why.is_some() {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
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

/// Grades one submission in a worker process; never fails: whatever happens, the
/// result says what was graded.
async fn grade_one(
    ctx: &Ctx<'_>,
    name: &str,
    dir: &Path,
    stop: watch::Receiver<Stop>,
) -> SubmissionResult {
    let started = Instant::now();
    let dir_shown = dir.display().to_string();
    let assemble = |events, why| {
        SubmissionResult::assemble(
            ctx.rubric,
            name,
            &dir_shown,
            events,
            why,
            started.elapsed().as_secs_f64(),
        )
    };
    let mut child = match spawn_worker(ctx, dir) {
        Ok(c) => c,
        Err(e) => {
            return assemble(
                Vec::new(),
                Some(format!("the grading worker could not be started ({e})")),
            );
        }
    };
    let (Some(pgid), Some(stdout)) = (child.id().map(|p| p as i32), child.stdout.take()) else {
        return assemble(Vec::new(), Some("the grading worker has no output".into()));
    };
    let stderr_task = child
        .stderr
        .take()
        .map(|err| tokio::spawn(stderr_tail(err)));
    let (events, done, mut cut_short) = read_events(ctx, stdout, stop).await;
    let status = end_worker(ctx, &mut child, pgid, done && cut_short.is_none()).await;
    if cut_short.is_none() && !done {
        let stderr = match stderr_task {
            Some(t) => tokio::time::timeout(Duration::from_secs(1), t)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default(),
            None => String::new(),
        };
        cut_short = Some(ended_early(&status, &stderr));
    }
    remove_cgroups(&events).await;
    assemble(events, cut_short)
}

/// Starts `netdrill grade-worker` for `dir`, in a process group of its own, killed
/// with the grader (PDEATHSIG).
fn spawn_worker(ctx: &Ctx<'_>, dir: &Path) -> std::io::Result<tokio::process::Child> {
    let dir_abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let rubric_abs =
        std::fs::canonicalize(ctx.rubric_path).unwrap_or_else(|_| ctx.rubric_path.to_path_buf());
    let mut cmd = tokio::process::Command::new(ctx.exe);
    cmd.arg("grade-worker")
        .arg("--rubric")
        .arg(&rubric_abs)
        .arg("--submission")
        .arg(&dir_abs)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if ctx.isolated {
        cmd.arg("--isolate");
    }
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            #[cfg(target_os = "linux")]
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    cmd.spawn()
}

/// The last 32 KiB or so of what the worker wrote on stderr (for an internal error).
async fn stderr_tail(mut err: tokio::process::ChildStderr) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    while let Ok(n) = err.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 64 * 1024 {
            buf.drain(..buf.len() - 32 * 1024);
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Reads the worker's events until it ends, the submission's time limit passes, or
/// grading is stopped: the events, whether the worker said it was done, and why
/// grading was cut short (if it was).
async fn read_events(
    ctx: &Ctx<'_>,
    stdout: tokio::process::ChildStdout,
    mut stop: watch::Receiver<Stop>,
) -> (Vec<WorkerEvent>, bool, Option<String>) {
    let mut lines = BufReader::new(stdout).lines();
    let mut events = Vec::new();
    let sleep = tokio::time::sleep(ctx.rubric.timeout + WORKER_GRACE);
    tokio::pin!(sleep);
    let mut done = false;
    let mut stop_alive = true;
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(l)) => {
                    if let Ok(e) = serde_json::from_str::<WorkerEvent>(&l) {
                        done |= e == WorkerEvent::Done;
                        events.push(e);
                    }
                }
                _ => return (events, done, None),
            },
            _ = &mut sleep => {
                let why = format!(
                    "the submission's time limit ({}) ran out",
                    humantime::format_duration(ctx.rubric.timeout)
                );
                return (events, done, Some(why));
            }
            changed = stop.changed(), if stop_alive => {
                if changed.is_err() {
                    stop_alive = false;
                } else if let Some(why) = stop.borrow().why() {
                    return (events, done, Some(why));
                }
            }
        }
    }
}

/// Ends the worker (and with it its namespace and every process in it) unless it
/// finished by itself (`finished`), and reaps it: how it ended.
async fn end_worker(
    ctx: &Ctx<'_>,
    child: &mut tokio::process::Child,
    pgid: i32,
    finished: bool,
) -> Option<std::process::ExitStatus> {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    if !finished {
        // An isolated worker's namespace ends everything in it when the worker dies:
        // no need to wait. Without namespaces, SIGTERM lets the worker end the
        // programs it started first.
        let first = if ctx.isolated {
            Signal::SIGKILL
        } else {
            Signal::SIGTERM
        };
        let _ = killpg(Pid::from_raw(pgid), first);
        if tokio::time::timeout(STOP_GRACE, child.wait())
            .await
            .is_err()
        {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    status.ok().and_then(Result::ok)
}

/// Why grading stopped when the worker ended before saying it was done.
fn ended_early(status: &Option<std::process::ExitStatus>, stderr: &str) -> String {
    let how = match status {
        Some(s) => s.to_string(),
        None => "did not end".into(),
    };
    let lines: Vec<&str> = stderr.lines().collect();
    let tail = lines[lines.len().saturating_sub(10)..].join("\n");
    if tail.trim().is_empty() {
        format!("netdrill's grading worker ended early ({how}): an internal error")
    } else {
        format!("netdrill's grading worker ended early ({how}): an internal error:\n{tail}")
    }
}

/// Removes the cgroups a worker reported: one killed before its own cleanup leaves its
/// (by now empty) cgroup behind.
async fn remove_cgroups(events: &[WorkerEvent]) {
    for e in events {
        if let WorkerEvent::Limits {
            cgroup: Some(cg), ..
        } = e
        {
            let cg = PathBuf::from(cg);
            let removed = tokio::task::spawn_blocking(move || {
                crate::grade::limits::remove_worker_cgroup(&cg)
            })
            .await;
            if let Ok(Err(e)) = removed {
                eprintln!("warning: {e}");
            }
        }
    }
}

/// Progress: a bar on a terminal, a plain line per submission otherwise (stderr).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(total: usize) -> Progress {
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

    fn done(&self, r: &SubmissionResult) {
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

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
