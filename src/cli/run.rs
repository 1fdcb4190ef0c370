/*!
`netdrill run [PATH…]`: load every scenario file, run the valid ones (up to `-j` at a
time), and report in the chosen format.

Exit status: 0 when every scenario passed, 1 when one failed, 2 when a file, flag or
path is invalid (an invalid file is reported with its diagnostics and not run).
*/

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::{EXIT_FAILED, EXIT_INVALID, EXIT_OK, paths_or_default};
use crate::interp::engine::{self, RunOptions, TargetOverride};
use crate::interp::pool::RunPool;
use crate::outcome::{Status, StepFailure};
use crate::report::human::{self, HumanOptions};
use crate::report::snapshot::{self, Compared};
use crate::report::{ScenarioOutcome, Summary, json, junit, tap};
use crate::scenario::{Scenario, collect_files, load_file};
use crate::transcript::{Failure, Transcript};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A line per scenario, failures explained (default).
    Human,
    /// The JSON report (docs/scenarios.md, "Reports for machines").
    Json,
    /// JUnit XML.
    Junit,
    /// TAP version 14.
    Tap,
}

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Scenario files or directories (default `scenarios/`).
    pub paths: Vec<PathBuf>,
    /// Run this command as the target instead of `[target]` (`{{port}}` is its port).
    #[arg(long, value_name = "CMD", conflicts_with = "target_addr")]
    pub target_cmd: Option<String>,
    /// Use the program already running at HOST:PORT as the target.
    #[arg(long, value_name = "HOST:PORT")]
    pub target_addr: Option<String>,
    /// Start the target on this fixed port (`{{port}}`), for a program that hard-codes
    /// it; replaces `[target] port`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..), conflicts_with = "target_addr")]
    pub target_port: Option<u16>,
    /// How many scenarios run at once.
    #[arg(short = 'j', long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Run only scenarios with this tag (repeatable: any of them).
    #[arg(long = "tag", value_name = "T")]
    pub tags: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Default wait of every waiting step, replacing each file's `timeout` (e.g. `5s`).
    #[arg(long, value_name = "D", value_parser = super::parse_duration)]
    pub timeout: Option<Duration>,
    /// Seed of the impairing link, replacing each file's `seed`.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Compare each transcript with the one stored in DIR.
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<PathBuf>,
    /// With --snapshots: write the transcripts instead of comparing.
    #[arg(long, requires = "snapshots")]
    pub update_snapshots: bool,
    /// Print whole transcripts.
    #[arg(short, long)]
    pub verbose: bool,
}

/// Runs `run`.
pub fn main(args: RunArgs) -> ExitCode {
    let paths = paths_or_default(&args.paths);
    let files = match collect_files(&paths) {
        Ok(f) if f.is_empty() => {
            eprintln!(
                "error: no scenario files (*.toml) in {}",
                show_paths(&paths)
            );
            return ExitCode::from(EXIT_INVALID);
        }
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    // The main thread loads files and prints results; the runs themselves go to a pool
    // of single-threaded runtimes (see `interp::pool`).
    let started = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|rt| {
            Ok((
                rt,
                RunPool::new(RunPool::threads_for(usize::from(args.jobs)))?,
            ))
        });
    let (runtime, pool) = match started {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the runtime: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let outcomes = runtime.block_on(run_all(&args, files, &pool));
    let summary = Summary::of(&outcomes);
    let mut stdout = std::io::stdout().lock();
    let _ = match args.format {
        Format::Human => writeln!(stdout, "{}", human::summary(summary)),
        Format::Json => writeln!(
            stdout,
            "{}",
            serde_json::to_string_pretty(&json::report(&outcomes)).unwrap_or_default()
        ),
        Format::Junit => write!(stdout, "{}", junit::report(&outcomes)),
        Format::Tap => write!(stdout, "{}", tap::report(&outcomes)),
    };
    let _ = stdout.flush();
    drop(stdout);
    runtime.shutdown_timeout(Duration::from_secs(1));
    ExitCode::from(if summary.error > 0 {
        EXIT_INVALID
    } else if summary.failed > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    })
}

fn show_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Loads, filters and runs every file; prints human lines as results arrive, in order.
async fn run_all(args: &RunArgs, files: Vec<PathBuf>, pool: &RunPool) -> Vec<ScenarioOutcome> {
    if let Err(e) = crate::interp::process::install_interrupt_handler() {
        eprintln!("warning: Ctrl-C will not clean up: {e}");
    }
    let opts = RunOptions {
        target: match (&args.target_cmd, &args.target_addr) {
            (Some(c), _) => Some(TargetOverride::Command(c.clone())),
            (None, Some(a)) => Some(TargetOverride::Address(a.clone())),
            (None, None) => None,
        },
        timeout: args.timeout,
        seed: args.seed,
        port: args.target_port,
        cwd: None,
    };
    let color = args.format == Format::Human
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none();
    let human_opts = HumanOptions {
        verbose: args.verbose,
        color,
    };
    let items: Vec<(PathBuf, Result<Scenario, ScenarioOutcome>)> = files
        .into_iter()
        .map(|f| {
            let loaded = load_file(&f).map_err(|e| invalid_outcome(&f, &e));
            (f, loaded)
        })
        .filter(|(_, loaded)| match loaded {
            Ok(sc) => args.tags.is_empty() || sc.tags.iter().any(|t| args.tags.contains(t)),
            Err(_) => true,
        })
        .collect();
    let opts = &opts;
    let mut results = futures::stream::iter(items)
        .map(|(file, loaded)| async move {
            match loaded {
                Ok(sc) => run_one(&file, Arc::new(sc), opts, pool).await,
                Err(outcome) => outcome,
            }
        })
        .buffered(usize::from(args.jobs));
    let mut outcomes = Vec::new();
    while let Some(mut outcome) = results.next().await {
        let mut extra = String::new();
        if let Some(dir) = &args.snapshots {
            extra = compare_snapshot(dir, &mut outcome, args.update_snapshots);
        }
        if args.format == Format::Human {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{}", human::line(&outcome));
            let _ = write!(stdout, "{}{extra}", human::details(&outcome, human_opts));
            let _ = stdout.flush();
        }
        outcomes.push(outcome);
    }
    outcomes
}

async fn run_one(
    file: &Path,
    sc: Arc<Scenario>,
    opts: &RunOptions,
    pool: &RunPool,
) -> ScenarioOutcome {
    let task_sc = Arc::clone(&sc);
    let task_opts = opts.clone();
    let joined = pool
        .run(async move { engine::run(&task_sc, &task_opts).await })
        .await;
    let result = match joined {
        Ok(r) => r,
        Err(e) => {
            let mut outcome = invalid_outcome_text(
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
    }
}

/// The outcome of a scenario that could not be run, with `text` as its report.
fn invalid_outcome_text(file: &Path, text: String) -> ScenarioOutcome {
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
    }
}

/// The outcome of a file that could not be loaded: its diagnostics, not run.
fn invalid_outcome(file: &Path, err: &crate::diagnostic::LoadError) -> ScenarioOutcome {
    let mut outcome = invalid_outcome_text(file, human::render(err, false));
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

/// Compares (or writes) the outcome's transcript snapshot; a mismatch fails the
/// scenario. Returns text to print under it.
fn compare_snapshot(dir: &Path, outcome: &mut ScenarioOutcome, update: bool) -> String {
    if outcome.status == Status::Error {
        return String::new();
    }
    let file = PathBuf::from(&outcome.file);
    let text = outcome.transcript.render();
    let (message, shown) = match snapshot::compare(dir, &file, &text, update) {
        Ok(Compared::Same) => return String::new(),
        Ok(Compared::Written) => {
            return format!(
                "  snapshot written: {}\n",
                snapshot::path_for(dir, &file).display()
            );
        }
        Ok(Compared::Missing(path)) => (
            format!(
                "no stored transcript at {} (run with --update-snapshots to write it)",
                path.display()
            ),
            String::new(),
        ),
        Ok(Compared::Differs(diff)) => (
            "the transcript differs from the stored snapshot".to_string(),
            diff,
        ),
        Err(e) => (
            format!("could not read or write the snapshot: {e}"),
            String::new(),
        ),
    };
    let was_passing = outcome.status == Status::Passed;
    if was_passing {
        outcome.status = Status::Failed;
        outcome.failure = Some(StepFailure {
            step: 0,
            line: 1,
            span: None,
            actor: String::new(),
            action: "snapshot".into(),
            failure: Failure::msg(message.clone()),
        });
    }
    // A scenario that passed now fails with this message, which its report shows.
    let mut out = if was_passing {
        String::new()
    } else {
        format!("  snapshot: {message}\n")
    };
    for l in shown.lines() {
        out.push_str(&format!("    {l}\n"));
    }
    out
}
