/*!
What goes wrong loading a rubric: [`RubricError`] for the file, and one
[`RubricProblem`] per problem in its text or in a scenario it names.
*/

use std::fmt;
use std::path::{Path, PathBuf};

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};

use crate::diagnostic::{FileTrouble, LoadError, MAX_FILE_SIZE, MAX_PROBLEMS, Problem, plural};

/// Why a rubric file could not be loaded.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum RubricError {
    /// The file was read but is not a valid rubric, or names scenarios that are not
    /// valid: every problem found in it and in them.
    #[error("{} is not a valid rubric ({})", path.display(), summary(problems))]
    Invalid {
        /// The rubric file, as given.
        path: PathBuf,
        /// Its text, named by the path, for the snippets.
        #[source_code]
        src: NamedSource<String>,
        /// Every problem, sorted by position in the rubric; an invalid scenario comes
        /// with its own error (and all of its problems).
        #[related]
        problems: Vec<RubricProblem>,
    },
    /// The file could not be read (missing, a directory, no permission…).
    #[error("cannot read {}: {source}", path.display())]
    #[diagnostic(help("check the path; `netdrill grade` takes the rubric file first"))]
    Io {
        /// The file, as given.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8 text.
    #[error(
        "{} is not UTF-8 text: byte {offset} (line {line}) is 0x{byte:02x}",
        path.display()
    )]
    #[diagnostic(help("save the rubric as UTF-8"))]
    NotUtf8 {
        /// The file, as given.
        path: PathBuf,
        /// Byte offset of the first byte that is not valid UTF-8.
        offset: usize,
        /// Its 1-based line.
        line: usize,
        /// The byte itself.
        byte: u8,
    },
    /// The file is empty (or only whitespace).
    #[error("{} is empty", path.display())]
    #[diagnostic(help(
        "a rubric needs at least `[target]` with a `command` and one `[[test]]` with a `scenario` and `points`"
    ))]
    Empty {
        /// The file, as given.
        path: PathBuf,
    },
    /// The file is larger than [`MAX_FILE_SIZE`].
    #[error(
        "{} is too large: {size} bytes, the limit is {} bytes (4 MiB)",
        path.display(),
        MAX_FILE_SIZE
    )]
    #[diagnostic(help("a rubric lists scenario files and points; is this the right file?"))]
    TooLarge {
        /// The file, as given.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },
}

impl RubricError {
    /// The error of a rubric file that could not be read as text.
    pub fn from_trouble(path: &Path, trouble: FileTrouble) -> RubricError {
        let path = path.to_path_buf();
        match trouble {
            FileTrouble::Io(source) => RubricError::Io { path, source },
            FileTrouble::TooLarge(size) => RubricError::TooLarge { path, size },
            FileTrouble::NotUtf8 { offset, line, byte } => RubricError::NotUtf8 {
                path,
                offset,
                line,
                byte,
            },
        }
    }

    /// The rubric file this error is about, as given to the loader.
    pub fn path(&self) -> &Path {
        match self {
            RubricError::Invalid { path, .. }
            | RubricError::Io { path, .. }
            | RubricError::NotUtf8 { path, .. }
            | RubricError::Empty { path }
            | RubricError::TooLarge { path, .. } => path,
        }
    }

    /// The problems found in the rubric's text and scenarios (empty for a file-level
    /// error).
    pub fn problems(&self) -> &[RubricProblem] {
        match self {
            RubricError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }

    /// How many problems this error reports, counting those of invalid scenarios
    /// (1 for a file-level error).
    pub fn problem_count(&self) -> usize {
        match self {
            RubricError::Invalid { problems, .. } => {
                problems.iter().map(RubricProblem::problem_count).sum()
            }
            _ => 1,
        }
    }

    /// An invalid-rubric error: sorts the problems by position, drops duplicates and
    /// keeps at most [`MAX_PROBLEMS`] (then one "… and N more").
    pub fn invalid(path: PathBuf, source: &str, mut problems: Vec<RubricProblem>) -> RubricError {
        problems.sort_by_key(|p| {
            let s = p.span();
            (
                s.offset(),
                s.len(),
                matches!(p, RubricProblem::Scenario { .. }),
            )
        });
        problems.dedup_by(|a, b| match (a, b) {
            (RubricProblem::Rubric(a), RubricProblem::Rubric(b)) => {
                a.span == b.span && a.message == b.message
            }
            _ => false,
        });
        if problems.len() > MAX_PROBLEMS {
            let rest = problems.len() - MAX_PROBLEMS;
            let at = problems[MAX_PROBLEMS].span();
            problems.truncate(MAX_PROBLEMS);
            problems.push(RubricProblem::Rubric(
                Problem::new(
                    at,
                    format!("… and {}, not shown", plural(rest, "more problem")),
                    "and more from here",
                )
                .help("fix the problems above and check again"),
            ));
        }
        RubricError::Invalid {
            src: NamedSource::new(
                path.display().to_string(),
                crate::diagnostic::shown_source(source),
            ),
            path,
            problems,
        }
    }
}

/// "2 problems", or "1 problem in the rubric, 3 in its scenarios".
fn summary(problems: &[RubricProblem]) -> String {
    let own = problems
        .iter()
        .filter(|p| matches!(p, RubricProblem::Rubric(_)))
        .count();
    let theirs: usize = problems
        .iter()
        .filter_map(|p| match p {
            RubricProblem::Scenario { error, .. } => Some(error.problem_count()),
            RubricProblem::Rubric(_) => None,
        })
        .sum();
    match (own, theirs) {
        (_, 0) => plural(own, "problem"),
        (0, _) => format!("{} in its scenarios", plural(theirs, "problem")),
        _ => format!(
            "{} in the rubric, {theirs} in its scenarios",
            plural(own, "problem")
        ),
    }
}

/// One entry of [`RubricError::Invalid`]: a problem in the rubric's text, or a scenario
/// it names that does not load.
#[derive(Debug)]
pub enum RubricProblem {
    /// Something wrong in the rubric itself, at one place.
    Rubric(Problem),
    /// A test's scenario exists but is not a valid scenario file.
    Scenario {
        /// The test's 1-based number.
        test: usize,
        /// `scenario` as written in the rubric.
        written: String,
        /// The `scenario` value in the rubric.
        span: SourceSpan,
        /// The scenario's own error, with all of its problems.
        error: Box<LoadError>,
    },
}

impl RubricProblem {
    /// Where in the rubric this problem is.
    pub fn span(&self) -> SourceSpan {
        match self {
            RubricProblem::Rubric(p) => p.span,
            RubricProblem::Scenario { span, .. } => *span,
        }
    }

    /// How many problems this entry stands for: 1, or the scenario's problems.
    pub fn problem_count(&self) -> usize {
        match self {
            RubricProblem::Rubric(_) => 1,
            RubricProblem::Scenario { error, .. } => error.problem_count(),
        }
    }
}

impl fmt::Display for RubricProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RubricProblem::Rubric(p) => fmt::Display::fmt(p, f),
            RubricProblem::Scenario {
                test,
                written,
                error,
                ..
            } => write!(
                f,
                "the scenario of test {test}, `{written}`, is not valid ({})",
                plural(error.problem_count(), "problem")
            ),
        }
    }
}

impl std::error::Error for RubricProblem {}

impl Diagnostic for RubricProblem {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self {
            RubricProblem::Rubric(p) => p.help(),
            RubricProblem::Scenario { .. } => Some(Box::new(
                "fix the scenario (its problems follow): every scenario must load before grading starts",
            )),
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        match self {
            RubricProblem::Rubric(p) => p.labels(),
            RubricProblem::Scenario { span, .. } => Some(Box::new(std::iter::once(
                LabeledSpan::new_with_span(Some("invalid scenario".to_string()), *span),
            ))),
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        match self {
            RubricProblem::Rubric(_) => None,
            RubricProblem::Scenario { error, .. } => {
                Some(Box::new(std::iter::once(error.as_ref() as &dyn Diagnostic)))
            }
        }
    }
}
