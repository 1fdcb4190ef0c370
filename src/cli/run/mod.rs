/*!
`netdrill run [PATH…]`: load every scenario file, select, run the valid ones (up to `-j`
at a time, the number of cores by default), and report in the chosen format, and in
report files beside it.

- `select.rs`: loading, `--tag`/`--skip-tag`/`--filter`, `--list`.
- `suite.rs`: the scheduler: `-j`, retries, fixed ports, deadlines, Ctrl-C, progress,
  snapshots; results printed in input order as they complete.
- `outcome.rs`: one scenario's run (with its retries) as a report's outcome.

Exit status: 0 when every scenario passed, 1 when one failed, 2 when a file, flag or
path is invalid (an invalid file is reported with its diagnostics and not run), 130 when
interrupted (after the reports of what finished are written).
*/

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use super::{EXIT_FAILED, EXIT_INVALID, EXIT_OK, paths_or_default};
use crate::report::human;
use crate::report::snapshot::UpdateMode;
use crate::report::{ScenarioOutcome, Summary, github, json, junit, tap};

mod outcome;
mod progress;
mod select;
mod suite;

/// Exit status of an interrupted run (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The wall limit of one scenario when `--scenario-timeout` is not given.
pub const DEFAULT_SCENARIO_TIMEOUT: Duration = Duration::from_secs(300);

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
    /// The human report plus GitHub Actions annotations at each failing step's line.
    Github,
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
    /// How many scenarios run at once (default: the number of cores; 1 with
    /// --target-addr). Output stays in input order.
    #[arg(short = 'j', long, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Run only scenarios with this tag (repeatable: any of them).
    #[arg(long = "tag", value_name = "T")]
    pub tags: Vec<String>,
    /// Leave out scenarios with this tag (repeatable).
    #[arg(long = "skip-tag", value_name = "T")]
    pub skip_tags: Vec<String>,
    /// Run only scenarios whose name or path matches this regular expression.
    #[arg(long, value_name = "REGEX", value_parser = parse_regex)]
    pub filter: Option<regex::Regex>,
    /// Print what would run (file, name, tags) without running it.
    #[arg(long)]
    pub list: bool,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Also write the JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    /// Also write the JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub report_junit: Option<PathBuf>,
    /// Default wait of every waiting step, replacing each file's `timeout` (e.g. `5s`).
    #[arg(long, value_name = "D", value_parser = super::parse_duration)]
    pub timeout: Option<Duration>,
    /// Wall limit of one scenario, `sleep` and `silence` included (default 5m).
    #[arg(long, value_name = "D", value_parser = super::parse_duration)]
    pub scenario_timeout: Option<Duration>,
    /// Wall limit of the whole run: scenarios still running then fail, and those not
    /// started are not run.
    #[arg(long, value_name = "D", value_parser = super::parse_duration)]
    pub deadline: Option<Duration>,
    /// Seed of the impairing link, replacing each file's `seed`.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Run a failed scenario again, up to N more times; one that passes on a retry is
    /// reported as flaky.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,
    /// With --retries: give each attempt its own link seed (the seed plus the attempt's
    /// number less one) instead of the same one.
    #[arg(long, requires = "retries")]
    pub reseed_retries: bool,
    /// Compare each transcript with the one stored in DIR (insta `.snap` files).
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<PathBuf>,
    /// With --snapshots: store this run's transcripts (NETDRILL_UPDATE_SNAPSHOTS=always).
    #[arg(long, requires = "snapshots")]
    pub update_snapshots: bool,
    /// Print whole transcripts.
    #[arg(short, long)]
    pub verbose: bool,
}

fn parse_regex(s: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(s).map_err(|e| format!("`{s}` is not a regular expression: {e}"))
}

/// Runs `run`.
pub fn main(args: RunArgs) -> ExitCode {
    let snapshot_mode = match UpdateMode::resolve(args.update_snapshots) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let paths = paths_or_default(&args.paths);
    let Some(files) = super::discover(&paths) else {
        return ExitCode::from(EXIT_INVALID);
    };
    let total = files.len();
    crate::scenario::leave_large_parse_trees_to_exit();
    let items = select::load(files, &args);
    if items.is_empty() {
        eprintln!(
            "error: no scenario matches the selection ({} in {})",
            crate::diagnostic::plural(total, "file"),
            show_paths(&paths)
        );
        return ExitCode::from(EXIT_INVALID);
    }
    if args.list {
        return select::list(&items);
    }
    // By default one scenario per core; against one program already running
    // (--target-addr) one at a time, since it may serve one client at a time or keep
    // state between clients.
    let jobs = match (args.jobs, &args.target_addr) {
        (Some(j), _) => usize::from(j),
        (None, Some(_)) => 1,
        (None, None) => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let Some((runtime, pool)) = super::runtimes(jobs) else {
        return ExitCode::from(EXIT_INVALID);
    };
    let plan = suite::Plan {
        args: &args,
        jobs,
        snapshot_mode,
    };
    let ran = runtime.block_on(suite::run_all(&plan, items, &pool));
    let code = report(&args, &ran.outcomes, ran.interrupted);
    // Runs still going (after Ctrl-C) are not waited for: their processes were killed,
    // and the rest ends with this process.
    runtime.shutdown_timeout(Duration::from_millis(100));
    crate::interp::process::cleanup_at_exit();
    // The process ends now: freeing every transcript entry and step one by one first
    // (20,000 of each for a long scenario) would only delay the exit.
    std::mem::forget(ran);
    ExitCode::from(code)
}

/// Writes the report files and stdout's report; the exit status.
fn report(args: &RunArgs, outcomes: &[ScenarioOutcome], interrupted: bool) -> u8 {
    let summary = Summary::of(outcomes);
    let mut code = if interrupted {
        EXIT_INTERRUPTED
    } else if summary.error > 0 {
        EXIT_INVALID
    } else if summary.failed > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    };
    let json_text = || serde_json::to_string_pretty(&json::report(outcomes)).unwrap_or_default();
    for (path, text) in [
        (
            &args.report_json,
            args.report_json.as_ref().map(|_| json_text() + "\n"),
        ),
        (
            &args.report_junit,
            args.report_junit.as_ref().map(|_| junit::report(outcomes)),
        ),
    ] {
        if let (Some(path), Some(text)) = (path, text)
            && let Err(e) = write_report(path, &text)
        {
            eprintln!("error: could not write {}: {e}", path.display());
            if code == EXIT_OK || code == EXIT_FAILED {
                code = EXIT_INVALID;
            }
        }
    }
    let mut stdout = std::io::stdout().lock();
    let _ = match args.format {
        Format::Human | Format::Github => writeln!(stdout, "{}", human::summary(summary)),
        Format::Json => writeln!(stdout, "{}", json_text()),
        Format::Junit => write!(stdout, "{}", junit::report(outcomes)),
        Format::Tap => write!(stdout, "{}", tap::report(outcomes)),
    };
    if args.format == Format::Github {
        // The annotations come after the human report, all together, so a reader of
        // the log sees the report uninterrupted.
        for o in outcomes {
            let _ = write!(stdout, "{}", github::annotations(o));
        }
    }
    let _ = stdout.flush();
    code
}

fn write_report(path: &Path, text: &str) -> std::io::Result<()> {
    crate::report::write_atomically(path, text)
}

fn show_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
