/*! `netdrill check [PATH…]`: validate scenario files; exit 0 or 2. */

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Scenario files or directories (default `scenarios/`).
    pub paths: Vec<PathBuf>,
}

/// Runs `check`.
pub fn main(args: CheckArgs) -> ExitCode {
    let _ = args;
    todo!("check")
}
