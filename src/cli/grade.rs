/*!
`netdrill grade RUBRIC SUBMISSION_DIR… --out DIR`: grade a class; `netdrill grade merge`
joins the outputs of shards; `--gradescope` grades the one submission of a Gradescope
container.

The grading itself is [`crate::grade::grader`]: a worker process per submission, results
written as each submission ends.

Exit status: 0 every submission was graded (whatever its score); 1 grading was cut
short (interrupted, time limit, internal error); 2 invalid rubric, scenario or flag.
*/

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::{EXIT_FAILED, EXIT_INVALID, EXIT_OK};
use crate::grade::grader::{Dest, GradeOptions, Plan, grade_all};
use crate::grade::isolate::{self, Isolation};
use crate::grade::output::{self, ResultsFormat};
use crate::grade::rubric::load_rubric;

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
    /// Where to write results (`DIR/<submission>/results.json`, `DIR/summary.csv`, …).
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
    #[arg(long, value_name = "D", value_parser = super::parse_duration)]
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
    let plan = match plan(&args, rubric_path) {
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
    let options = GradeOptions {
        jobs: args.jobs.map(usize::from),
        deadline: args.deadline,
        format: args.results_format,
    };
    let code = runtime.block_on(grade_all(&options, &rubric, plan, isolation));
    runtime.shutdown_timeout(Duration::from_secs(1));
    crate::interp::process::cleanup_at_exit();
    ExitCode::from(code)
}

fn color_stderr() -> bool {
    super::color::stderr()
}

/// The plan of a `grade` command line.
fn plan(args: &GradeArgs, rubric_path: PathBuf) -> Result<Plan, String> {
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
        if !dir.exists() {
            return Err(format!("{} does not exist", dir.display()));
        }
        if !dir.is_dir() {
            // A stray file among `submissions/*` (notes.txt) must not stop a class.
            eprintln!(
                "warning: {} is not a directory, so not a submission: skipped",
                dir.display()
            );
            continue;
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
    if by_name.is_empty() {
        return Err("none of the paths given is a submission directory".into());
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

fn merge_main(args: &MergeArgs) -> ExitCode {
    match output::merge(&args.shards, &args.out) {
        Ok(summary) => {
            print!("{}", summary.table());
            println!(
                "merged {}: {} submissions into {}",
                crate::diagnostic::plural(args.shards.len(), "shard"),
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
