/*!
`netdrill explore PATH… [--cases N] [--seed S] [--time D] [--save DIR]`: property-based
and differential runs of scenarios against a live program, with shrinking (see
[`crate::explore`]).

Exit status: 0 when no failing case was found within the budget, 1 when one was, 2 for
invalid input (a file, a flag, a scenario without `[explore]`, or a case the reference
itself fails).
*/

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::{EXIT_FAILED, EXIT_INVALID, EXIT_OK};
use crate::explore::{self, Options, Report};
use crate::interp::engine::{RunOptions, TargetOverride};
use crate::scenario::load_file;

/// Output formats of `explore`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExploreFormat {
    /// What was explored and found, in words.
    Human,
    /// The same as JSON.
    Json,
}

/// Arguments of `explore`.
#[derive(Debug, clap::Args)]
pub struct ExploreArgs {
    /// Scenario files with an `[explore]` table, or directories of them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// How many cases to try at most.
    #[arg(long, default_value_t = 200)]
    pub cases: u32,
    /// How many cases run at once (each against its own start of the target); shrinking
    /// runs one candidate at a time.
    #[arg(short = 'j', long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
    /// The seed of the exploration: the same seed draws the same cases.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The time budget of each exploration, generation and shrinking (e.g. `2m`).
    #[arg(long, value_name = "D", value_parser = super::parse_duration)]
    pub time: Option<Duration>,
    /// Where the minimal failing case is saved (`<path with / as __>.min.toml`).
    #[arg(long, value_name = "DIR", default_value = "explored")]
    pub save: PathBuf,
    /// Run this command as the target instead of `[target]` (`{{port}}` is its port).
    #[arg(long, value_name = "CMD", conflicts_with = "target_addr")]
    pub target_cmd: Option<String>,
    /// Use the program already running at HOST:PORT as the target.
    #[arg(long, value_name = "HOST:PORT")]
    pub target_addr: Option<String>,
    /// Differential mode: the reference, `builtin:NAME`.
    #[arg(long, value_name = "builtin:NAME", conflicts_with = "reference_cmd")]
    pub reference: Option<String>,
    /// Differential mode: the reference, a command (`{{port}}` is its port).
    #[arg(long, value_name = "CMD")]
    pub reference_cmd: Option<String>,
    /// Default wait of every waiting step, replacing each file's `timeout`.
    #[arg(long, value_name = "D", value_parser = super::parse_duration)]
    pub timeout: Option<Duration>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExploreFormat::Human)]
    pub format: ExploreFormat,
}

/// Runs `explore`.
pub fn main(args: ExploreArgs) -> ExitCode {
    let Some(reference) = reference(&args) else {
        return ExitCode::from(EXIT_INVALID);
    };
    let Some(files) = super::discover(&args.paths) else {
        return ExitCode::from(EXIT_INVALID);
    };
    let Some((runtime, pool)) = super::runtimes(args.jobs as usize) else {
        return ExitCode::from(EXIT_INVALID);
    };
    let opts = Options {
        cases: args.cases,
        jobs: args.jobs,
        seed: args.seed,
        time: args.time,
        save: args.save.clone(),
        run: RunOptions {
            target: match (&args.target_cmd, &args.target_addr) {
                (Some(c), _) => Some(TargetOverride::Command(c.clone())),
                (None, Some(a)) => Some(TargetOverride::Address(a.clone())),
                (None, None) => None,
            },
            timeout: args.timeout,
            ..RunOptions::default()
        },
        reference,
    };
    let mut code = EXIT_OK;
    let mut reports = Vec::new();
    for file in &files {
        let sc = match load_file(file) {
            Ok(sc) => sc,
            Err(e) => {
                eprint!("{}", crate::diagnostic::render(&e, super::color::stderr()));
                code = EXIT_INVALID;
                continue;
            }
        };
        let terminal = std::io::stderr().is_terminal();
        let result = runtime.block_on(explore::explore(file, &sc, &opts, &pool, |line| {
            if terminal {
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r\x1b[2Kexplore {}: {}",
                    file.display(),
                    cut(line, 100)
                );
                let _ = err.flush();
            }
        }));
        if terminal {
            eprint!("\r\x1b[2K");
        }
        match result {
            Ok(report) => {
                if report.shrunk.is_some() && code == EXIT_OK {
                    code = EXIT_FAILED;
                }
                if args.format == ExploreFormat::Human {
                    print!("{}", human(&report));
                }
                reports.push(report);
            }
            Err(e) => {
                eprintln!("error: {}: {}", file.display(), e.0);
                code = EXIT_INVALID;
            }
        }
    }
    if args.format == ExploreFormat::Json {
        let v = serde_json::json!({ "explorations": reports });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    runtime.shutdown_timeout(Duration::from_millis(100));
    crate::interp::process::cleanup_at_exit();
    ExitCode::from(code)
}

/// The reference of differential mode (`Some(None)`: property mode); `None` after an
/// error on stderr.
fn reference(args: &ExploreArgs) -> Option<Option<TargetOverride>> {
    Some(match (&args.reference, &args.reference_cmd) {
        (Some(r), _) => match r.strip_prefix("builtin:") {
            Some(name) if !name.is_empty() => Some(TargetOverride::Builtin(name.to_string())),
            _ => {
                eprintln!(
                    "error: --reference takes `builtin:NAME` (see `netdrill serve --list`); for a program, use --reference-cmd"
                );
                return None;
            }
        },
        (None, Some(c)) => Some(TargetOverride::Command(c.clone())),
        (None, None) => None,
    })
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// The human report of one exploration.
pub fn human(r: &Report) -> String {
    let mut out = format!("explore {} ({}, seed {})\n", r.scenario, r.mode, r.seed);
    let Some(first) = &r.first else {
        out.push_str(&format!(
            "  no failing case in {} cases{}\n",
            r.cases_run,
            if r.out_of_time {
                " (the time budget ran out)"
            } else {
                ""
            }
        ));
        return out;
    };
    out.push_str(&format!("  cases run:     {}\n", r.cases_run));
    out.push_str(&format!(
        "  first failure: case {}: {}\n",
        first.number, first.summary
    ));
    out.push_str(&format!("                 {}\n", first.failure));
    if let Some(s) = &r.shrunk {
        out.push_str(&format!(
            "  shrunk to:     {} ({} shrink steps of {} runs{})\n",
            s.summary,
            r.shrink_steps,
            r.shrink_runs,
            if r.out_of_time {
                ", stopped by --time"
            } else {
                ""
            }
        ));
        out.push_str(&format!("                 {}\n", s.failure));
    }
    match r.confirmed {
        Some(true) => out.push_str("  confirmed:     it fails again when run once more\n"),
        Some(false) => out.push_str(
            "  confirmed:     NO: it passed when run once more, so the target is flaky (nondeterministic)\n",
        ),
        None => out.push_str("  confirmed:     not run again: the time budget ran out\n"),
    }
    out.push_str(&format!(
        "  seed:          {} (netdrill explore {} --seed {})\n",
        r.seed, r.scenario, r.seed
    ));
    if let Some(p) = &r.saved {
        out.push_str(&format!(
            "  saved:         {} (netdrill run {})\n",
            p.display(),
            p.display()
        ));
    }
    out
}
