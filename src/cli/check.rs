/*!
`netdrill check [PATH…]`: validate scenario and rubric files; exit 0 or 2.

A file is read as a rubric when it has `[[test]]` tables and no `steps` (see
[`is_rubric`]); a rubric's check includes every scenario it names.

Prints one summary line on stdout when every file is valid; otherwise every diagnostic
on stderr (fancy, with colour, when stderr is a terminal; plain otherwise) and then the
summary. A path that does not exist is exit 2 with a message naming it.
*/

use std::path::PathBuf;
use std::process::ExitCode;

use super::{EXIT_INVALID, EXIT_OK, paths_or_default};
use crate::diagnostic::{plural, render};
use crate::grade::rubric::load_rubric;
use crate::scenario::load_file;

/// True when `file` looks like a rubric: a `[[test]]` table and no `steps` key, found
/// by a look at its lines (a full parse here would read every scenario twice).
pub fn is_rubric(file: &std::path::Path) -> bool {
    let Ok(text) = std::fs::read_to_string(file) else {
        return false;
    };
    let mut tests = false;
    for line in text.lines().map(str::trim_start) {
        if line.starts_with("steps") && line[5..].trim_start().starts_with('=') {
            return false;
        }
        tests |= line.starts_with("[[test]]");
    }
    tests
}

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Scenario or rubric files, or directories (default `scenarios/`).
    pub paths: Vec<PathBuf>,
}

/// Runs `check`.
pub fn main(args: CheckArgs) -> ExitCode {
    let paths = paths_or_default(&args.paths);
    let files = match super::discover(&paths) {
        Some(f) => f,
        None => return ExitCode::from(EXIT_INVALID),
    };
    crate::scenario::leave_large_parse_trees_to_exit();
    let color = super::color::stderr();
    let mut invalid = 0;
    let mut problems = 0;
    let mut rubrics = 0;
    for file in &files {
        let (count, report): (usize, Box<dyn miette::Diagnostic + Send + Sync>) = if is_rubric(file)
        {
            rubrics += 1;
            match load_rubric(file) {
                Ok(_) => continue,
                Err(err) => (err.problem_count(), Box::new(err)),
            }
        } else {
            match load_file(file) {
                Ok(_) => continue,
                Err(err) => (err.problem_count(), Box::new(err)),
            }
        };
        invalid += 1;
        problems += count;
        eprint!("{}", render(report.as_ref(), color));
        eprintln!();
    }
    let scenarios = files.len() - rubrics;
    let checked = match rubrics {
        0 => format!("checked {}", plural(scenarios, "scenario file")),
        _ => format!(
            "checked {} and {}",
            plural(scenarios, "scenario file"),
            plural(rubrics, "rubric")
        ),
    };
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
