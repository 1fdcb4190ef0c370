/*!
The `netdrill` command line: `run`, `check`, `serve`, `schema`, `init`, `grade`.

Exit status: 0 all passed; 1 a scenario failed; 2 invalid input.
*/

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod check;
pub mod color;
pub mod explore;
pub mod grade;
pub mod init;
pub mod run;
pub mod schema;
pub mod serve;
pub mod snapshots;

/// Exit status: everything passed.
pub const EXIT_OK: u8 = 0;
/// Exit status: a scenario failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit status: invalid input (scenario, rubric or flag).
pub const EXIT_INVALID: u8 = 2;

/// netdrill: run scripted network exercises against real programs.
#[derive(Debug, Parser)]
#[command(name = "netdrill", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// When to colour the output: auto (a terminal, unless NO_COLOR is set), always,
    /// never.
    #[arg(long, value_enum, global = true, default_value_t = color::ColorChoice::Auto)]
    pub color: color::ColorChoice,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenario files or directories (default `scenarios/`).
    Run(run::RunArgs),
    /// Validate scenario files only.
    Check(check::CheckArgs),
    /// Run a built-in reference server in the foreground.
    Serve(serve::ServeArgs),
    /// Explore a scenario: generate cases, run them against the target, shrink a failure.
    Explore(explore::ExploreArgs),
    /// Print the JSON Schema of the scenario format.
    Schema,
    /// Review, accept or reject the pending transcripts of `run --snapshots`.
    Snapshots(snapshots::SnapshotsArgs),
    /// Write a starter suite: three example scenarios, editor schema wiring and a CI workflow.
    Init(init::InitArgs),
    /// Grade submissions by a rubric (`grade merge` joins shards).
    Grade(grade::GradeArgs),
    /// One submission's grading worker (started by `grade`).
    #[command(hide = true)]
    GradeWorker(grade::WorkerArgs),
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    tune_allocator();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_INVALID
            } else {
                EXIT_OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    color::set(cli.color);
    match cli.command {
        Command::Run(args) => run::main(args),
        Command::Check(args) => check::main(args),
        Command::Serve(args) => serve::main(args),
        Command::Schema => schema::main(),
        Command::Explore(args) => explore::main(args),
        Command::Snapshots(args) => snapshots::main(args),
        Command::Init(args) => init::main(args),
        Command::Grade(args) => grade::main(args),
        Command::GradeWorker(args) => grade::worker_main(args),
    }
}

/// The paths to work on: those given, or `scenarios/`.
pub fn paths_or_default(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths.to_vec()
    }
}

/// The scenario files under `paths` (see [`crate::scenario::collect`]), with a warning
/// on stderr for each entry skipped because it is not a regular file. `None`, after an
/// error on stderr, when a path cannot be read or holds no scenario file: `check` and
/// `run` agree that an empty suite is a mistake (exit 2), not a pass.
pub fn discover(paths: &[PathBuf]) -> Option<Vec<PathBuf>> {
    let found = match crate::scenario::collect(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return None;
        }
    };
    for (path, what) in &found.skipped {
        eprintln!("warning: skipped {}: it is {what}", path.display());
    }
    let largest = found
        .files
        .iter()
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .max();
    if largest.is_some_and(|len| len >= crate::scenario::LARGE_FILE as u64) {
        huge_pages_for_loading();
    }
    if found.files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        eprintln!("error: no scenario files (*.toml) in {}", shown.join(", "));
        return None;
    }
    Some(found.files)
}

/// The longest duration a flag takes (a deadline computed from a longer one would
/// overflow the clock).
const MAX_DURATION_FLAG: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// The main thread's runtime (loading files, printing results) and a pool of
/// single-threaded runtimes for `jobs` runs at once (see `interp::pool`); `None` after
/// an error on stderr.
pub fn runtimes(jobs: usize) -> Option<(tokio::runtime::Runtime, crate::interp::pool::RunPool)> {
    use crate::interp::pool::RunPool;
    let started = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|rt| Ok((rt, RunPool::new(RunPool::threads_for(jobs))?)));
    match started {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("error: could not start the runtime: {e}");
            None
        }
    }
}

/// A duration flag (`500ms`, `2s`, `30m`): humantime's syntax, longer than 0, at most a
/// year.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); write e.g. 500ms, 2s or 30m"))?;
    if d.is_zero() {
        return Err("the duration must be longer than 0".into());
    }
    if d > MAX_DURATION_FLAG {
        return Err("the duration must be at most a year".into());
    }
    Ok(d)
}

/// netdrill builds large short-lived structures (a 20,000-step file is a 30 MB parse
/// tree for 60 ms) and then grows and shrinks receive buffers step after step. glibc's
/// defaults hand blocks of 128 KiB and more to mmap and give freed memory back at once,
/// so every such block is faulted in page by page again: a fifth of loading a large
/// file. Keep them in the heap, and keep some freed memory for the next use.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before any thread
    // is started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TOP_PAD, 16 << 20);
    }
}

/// Loading a large file builds a parse tree of about 30 times its size (a 1 MB file of
/// 20,000 steps: 27 MB) that lives for milliseconds; faulting it in 4 KiB page by page
/// was a third of loading it. Ask for transparent huge pages on the part of the heap
/// that tree will use (with the kernel's default THP mode, `madvise`, nothing else
/// gets them): `netdrill check` of that file went from 41 to 27 ms of CPU, its page
/// faults from 6,672 to 532. A small file does not pay the first 2 MiB page.
fn huge_pages_for_loading() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: the block is allocated, advised and freed here and never used: the
    // advice stays on the heap pages glibc hands out next (it keeps them: see
    // `tune_allocator`'s thresholds).
    unsafe {
        let len: usize = 30 << 20;
        let p = libc::malloc(len) as usize;
        if p != 0 {
            let huge = 2 << 20;
            let start = (p + huge - 1) & !(huge - 1);
            let end = (p + len) & !(huge - 1);
            if end > start {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
            libc::free(p as *mut libc::c_void);
        }
    }
}
