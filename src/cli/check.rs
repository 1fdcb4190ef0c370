/*!
`netdrill check [PATH…]`: validate scenario files; exit 0 or 2.

Prints one summary line on stdout when every file is valid; otherwise every diagnostic
on stderr (fancy, with colour, when stderr is a terminal; plain otherwise) and then the
summary. A path that does not exist is exit 2 with a message naming it.
*/

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{EXIT_INVALID, EXIT_OK, paths_or_default};
use crate::diagnostic::{plural, render_plain};
use crate::scenario::{collect_files, load_file};

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Scenario files or directories (default `scenarios/`).
    pub paths: Vec<PathBuf>,
}

/// Runs `check`.
pub fn main(args: CheckArgs) -> ExitCode {
    let paths = paths_or_default(&args.paths);
    let files = match collect_files(&paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("netdrill check: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let fancy = std::io::stderr().is_terminal();
    let mut invalid = 0;
    let mut problems = 0;
    for file in &files {
        if let Err(err) = load_file(file) {
            invalid += 1;
            problems += err.problem_count();
            if fancy {
                eprintln!("{:?}", miette::Report::new(err));
            } else {
                eprint!("{}", render_plain(&err));
                eprintln!();
            }
        }
    }
    let checked = format!("checked {}", plural(files.len(), "scenario file"));
    if invalid == 0 {
        println!("{checked}: all valid");
        ExitCode::from(EXIT_OK)
    } else {
        eprintln!(
            "{checked}: {} invalid ({})",
            invalid,
            plural(problems, "problem")
        );
        ExitCode::from(EXIT_INVALID)
    }
}
