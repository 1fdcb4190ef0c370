/*!
`netdrill grade RUBRIC SUBMISSION_DIR… --out DIR`: grade a class; `netdrill grade merge`
joins the outputs of shards; `--gradescope` grades the one submission of a Gradescope
container.

One worker process per submission ([`crate::grade::worker`]), up to `--jobs` at a time,
each in namespaces of its own when the system allows it (otherwise one at a time on the
host's loopback, and the output says so). The grader reads each worker's results as
they come and writes the submission's `results.json` as soon as it ends, so a time limit,
an interrupt or a crash of a worker never loses what was graded: every submission gets a
`results.json`, marked incomplete where grading was cut short.

Exit status: 0 every submission was graded (whatever its score); 1 grading was cut
short (interrupted, time limit, internal error); 2 invalid rubric, scenario or flag.
*/

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::watch;

use super::{EXIT_FAILED, EXIT_INVALID, EXIT_OK};
use crate::grade::isolate::{self, Isolation};
use crate::grade::model::Rubric;
use crate::grade::outcome::{NOT_STARTED, SubmissionResult, TestStatus, WorkerEvent};
use crate::grade::output::{self, ResultsFormat, Summary, SummaryRow};
use crate::grade::rubric::load_rubric;

/// How long a worker gets beyond the submission's time limit to report and end.
const WORKER_GRACE: Duration = Duration::from_secs(15);
/// How long a worker gets between SIGTERM and SIGKILL when grading is cut short.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Arguments of `grade`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct GradeArgs {
    /// `merge`: combine the outputs of shards.
    #[command(subcommand)]
    pub command: Option<GradeCommand>,
    /// The rubric file.
    #[arg(required = true)]
    pub rubric: Option<PathBuf>,
    /// The submissions: one directory each; a submission's name is its directory's name.
    pub submissions: Vec<PathBuf>,
    /// Where to write results (DIR/<submission>/results.json, DIR/summary.csv, …).
    #[arg(long, value_name = "DIR", required_unless_present = "gradescope")]
    pub out: Option<PathBuf>,
    /// How many submissions are graded at once (default: the number of cores).
    #[arg(short = 'j', long, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Grade only shard K of N (1-based) of the submissions, sorted by name.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// The per-submission results format.
    #[arg(long, value_enum, default_value_t = ResultsFormat::Gradescope)]
    pub results_format: ResultsFormat,
    /// Stop grading after this long in all (e.g. `30m`); what is left is marked incomplete.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub deadline: Option<Duration>,
    /// Run inside Gradescope's container: grade /autograder/submission into
    /// /autograder/results/results.json.
    #[arg(long, conflicts_with_all = ["submissions", "out", "shard"])]
    pub gradescope: bool,
    /// With --gradescope: the submission directory.
    #[arg(long, value_name = "DIR", requires = "gradescope")]
    pub submission: Option<PathBuf>,
    /// With --gradescope: where to write results.json.
    #[arg(long, value_name = "FILE", requires = "gradescope")]
    pub results: Option<PathBuf>,
    /// Do not use namespaces even where they are available (grades one at a time).
    #[arg(long)]
    pub no_isolation: bool,
}

/// Subcommands of `grade`.
#[derive(Debug, clap::Subcommand)]
pub enum GradeCommand {
    /// Combine the outputs of `grade --shard K/N` runs into one.
    Merge(MergeArgs),
}

/// Arguments of `grade merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The `--out` directories of the shards.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Where to write the merged output.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Arguments of the hidden `grade-worker` (one submission; started by `grade`).
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The rubric file.
    #[arg(long)]
    pub rubric: PathBuf,
    /// The submission directory.
    #[arg(long)]
    pub submission: PathBuf,
    /// Enter namespaces of its own first.
    #[arg(long)]
    pub isolate: bool,
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{s}` is not a shard: write K/N with 1 <= K <= N, such as 1/4");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let k: usize = k.trim().parse().map_err(|_| bad())?;
    let n: usize = n.trim().parse().map_err(|_| bad())?;
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); write e.g. 30m or 90s"))?;
    if d.is_zero() {
        return Err("the deadline must be longer than 0".into());
    }
    Ok(d)
}

/// Runs the hidden worker.
pub fn worker_main(args: WorkerArgs) -> ExitCode {
    ExitCode::from(crate::grade::worker::main(
        &args.rubric,
        &args.submission,
        args.isolate,
    ))
}

/// Runs `grade`.
pub fn main(args: GradeArgs) -> ExitCode {
    if let Some(GradeCommand::Merge(m)) = &args.command {
        return merge_main(m);
    }
    let Some(rubric_path) = args.rubric.clone() else {
        eprintln!("error: give the rubric file");
        return ExitCode::from(EXIT_INVALID);
    };
    let rubric = match load_rubric(&rubric_path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}", crate::diagnostic::render(&e, color_stderr()));
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let plan = match Plan::new(&args, rubric_path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    // Probe before any thread exists: the probe forks.
    let isolation = if args.no_isolation {
        Isolation::None {
            why: "--no-isolation was given".into(),
        }
    } else {
        isolate::probe()
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let code = runtime.block_on(grade_all(&args, &rubric, plan, isolation));
    runtime.shutdown_timeout(Duration::from_secs(1));
    crate::interp::process::cleanup_at_exit();
    ExitCode::from(code)
}

fn color_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// What to grade and where the results go.
struct Plan {
    rubric_path: PathBuf,
    /// (name, directory), sorted by name, this shard's only.
    submissions: Vec<(String, PathBuf)>,
    /// Where each submission's results go.
    dest: Dest,
    shard: Option<(usize, usize)>,
}

enum Dest {
    /// `--out DIR`: DIR/<name>/results.json, transcripts, summaries.
    Dir(PathBuf),
    /// `--gradescope`: one results.json.
    File(PathBuf),
}

impl Plan {
    fn new(args: &GradeArgs, rubric_path: PathBuf) -> Result<Plan, String> {
        if args.gradescope {
            let dir = args
                .submission
                .clone()
                .unwrap_or_else(|| PathBuf::from("/autograder/submission"));
            if !dir.is_dir() {
                return Err(format!(
                    "the submission directory {} does not exist (give another with --submission DIR)",
                    dir.display()
                ));
            }
            let results = args
                .results
                .clone()
                .unwrap_or_else(|| PathBuf::from("/autograder/results/results.json"));
            return Ok(Plan {
                rubric_path,
                submissions: vec![("submission".into(), dir)],
                dest: Dest::File(results),
                shard: None,
            });
        }
        let Some(out) = args.out.clone() else {
            return Err("give --out DIR".into());
        };
        if args.submissions.is_empty() {
            return Err("give at least one submission directory".into());
        }
        let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
        for dir in &args.submissions {
            if !dir.is_dir() {
                return Err(format!(
                    "{} is not a directory (each submission is a directory)",
                    dir.display()
                ));
            }
            let name = std::fs::canonicalize(dir)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
                .ok_or_else(|| format!("{} has no directory name", dir.display()))?;
            if let Some(other) = by_name.insert(name.clone(), dir.clone()) {
                return Err(format!(
                    "two submissions are named {name:?} ({} and {}): rename one",
                    other.display(),
                    dir.display()
                ));
            }
        }
        let mut submissions: Vec<(String, PathBuf)> = by_name.into_iter().collect();
        if let Some((k, n)) = args.shard {
            submissions = submissions
                .into_iter()
                .enumerate()
                .filter(|(i, _)| i % n == k - 1)
                .map(|(_, s)| s)
                .collect();
        }
        Ok(Plan {
            rubric_path,
            submissions,
            dest: Dest::Dir(out),
            shard: args.shard,
        })
    }
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

async fn grade_all(args: &GradeArgs, rubric: &Rubric, plan: Plan, isolation: Isolation) -> u8 {
    let started = Instant::now();
    let (isolated, iso_name, iso_note) = match &isolation {
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
    };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut jobs = args.jobs.map(usize::from).unwrap_or(cores);
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
        format: args.results_format,
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

    let mut rows: Vec<SummaryRow> = results.iter().map(SummaryRow::of).collect();
    rows.sort_by(|a, b| a.submission.cmp(&b.submission));
    let stop_why = stop_rx.borrow().why();
    let incomplete = results.iter().any(|r| !r.complete());
    let summary = Summary {
        title: rubric.title.clone(),
        rubric: plan.rubric_path.display().to_string(),
        tests: rubric.tests.iter().map(|t| t.name.clone()).collect(),
        max_score: rubric.max_score(),
        isolation: iso_name.clone(),
        isolation_note: iso_note.clone(),
        limits_note: results.iter().find_map(|r| r.limits_note.clone()),
        shard: plan.shard.map(|(k, n)| format!("{k}/{n}")),
        complete: !incomplete,
        cut_short: stop_why.clone().or_else(|| {
            incomplete.then(|| "some submissions could not be graded completely".to_string())
        }),
        submissions: rows,
    };
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
    mut stop: watch::Receiver<Stop>,
) -> SubmissionResult {
    let started = Instant::now();
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
    let dir_shown = dir.display().to_string();
    let fail = |why: String| {
        SubmissionResult::assemble(
            ctx.rubric,
            name,
            &dir_shown,
            Vec::new(),
            Some(why),
            started.elapsed().as_secs_f64(),
        )
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(format!("the grading worker could not be started ({e})")),
    };
    let pgid = child.id().map(|p| p as i32);
    let Some(stdout) = child.stdout.take() else {
        return fail("the grading worker has no output".into());
    };
    let stderr_task = child.stderr.take().map(|mut err| {
        tokio::spawn(async move {
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
        })
    });
    let mut lines = BufReader::new(stdout).lines();
    let mut events = Vec::new();
    let limit = ctx.rubric.timeout + WORKER_GRACE;
    let sleep = tokio::time::sleep(limit);
    tokio::pin!(sleep);
    let mut cut_short: Option<String> = None;
    let mut done = false;
    let mut stop_alive = true;
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(l)) => match serde_json::from_str::<WorkerEvent>(&l) {
                    Ok(WorkerEvent::Done) => { done = true; events.push(WorkerEvent::Done); }
                    Ok(e) => events.push(e),
                    Err(_) => {}
                },
                _ => break,
            },
            _ = &mut sleep => {
                cut_short = Some(format!(
                    "the submission's time limit ({}) ran out",
                    humantime::format_duration(ctx.rubric.timeout)
                ));
                break;
            }
            changed = stop.changed(), if stop_alive => {
                if changed.is_err() {
                    stop_alive = false;
                } else if let Some(why) = stop.borrow().why() {
                    cut_short = Some(why);
                    break;
                }
            }
        }
    }
    // End the worker (and with it its namespace and every process in it).
    if let Some(pgid) = pgid {
        use nix::sys::signal::{Signal, killpg};
        use nix::unistd::Pid;
        if !done || cut_short.is_some() {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGTERM);
            if tokio::time::timeout(STOP_GRACE, child.wait())
                .await
                .is_err()
            {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            }
        }
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        if cut_short.is_none() && !done {
            let stderr = match stderr_task {
                Some(t) => tokio::time::timeout(Duration::from_secs(1), t)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default(),
                None => String::new(),
            };
            let how = match status {
                Ok(Ok(s)) => s.to_string(),
                _ => "did not end".into(),
            };
            let tail: String = stderr
                .lines()
                .rev()
                .take(10)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            cut_short = Some(if tail.trim().is_empty() {
                format!("netdrill's grading worker ended early ({how}): an internal error")
            } else {
                format!("netdrill's grading worker ended early ({how}): an internal error:\n{tail}")
            });
        }
    }
    // A worker killed before its own cleanup leaves its (by now empty) cgroup behind.
    for e in &events {
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
    SubmissionResult::assemble(
        ctx.rubric,
        name,
        &dir_shown,
        events,
        cut_short,
        started.elapsed().as_secs_f64(),
    )
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

fn merge_main(args: &MergeArgs) -> ExitCode {
    match output::merge(&args.shards, &args.out) {
        Ok(summary) => {
            print!("{}", summary.table());
            println!(
                "merged {} shards: {} submissions into {}",
                args.shards.len(),
                summary.submissions.len(),
                args.out.display()
            );
            if summary.complete {
                ExitCode::from(EXIT_OK)
            } else {
                ExitCode::from(EXIT_FAILED)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}
