/*! `netdrill run [PATH…]`: run scenarios and report. */

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Scenario files or directories (default `scenarios/`).
    pub paths: Vec<PathBuf>,
}

/// Runs `run`.
pub fn main(args: RunArgs) -> ExitCode {
    let _ = args;
    todo!("run")
}
