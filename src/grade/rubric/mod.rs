/*!
Reading a rubric file: read, parse, validate, and load every scenario it names; every
problem reported together.

[`load_rubric`] reads a rubric (at most [`MAX_FILE_SIZE`] bytes, UTF-8, not empty) the way
[`crate::scenario::load_file`] reads a scenario: the TOML is parsed into the spanned tree,
and the validator walks it once, collecting EVERY problem (an unknown key, a value of the
wrong type, a bad duration or size, a missing `scenario` or `points`, two tests with one
name…) at its exact place. Syntax errors come first: when the TOML does not parse, only
its syntax errors are reported.

Every `[[test]]`'s scenario is loaded at the same time, relative to the rubric's
directory. A scenario that does not exist is a problem of the rubric, at its `scenario`
value; a scenario that exists but is invalid is reported there too, followed by the
scenario's own [`LoadError`] with all of its problems. So one [`RubricError`] shows
everything to fix in the rubric and in its scenarios, and `netdrill grade` runs nothing
until all of it loads.

[`LoadError`]: crate::diagnostic::LoadError
*/

use std::path::Path;
use std::time::Duration;

use super::model::Rubric;
use crate::diagnostic::{MAX_FILE_SIZE, read_text_file, text_from_bytes};
use crate::scenario::raw;
use crate::scenario::validate::syntax_problems;

mod error;
mod keys;
mod tables;
mod test;
mod validator;
mod values;

pub use error::{RubricError, RubricProblem};
pub use values::parse_size;

use validator::Validator;

/// Every top-level key of a rubric.
pub const TOP_KEYS: &[&str] = &["title", "timeout", "target", "limits", "test"];
/// Every key of `[target]` (and of a test's `[test.target]`).
pub const TARGET_KEYS: &[&str] = &["command", "build", "protocol", "port", "role"];
/// Every key of `[limits]`.
pub const LIMIT_KEYS: &[&str] = &["cpu", "memory", "processes", "file_size", "output"];
/// Every key of a `[[test]]`.
pub const TEST_KEYS: &[&str] = &[
    "name",
    "scenario",
    "points",
    "visibility",
    "feedback",
    "tags",
    "timeout",
    "target",
];
/// Every `visibility` (Gradescope's words).
pub const VISIBILITIES: &[&str] = &["visible", "hidden", "after_due_date", "after_published"];

/// The longest duration a rubric may ask for (`timeout`, `cpu`).
pub const MAX_RUBRIC_DURATION: Duration = Duration::from_secs(24 * 3600);
/// The most `processes` a rubric may allow.
pub const MAX_PROCESSES: i64 = 100_000;

/// Reads and validates the rubric file at `path`, and loads every scenario it names
/// (relative to the rubric's directory).
pub fn load_rubric(path: &Path) -> Result<Rubric, RubricError> {
    let text = read_text_file(path).map_err(|t| RubricError::from_trouble(path, t))?;
    load_rubric_str(&text, path)
}

/// Validates the bytes of the rubric file `path` (checks size and UTF-8 first).
pub fn load_rubric_bytes(bytes: Vec<u8>, path: &Path) -> Result<Rubric, RubricError> {
    let text = text_from_bytes(bytes).map_err(|t| RubricError::from_trouble(path, t))?;
    load_rubric_str(&text, path)
}

/// Validates `source` as the rubric file `path`; its scenarios are read from disk,
/// relative to `path`'s directory.
pub fn load_rubric_str(source: &str, path: &Path) -> Result<Rubric, RubricError> {
    if source.len() as u64 > MAX_FILE_SIZE {
        return Err(RubricError::TooLarge {
            path: path.to_path_buf(),
            size: source.len() as u64,
        });
    }
    if source.trim().is_empty() {
        return Err(RubricError::Empty {
            path: path.to_path_buf(),
        });
    }
    let (root, errors) = raw::parse(source);
    if !errors.is_empty() {
        let problems = syntax_problems(source, &errors)
            .into_iter()
            .map(RubricProblem::Rubric)
            .collect();
        return Err(RubricError::invalid(path.to_path_buf(), source, problems));
    }
    Validator::new(source, path)
        .rubric(root.get_ref())
        .map_err(|problems| RubricError::invalid(path.to_path_buf(), source, problems))
}

#[cfg(test)]
mod tests;
