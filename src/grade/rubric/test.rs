/*!
The reader of a rubric's tests: every `[[test]]`, its keys, and the scenario it names
(loaded at once, relative to the rubric's directory).
*/

use std::path::{Path, PathBuf};
use std::time::Duration;

use miette::SourceSpan;

use super::keys::{Place, unknown_key};
use super::tables::has_command;
use super::validator::Validator;
use super::values::{duration, points, wrong_type};
use super::{RubricProblem, VISIBILITIES};
use crate::diagnostic::{LoadError, Problem};
use crate::grade::model::{DEFAULT_TEST_TIMEOUT, RubricTarget, RubricTest, Visibility};
use crate::scenario::raw::{self, DeValue, RawTable, RawValue, span};
use crate::scenario::suggest::closest;
use crate::scenario::{Scenario, values};

/// A test as far as it could be read.
pub(super) struct Draft {
    pub(super) number: usize,
    pub(super) line: usize,
    pub(super) name: Option<(String, SourceSpan)>,
    /// Written, value span, resolved path.
    pub(super) scenario: Option<(String, SourceSpan, PathBuf)>,
    pub(super) loaded: Option<Scenario>,
    pub(super) points: Option<f64>,
    pub(super) visibility: Visibility,
    pub(super) feedback: Option<String>,
    pub(super) tags: Vec<String>,
    pub(super) target: RubricTarget,
    /// Whether its `[test.target]` has a `command` key (valid or not).
    pub(super) own_command: bool,
    pub(super) timeout: Duration,
}

impl Draft {
    /// A test with nothing missing: `None` when it had problems (they were reported).
    pub(super) fn into_test(self) -> Option<RubricTest> {
        let (written, _, scenario_path) = self.scenario?;
        let scenario = self.loaded?;
        Some(RubricTest {
            number: self.number,
            name: self
                .name
                .map(|(n, _)| n)
                .unwrap_or_else(|| scenario.name.clone()),
            scenario_path,
            scenario_written: written,
            scenario,
            points: self.points?,
            visibility: self.visibility,
            feedback: self.feedback,
            tags: self.tags,
            target: self.target,
            timeout: self.timeout,
            line: self.line,
        })
    }
}

/// The [`Visibility`] of one of the [`VISIBILITIES`].
fn visibility(word: &str) -> Visibility {
    match word {
        "hidden" => Visibility::Hidden,
        "after_due_date" => Visibility::AfterDueDate,
        "after_published" => Visibility::AfterPublished,
        _ => Visibility::Visible,
    }
}

impl Validator<'_> {
    /// Every `[[test]]` (the array `v`), each starting from the rubric's `[target]`.
    pub(super) fn tests(&mut self, v: &RawValue<'_>, rubric_target: &RubricTarget) -> Vec<Draft> {
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

    /// One `[[test]]` (the table `t`, test `number`), as far as it could be read.
    fn test(
        &mut self,
        number: usize,
        item: &RawValue<'_>,
        t: &RawTable<'_>,
        rubric_target: &RubricTarget,
    ) -> Draft {
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
                "name" => self.test_name(&mut d, val),
                "scenario" => {
                    if let Some(s) = self.ok(raw::expect_str(key, val)) {
                        let s = s.to_string();
                        self.scenario(&mut d, &s, val);
                    }
                }
                "points" => d.points = self.ok(points(val)),
                "visibility" => {
                    if let Some(w) = self.ok(values::one_of_words(key, val, VISIBILITIES)) {
                        d.visibility = visibility(w);
                    }
                }
                "feedback" => {
                    d.feedback = self.ok(raw::expect_str(key, val)).map(str::to_string);
                }
                "tags" => self.tags(&mut d, val),
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
        self.check_required(number, span(item), t);
        d
    }

    /// A test's `name`: not empty.
    fn test_name(&mut self, d: &mut Draft, val: &RawValue<'_>) {
        let number = d.number;
        if let Some(s) = self.ok(raw::expect_str("name", val)) {
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

    /// A test's `tags`: an array of strings.
    fn tags(&mut self, d: &mut Draft, val: &RawValue<'_>) {
        if let Some(arr) = self.ok(raw::expect_array("tags", val)) {
            for tag in arr.iter() {
                match tag.get_ref().as_str() {
                    Some(s) => d.tags.push(s.to_string()),
                    None => self.problems.push(
                        Problem::new(
                            span(tag),
                            format!("a tag is a string, not {}", raw::type_name(tag.get_ref())),
                            "not a string",
                        )
                        .help("write the tags as strings, like `tags = [\"tcp\", \"basics\"]`"),
                    ),
                }
            }
        }
    }

    /// Every test needs a `scenario` and `points` (the test's table `t`, at `at`).
    fn check_required(&mut self, number: usize, at: SourceSpan, t: &RawTable<'_>) {
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
}
