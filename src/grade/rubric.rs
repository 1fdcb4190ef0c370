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
*/

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};

use super::model::{
    DEFAULT_SUBMISSION_TIMEOUT, DEFAULT_TEST_TIMEOUT, Limits, Rubric, RubricTarget, RubricTest,
    Visibility,
};
use crate::diagnostic::{
    FileTrouble, LoadError, MAX_FILE_SIZE, MAX_PROBLEMS, Problem, plural, read_text_file,
    text_from_bytes,
};
use crate::scenario::model::{Protocol, Role};
use crate::scenario::raw::{self, DeValue, RawTable, RawValue, span};
use crate::scenario::suggest::{closest, did_you_mean, one_of};
use crate::scenario::validate::syntax_problems;
use crate::scenario::{Scenario, values};

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
            src: NamedSource::new(path.display().to_string(), source.to_string()),
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

/// Parses a size: a whole number of bytes, or a whole number and a unit: `KiB`, `MiB`,
/// `GiB`, `TiB` (powers of 1024), `KB`, `MB`, `GB`, `TB` (powers of 1000) or `B`, any
/// case, with or without a space: `"1GiB"`, `"512 MiB"`, `"64KB"`, `"4096"`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = (&t[..split], t[split..].trim_start());
    if digits.is_empty() {
        return Err(if t.is_empty() {
            "it is empty".to_string()
        } else {
            "it does not start with a number".to_string()
        });
    }
    if unit.starts_with(['.', ',']) {
        return Err("the number must be whole (write \"1536MiB\", not \"1.5GiB\")".to_string());
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| "the number is far too large".to_string())?;
    if unit.is_empty() {
        return Ok(n);
    }
    if let Some(&(_, scale)) = SIZE_UNITS
        .iter()
        .find(|(u, _)| u.eq_ignore_ascii_case(unit))
    {
        return n
            .checked_mul(scale)
            .ok_or_else(|| "it is far too large".to_string());
    }
    if matches!(unit, "k" | "K" | "m" | "M" | "g" | "G" | "t" | "T") {
        return Err(format!(
            "`{unit}` is ambiguous: write `{u}iB` (powers of 1024) or `{u}B` (powers of 1000)",
            u = unit.to_ascii_uppercase()
        ));
    }
    let lower: Vec<String> = SIZE_UNITS
        .iter()
        .map(|(u, _)| u.to_ascii_lowercase())
        .collect();
    match closest(unit, lower.iter().map(String::as_str)) {
        Some(l) => {
            let canonical = SIZE_UNITS
                .iter()
                .find(|(u, _)| u.eq_ignore_ascii_case(l))
                .map_or(l, |(u, _)| u);
            Err(format!(
                "`{unit}` is not a unit (did you mean `{canonical}`?)"
            ))
        }
        None => Err(format!("`{unit}` is not a unit")),
    }
}

/// The units of a size, and their bytes.
const SIZE_UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
];

/// Where a key sits, for the help of an unknown key.
#[derive(Clone, Copy)]
enum Place {
    Top,
    Target,
    Limits,
    Test(usize),
    TestTarget(usize),
}

impl Place {
    fn keys(self) -> &'static [&'static str] {
        match self {
            Place::Top => TOP_KEYS,
            Place::Target | Place::TestTarget(_) => TARGET_KEYS,
            Place::Limits => LIMIT_KEYS,
            Place::Test(_) => TEST_KEYS,
        }
    }

    fn name(self) -> String {
        match self {
            Place::Top => "the top level".to_string(),
            Place::Target => "[target]".to_string(),
            Place::Limits => "[limits]".to_string(),
            Place::Test(n) => format!("test {n}"),
            Place::TestTarget(n) => format!("[test.target] of test {n}"),
        }
    }
}

/// Why `key` is not known at `place`, and how to fix it.
fn unknown_key(key: &str, k_span: SourceSpan, place: Place) -> Problem {
    let message = match place {
        Place::Top => format!("unknown top-level key `{key}`"),
        _ => format!("unknown key `{key}` in {}", place.name()),
    };
    let is_test_key = TEST_KEYS.contains(&key) && !matches!(key, "timeout" | "target");
    let elsewhere = match place {
        Place::Top if is_test_key => Some(format!(
            "`{key}` belongs to a test: start each test with a `[[test]]` line, then its `scenario` and `points`"
        )),
        Place::Target | Place::Limits if is_test_key => Some(format!(
            "`{key}` belongs to a test: add a `[[test]]` line above it (TOML puts every key after `{}` into that table)",
            place.name()
        )),
        Place::TestTarget(_) if is_test_key || key == "timeout" => Some(format!(
            "`{key}` belongs to the test itself: move it above `[test.target]`"
        )),
        Place::Target | Place::Limits if TOP_KEYS.contains(&key) => Some(format!(
            "`{key}` is a top-level key: move it above `{}` (TOML puts every key after a `[table]` header into that table)",
            place.name()
        )),
        Place::Top | Place::Limits if TARGET_KEYS.contains(&key) => {
            Some(format!("`{key}` belongs in [target]"))
        }
        Place::Test(_) if TARGET_KEYS.contains(&key) => Some(format!(
            "a test's own `{key}` goes in its `[test.target]` table (below the test's keys)"
        )),
        Place::Top | Place::Target | Place::TestTarget(_) if LIMIT_KEYS.contains(&key) => {
            Some(format!("`{key}` belongs in [limits]"))
        }
        Place::Test(_) if LIMIT_KEYS.contains(&key) => Some(format!(
            "limits apply to every test: move `{key}` into the rubric's [limits]"
        )),
        Place::Test(_) if key == "title" => Some("a test's title is its `name`".to_string()),
        Place::Target | Place::TestTarget(_) if matches!(key, "builtin" | "address") => Some(
            "a rubric's target is each submission's program, started with `command`; it replaces the scenario's target"
                .to_string(),
        ),
        _ => None,
    };
    let help = elsewhere
        .or_else(|| did_you_mean(key, place.keys().iter().copied()))
        .unwrap_or_else(|| format!("{} takes {}", place.name(), one_of(place.keys())));
    let help = match place {
        Place::Top => help.replace("the top level takes", "the top-level keys are"),
        _ => help,
    };
    Problem::new(k_span, message, "unknown key").help(help)
}

fn wrong_type(key: &str, v: &RawValue<'_>, wanted: &str, example: &str) -> Problem {
    Problem::new(
        span(v),
        format!(
            "`{key}` takes {wanted}, not {}",
            raw::type_name(v.get_ref())
        ),
        format!("{} here", raw::type_name(v.get_ref())),
    )
    .help(format!("write it like `{key} = {example}`"))
}

/// A duration string like `"3m"`: not zero, at most [`MAX_RUBRIC_DURATION`].
fn duration(key: &str, v: &RawValue<'_>) -> Result<Duration, Problem> {
    let s = match v.get_ref() {
        DeValue::String(s) => s,
        DeValue::Integer(i) => {
            return Err(Problem::new(
                span(v),
                format!("`{key}` is a duration and needs a unit"),
                "a bare number",
            )
            .help(format!(
                "write it as a string with a unit: `{key} = \"{n}s\"` or `\"{n}m\"`",
                n = i.as_str()
            )));
        }
        DeValue::Float(_) => {
            return Err(Problem::new(
                span(v),
                format!("`{key}` is a duration and needs a unit"),
                "a bare number",
            )
            .help(format!(
                "write it as a string with a unit: `{key} = \"1500ms\"`"
            )));
        }
        _ => return Err(wrong_type(key, v, "a duration", "\"30s\"")),
    };
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        Problem::new(
            span(v),
            format!("`{key} = \"{s}\"` is not a duration: {e}"),
            "not a duration",
        )
        .help("write a number and a unit, like \"30s\", \"3m\" or \"1m 30s\"")
    })?;
    if d.is_zero() {
        return Err(
            Problem::new(span(v), format!("`{key}` cannot be zero"), "zero").help(format!(
                "nothing finishes in no time; use something like `{key} = \"30s\"`"
            )),
        );
    }
    if d > MAX_RUBRIC_DURATION {
        return Err(Problem::new(
            span(v),
            format!("`{key} = \"{s}\"` is longer than a day"),
            "too long",
        )
        .help("use at most \"24h\""));
    }
    Ok(d)
}

/// A size: a whole number of bytes, or a string like `"512MiB"` (see [`parse_size`]);
/// zero only when `allow_zero`.
fn size(key: &str, v: &RawValue<'_>, allow_zero: bool) -> Result<u64, Problem> {
    let help = "write a whole number and a unit, like \"512MiB\", \"1GiB\" or \"64KB\" (KiB, MiB, GiB: powers of 1024; KB, MB, GB: of 1000), or a number of bytes";
    let n = match v.get_ref() {
        DeValue::String(s) => parse_size(s).map_err(|why| {
            Problem::new(
                span(v),
                format!("`{key} = \"{s}\"` is not a size: {why}"),
                "not a size",
            )
            .help(help)
        })?,
        DeValue::Integer(_) => {
            let n = raw::expect_int(key, v)?;
            u64::try_from(n).map_err(|_| {
                Problem::new(span(v), format!("`{key}` cannot be negative"), "negative").help(help)
            })?
        }
        _ => return Err(wrong_type(key, v, "a size", "\"1GiB\"")),
    };
    if n == 0 && !allow_zero {
        return Err(Problem::new(span(v), format!("`{key}` cannot be zero"), "zero").help(help));
    }
    Ok(n)
}

/// `points`: an integer or float, finite and ≥ 0.
fn points(v: &RawValue<'_>) -> Result<f64, Problem> {
    let x = match v.get_ref() {
        DeValue::Integer(_) => raw::expect_int("points", v)? as f64,
        DeValue::Float(f) => f
            .as_str()
            .replace('_', "")
            .parse::<f64>()
            .unwrap_or(f64::NAN),
        _ => return Err(wrong_type("points", v, "a number", "2")),
    };
    if !x.is_finite() {
        return Err(
            Problem::new(span(v), "`points` must be a finite number", "not finite")
                .help("write a number of points, like `points = 2` or `points = 0.5`"),
        );
    }
    if x < 0.0 {
        return Err(Problem::new(
            span(v),
            format!("`points = {}` is negative", raw_text(v)),
            "negative",
        )
        .help("a test is worth 0 points or more; to deduct, give the other tests fewer points"));
    }
    Ok(x)
}

fn raw_text(v: &RawValue<'_>) -> String {
    match v.get_ref() {
        DeValue::Integer(i) => i.as_str().to_string(),
        DeValue::Float(f) => f.as_str().to_string(),
        other => raw::type_name(other).to_string(),
    }
}

/// A test as far as it could be read.
struct Draft {
    number: usize,
    line: usize,
    name: Option<(String, SourceSpan)>,
    /// Written, value span, resolved path.
    scenario: Option<(String, SourceSpan, PathBuf)>,
    loaded: Option<Scenario>,
    points: Option<f64>,
    visibility: Visibility,
    feedback: Option<String>,
    tags: Vec<String>,
    target: RubricTarget,
    /// Whether its `[test.target]` has a `command` key (valid or not).
    own_command: bool,
    timeout: Duration,
}

/// Whether `v` is a table with a `command` key.
fn has_command(v: Option<&RawValue<'_>>) -> bool {
    v.and_then(|v| v.get_ref().as_table())
        .is_some_and(|t| t.contains_key("command"))
}

/// One walk over a rubric's tree, collecting every problem.
struct Validator<'s> {
    src: &'s str,
    path: &'s Path,
    problems: Vec<Problem>,
    scenarios: Vec<RubricProblem>,
    /// Scenario files already loaded: the first test that named each, and the result.
    loaded: HashMap<PathBuf, (usize, Option<Scenario>)>,
}

impl<'s> Validator<'s> {
    fn new(src: &'s str, path: &'s Path) -> Validator<'s> {
        Validator {
            src,
            path,
            problems: Vec::new(),
            scenarios: Vec::new(),
            loaded: HashMap::new(),
        }
    }

    fn ok<T>(&mut self, r: Result<T, Problem>) -> Option<T> {
        r.map_err(|p| self.problems.push(p)).ok()
    }

    fn rubric(mut self, root: &RawTable<'_>) -> Result<Rubric, Vec<RubricProblem>> {
        for (k, _) in root.iter() {
            let key: &str = k.get_ref();
            if !TOP_KEYS.contains(&key) {
                self.problems.push(unknown_key(key, span(k), Place::Top));
            }
        }

        let title = match root.get("title") {
            Some(v) => self.ok(raw::expect_str("title", v)).map(str::to_string),
            None => None,
        }
        .unwrap_or_else(|| {
            self.path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let timeout = root
            .get("timeout")
            .and_then(|v| self.ok(duration("timeout", v)))
            .unwrap_or(DEFAULT_SUBMISSION_TIMEOUT);
        let target = match root.get("target") {
            Some(v) => self.target(v, Place::Target),
            None => RubricTarget::default(),
        };
        let limits = match root.get("limits") {
            Some(v) => self.limits(v),
            None => Limits::default(),
        };
        let drafts = match root.get("test") {
            Some(v) => self.tests(v, &target),
            None => {
                self.problems.push(
                    Problem::new(self.first_line(), "the rubric has no tests", "no `[[test]]` in this file")
                        .help("add a test: a `[[test]]` line, then `scenario = \"scenarios/one-line.toml\"` and `points = 1`"),
                );
                Vec::new()
            }
        };

        // A command for every test.
        // (A `command` that is there but wrong is reported as such, not as missing.)
        if !has_command(root.get("target")) && drafts.iter().any(|d| !d.own_command) {
            let without: Vec<String> = drafts
                .iter()
                .filter(|d| !d.own_command)
                .map(|d| d.number.to_string())
                .collect();
            let (at, label) = match root.get("target") {
                Some(v) if v.get_ref().as_table().is_some() => (span(v), "no `command` here"),
                _ => (self.first_line(), "no [target] in this file"),
            };
            let whom = match (without.len(), drafts.len()) {
                (0, _) => String::new(),
                (n, m) if n == m => String::new(),
                (1, _) => format!(" (test {} has none of its own)", without[0]),
                _ => format!(" (tests {} have none of their own)", without.join(", ")),
            };
            self.problems.push(
                Problem::new(at, format!("the rubric never says how to start a submission: [target] has no `command`{whom}"), label)
                    .help("add `command = \"python3 server.py {{port}}\"` to [target]: it runs inside each submission's directory, `{{port}}` is its port"),
            );
        }

        self.check_names(&drafts);

        let mut problems: Vec<RubricProblem> = self
            .problems
            .into_iter()
            .map(RubricProblem::Rubric)
            .collect();
        problems.append(&mut self.scenarios);
        if !problems.is_empty() {
            return Err(problems);
        }
        let tests = drafts
            .into_iter()
            .filter_map(|d| {
                let (written, _, scenario_path) = d.scenario?;
                let scenario = d.loaded?;
                Some(RubricTest {
                    number: d.number,
                    name: d
                        .name
                        .map(|(n, _)| n)
                        .unwrap_or_else(|| scenario.name.clone()),
                    scenario_path,
                    scenario_written: written,
                    scenario,
                    points: d.points?,
                    visibility: d.visibility,
                    feedback: d.feedback,
                    tags: d.tags,
                    target: d.target,
                    timeout: d.timeout,
                    line: d.line,
                })
            })
            .collect();
        Ok(Rubric {
            path: self.path.to_path_buf(),
            title,
            timeout,
            target,
            limits,
            tests,
        })
    }

    /// The first line of the file, for problems about something missing.
    fn first_line(&self) -> SourceSpan {
        let end = self.src.find('\n').unwrap_or(self.src.len());
        let end = self.src[..end].trim_end_matches('\r').len();
        SourceSpan::new(0.into(), end)
    }

    fn target(&mut self, v: &RawValue<'_>, place: Place) -> RubricTarget {
        let mut out = RubricTarget::default();
        let Some(t) = self.ok(raw::expect_table("target", v)) else {
            return out;
        };
        for (k, val) in t.iter() {
            let key: &str = k.get_ref();
            match key {
                "build" if matches!(place, Place::TestTarget(_)) => {
                    self.problems.push(
                        Problem::new(
                            span(val),
                            "`build` runs once per submission, before all its tests: it belongs in the rubric's [target], not in a test's",
                            "not per test",
                        )
                        .help("move `build` to the rubric's [target] table"),
                    );
                }
                "command" | "build" => {
                    let Some(s) = self.ok(raw::expect_str(key, val)) else {
                        continue;
                    };
                    if s.trim().is_empty() {
                        let what = if key == "command" {
                            "starts the program, like \"python3 server.py {{port}}\""
                        } else {
                            "builds the program, like \"make\""
                        };
                        self.problems.push(
                            Problem::new(span(val), format!("`{key}` is empty"), "empty")
                                .help(format!("write the command that {what}")),
                        );
                        continue;
                    }
                    if self.ok(values::template(self.src, key, val, s)).is_none() {
                        continue;
                    }
                    if key == "command" {
                        out.command = Some(s.to_string());
                    } else {
                        out.build = Some(s.to_string());
                    }
                }
                "protocol" => {
                    out.protocol = self
                        .ok(values::one_of_words(key, val, &["tcp", "udp"]))
                        .map(|w| {
                            if w == "udp" {
                                Protocol::Udp
                            } else {
                                Protocol::Tcp
                            }
                        });
                }
                "port" => {
                    out.port = self
                        .ok(raw::expect_int_in(key, val, 1, 65535))
                        .map(|n| n as u16);
                }
                "role" => {
                    out.role = self
                        .ok(values::one_of_words(key, val, &["server", "client"]))
                        .map(|w| {
                            if w == "client" {
                                Role::Client
                            } else {
                                Role::Server
                            }
                        });
                }
                _ => self.problems.push(unknown_key(key, span(k), place)),
            }
        }
        out
    }

    fn limits(&mut self, v: &RawValue<'_>) -> Limits {
        let mut out = Limits::default();
        let Some(t) = self.ok(raw::expect_table("limits", v)) else {
            return out;
        };
        for (k, val) in t.iter() {
            let key: &str = k.get_ref();
            match key {
                "cpu" => {
                    if let Some(d) = self.ok(duration(key, val)) {
                        out.cpu = d;
                    }
                }
                "memory" => {
                    if let Some(n) = self.ok(size(key, val, false)) {
                        out.memory = n;
                    }
                }
                "file_size" => {
                    if let Some(n) = self.ok(size(key, val, true)) {
                        out.file_size = n;
                    }
                }
                "output" => {
                    if let Some(n) = self.ok(size(key, val, true)) {
                        out.output = n;
                    }
                }
                "processes" => {
                    if let Some(n) = self.ok(raw::expect_int_in(key, val, 1, MAX_PROCESSES)) {
                        out.processes = n as u64;
                    }
                }
                _ => self.problems.push(unknown_key(key, span(k), Place::Limits)),
            }
        }
        out
    }

    fn tests(&mut self, v: &RawValue<'_>, rubric_target: &RubricTarget) -> Vec<Draft> {
        let mut out = Vec::new();
        let arr = match v.get_ref() {
            DeValue::Array(a) => a,
            DeValue::Table(_) => {
                self.problems.push(
                    Problem::new(
                        span(v),
                        "`[test]` is a single table; the tests are an array of tables",
                        "one table",
                    )
                    .help("write `[[test]]`, with double brackets, above each test"),
                );
                return out;
            }
            _ => {
                self.problems
                    .push(wrong_type("test", v, "an array of tables", "[{ scenario = \"…\", points = 1 }]").help("write each test as a `[[test]]` line followed by its `scenario` and `points`"));
                return out;
            }
        };
        if arr.is_empty() {
            self.problems.push(
                Problem::new(span(v), "the rubric has no tests", "empty").help(
                    "add a test: a `[[test]]` line, then `scenario = \"…\"` and `points = 1`",
                ),
            );
        }
        for (i, item) in arr.iter().enumerate() {
            let number = i + 1;
            let Some(t) = item.get_ref().as_table() else {
                self.problems.push(
                    Problem::new(
                        span(item),
                        format!(
                            "test {number} is {}, not a table",
                            raw::type_name(item.get_ref())
                        ),
                        "not a test",
                    )
                    .help("write each test as `{ scenario = \"…\", points = 1 }`, or as a `[[test]]` section"),
                );
                continue;
            };
            let d = self.test(number, item, t, rubric_target);
            out.push(d);
        }
        out
    }

    fn test(
        &mut self,
        number: usize,
        item: &RawValue<'_>,
        t: &RawTable<'_>,
        rubric_target: &RubricTarget,
    ) -> Draft {
        let at = span(item);
        let mut d = Draft {
            number,
            line: raw::line_of(self.src, item.span().start),
            name: None,
            scenario: None,
            loaded: None,
            points: None,
            visibility: Visibility::default(),
            feedback: None,
            tags: Vec::new(),
            target: rubric_target.clone(),
            own_command: has_command(t.get("target")),
            timeout: DEFAULT_TEST_TIMEOUT,
        };
        for (k, val) in t.iter() {
            let key: &str = k.get_ref();
            match key {
                "name" => {
                    if let Some(s) = self.ok(raw::expect_str(key, val)) {
                        if s.trim().is_empty() {
                            self.problems.push(
                                Problem::new(span(val), format!("test {number}'s `name` is empty"), "empty")
                                    .help("give the test a name (it heads its column in summary.csv), or remove `name` to use the scenario's"),
                            );
                        } else {
                            d.name = Some((s.to_string(), span(val)));
                        }
                    }
                }
                "scenario" => {
                    if let Some(s) = self.ok(raw::expect_str(key, val)) {
                        let s = s.to_string();
                        self.scenario(&mut d, &s, val);
                    }
                }
                "points" => d.points = self.ok(points(val)),
                "visibility" => {
                    if let Some(w) = self.ok(values::one_of_words(key, val, VISIBILITIES)) {
                        d.visibility = match w {
                            "hidden" => Visibility::Hidden,
                            "after_due_date" => Visibility::AfterDueDate,
                            "after_published" => Visibility::AfterPublished,
                            _ => Visibility::Visible,
                        };
                    }
                }
                "feedback" => {
                    d.feedback = self.ok(raw::expect_str(key, val)).map(str::to_string);
                }
                "tags" => {
                    if let Some(arr) = self.ok(raw::expect_array(key, val)) {
                        for tag in arr.iter() {
                            match tag.get_ref().as_str() {
                                Some(s) => d.tags.push(s.to_string()),
                                None => self.problems.push(
                                    Problem::new(
                                        span(tag),
                                        format!(
                                            "a tag is a string, not {}",
                                            raw::type_name(tag.get_ref())
                                        ),
                                        "not a string",
                                    )
                                    .help("write the tags as strings, like `tags = [\"tcp\", \"basics\"]`"),
                                ),
                            }
                        }
                    }
                }
                "timeout" => {
                    if let Some(x) = self.ok(duration(key, val)) {
                        d.timeout = x;
                    }
                }
                "target" => {
                    let own = self.target(val, Place::TestTarget(number));
                    d.target = rubric_target.merged(&own);
                }
                _ => self
                    .problems
                    .push(unknown_key(key, span(k), Place::Test(number))),
            }
        }
        if !t.contains_key("scenario") {
            self.problems.push(
                Problem::new(at, format!("test {number} has no `scenario`"), "no `scenario` in this test")
                    .help("add the scenario file this test runs, relative to the rubric: `scenario = \"scenarios/one-line.toml\"`"),
            );
        }
        if !t.contains_key("points") {
            self.problems.push(
                Problem::new(at, format!("test {number} has no `points`"), "no `points` in this test")
                    .help("add what the test is worth: `points = 1` (0 for a test that only gives feedback)"),
            );
        }
        d
    }

    /// Resolves and loads the scenario of test `d`.
    fn scenario(&mut self, d: &mut Draft, written: &str, val: &RawValue<'_>) {
        let number = d.number;
        let at = span(val);
        if written.trim().is_empty() {
            self.problems.push(
                Problem::new(at, format!("test {number}'s `scenario` is empty"), "empty").help(
                    "write the scenario file's path, relative to the rubric: `scenario = \"scenarios/one-line.toml\"`",
                ),
            );
            return;
        }
        let dir = self.path.parent().unwrap_or(Path::new(""));
        let resolved = dir.join(written);
        d.scenario = Some((written.to_string(), at, resolved.clone()));
        if let Some((first, result)) = self.loaded.get(&resolved) {
            match result {
                Some(s) => d.loaded = Some(s.clone()),
                None => self.problems.push(
                    Problem::new(
                        at,
                        format!("the scenario of test {number}, `{written}`, is not valid either"),
                        "invalid scenario",
                    )
                    .help(format!(
                        "it is test {first}'s scenario too: its problems are shown there"
                    )),
                ),
            }
            return;
        }
        let result = match crate::scenario::load_file(&resolved) {
            Ok(s) => Some(s),
            Err(LoadError::Io { source, .. }) => {
                self.problems
                    .push(self.unreadable(number, written, &resolved, at, source));
                None
            }
            Err(error) => {
                self.scenarios.push(RubricProblem::Scenario {
                    test: number,
                    written: written.to_string(),
                    span: at,
                    error: Box::new(error),
                });
                None
            }
        };
        d.loaded = result.clone();
        self.loaded.insert(resolved, (number, result));
    }

    /// The problem for a scenario file that cannot be read.
    fn unreadable(
        &self,
        number: usize,
        written: &str,
        resolved: &Path,
        at: SourceSpan,
        err: std::io::Error,
    ) -> Problem {
        let dir = self.path.parent().unwrap_or(Path::new(""));
        let dir_shown = if dir.as_os_str().is_empty() {
            ".".to_string()
        } else {
            dir.display().to_string()
        };
        let relative = format!(
            "the path is relative to the rubric's directory, {dir_shown}: netdrill looked for {}",
            resolved.display()
        );
        if err.kind() == std::io::ErrorKind::NotFound {
            // A likely typo in the file's name: the closest file beside where it should be.
            let guess = resolved
                .parent()
                .zip(resolved.file_name())
                .and_then(|(parent, name)| {
                    let siblings: Vec<String> = std::fs::read_dir(parent)
                        .ok()?
                        .filter_map(|e| e.ok()?.file_name().into_string().ok())
                        .filter(|n| n.ends_with(".toml"))
                        .collect();
                    let name = name.to_string_lossy();
                    closest(&name, siblings.iter().map(String::as_str)).map(|c| {
                        let written_dir = Path::new(written)
                            .parent()
                            .map(|p| p.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        if written_dir.is_empty() {
                            c.to_string()
                        } else {
                            format!("{written_dir}/{c}")
                        }
                    })
                });
            let help = match guess {
                Some(g) => format!("did you mean `{g}`? {relative}"),
                None => relative,
            };
            return Problem::new(
                at,
                format!("the scenario of test {number}, `{written}`, does not exist"),
                "no such file",
            )
            .help(help);
        }
        Problem::new(
            at,
            format!("cannot read the scenario of test {number}, `{written}`: {err}"),
            "cannot read",
        )
        .help(relative)
    }

    /// Test names key the columns of summary.csv: no two alike.
    fn check_names(&mut self, drafts: &[Draft]) {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for d in drafts {
            let (name, at, own) = match (&d.name, &d.loaded, &d.scenario) {
                (Some((n, sp)), _, _) => (n.clone(), *sp, true),
                (None, Some(s), Some((_, sp, _))) => (s.name.clone(), *sp, false),
                _ => continue,
            };
            if let Some(first) = seen.get(&name) {
                let message = if own {
                    format!("test {} is called `{name}`, like test {first}", d.number)
                } else {
                    format!(
                        "test {} is called `{name}` (its scenario's name), like test {first}",
                        d.number
                    )
                };
                self.problems.push(
                    Problem::new(at, message, "same name as an earlier test").help(
                        "test names head the columns of summary.csv and must differ: give one of them its own `name = \"…\"`",
                    ),
                );
            } else {
                seen.insert(name, d.number);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("10 MB"), Ok(10_000_000));
        assert_eq!(parse_size("3kb"), Ok(3_000));
        assert_eq!(parse_size("16mib"), Ok(16 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("100B"), Ok(100));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
        assert_eq!(parse_size("0"), Ok(0));
    }

    #[test]
    fn bad_sizes_say_why() {
        assert!(parse_size("").unwrap_err().contains("empty"));
        assert!(parse_size("GiB").unwrap_err().contains("number"));
        assert!(parse_size("1.5GiB").unwrap_err().contains("whole"));
        assert!(parse_size("1G").unwrap_err().contains("ambiguous"));
        assert!(parse_size("1 gigabyte").unwrap_err().contains("not a unit"));
        assert!(parse_size("1Mib").is_ok());
        assert!(parse_size("2MiBs").unwrap_err().contains("`MiB`"));
        assert!(
            parse_size("99999999999999999999")
                .unwrap_err()
                .contains("large")
        );
        assert!(parse_size("99999999999GiB").unwrap_err().contains("large"));
    }

    #[test]
    fn a_test_target_overrides_only_what_it_sets() {
        let rubric = RubricTarget {
            command: Some("python3 server.py {{port}}".into()),
            build: Some("make".into()),
            protocol: Some(Protocol::Tcp),
            port: None,
            role: None,
        };
        let test = RubricTarget {
            role: Some(Role::Client),
            port: Some(9000),
            ..RubricTarget::default()
        };
        let m = rubric.merged(&test);
        assert_eq!(m.command.as_deref(), Some("python3 server.py {{port}}"));
        assert_eq!(m.build.as_deref(), Some("make"));
        assert_eq!(m.protocol, Some(Protocol::Tcp));
        assert_eq!(m.port, Some(9000));
        assert_eq!(m.role, Some(Role::Client));
        let over = RubricTarget {
            command: Some("./client {{port}}".into()),
            protocol: Some(Protocol::Udp),
            ..RubricTarget::default()
        };
        let m2 = m.merged(&over);
        assert_eq!(m2.command.as_deref(), Some("./client {{port}}"));
        assert_eq!(m2.protocol, Some(Protocol::Udp));
        assert_eq!(m2.role, Some(Role::Client));
        assert_eq!(rubric.merged(&RubricTarget::default()), rubric);
    }

    #[test]
    fn a_test_target_in_a_rubric_is_merged_over_the_rubric_target() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("s.toml"),
            "name = \"s\"\nsteps = [{ connect = \"target\" }]\n",
        )
        .unwrap();
        let path = dir.path().join("rubric.toml");
        let src = "[target]\ncommand = \"./srv {{port}}\"\nbuild = \"make\"\n\n[[test]]\nscenario = \"s.toml\"\npoints = 1\n\n[[test]]\nname = \"as client\"\nscenario = \"s.toml\"\npoints = 2.5\n[test.target]\nrole = \"client\"\ncommand = \"./cli {{port}}\"\n";
        let r = load_rubric_str(src, &path).unwrap_or_else(|e| {
            panic!("{}", crate::diagnostic::render_plain(&e));
        });
        assert_eq!(r.title, "rubric");
        assert_eq!(r.tests.len(), 2);
        assert_eq!(r.tests[0].name, "s");
        assert_eq!(r.tests[0].line, 5);
        assert_eq!(r.tests[0].target, r.target);
        assert_eq!(r.tests[1].number, 2);
        assert_eq!(r.tests[1].line, 9);
        assert_eq!(r.tests[1].target.command.as_deref(), Some("./cli {{port}}"));
        assert_eq!(r.tests[1].target.build.as_deref(), Some("make"));
        assert_eq!(r.tests[1].target.role, Some(Role::Client));
        assert_eq!(r.max_score(), 3.5);
    }

    #[test]
    fn every_test_with_its_own_command_needs_none_at_the_top() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("s.toml"),
            "steps = [{ connect = \"target\" }]\n",
        )
        .unwrap();
        let path = dir.path().join("r.toml");
        let one = "[[test]]\nname = \"a\"\nscenario = \"s.toml\"\npoints = 1\ntarget = { command = \"./a\" }\n";
        assert!(load_rubric_str(one, &path).is_ok());
        let two = format!("{one}[[test]]\nname = \"b\"\nscenario = \"s.toml\"\npoints = 1\n");
        let err = load_rubric_str(&two, &path).unwrap_err();
        assert_eq!(err.problem_count(), 1);
        assert!(err.problems()[0].to_string().contains("test 2 has none"));
    }
}
