/*!
The validator: one walk over a rubric's tree, collecting every problem. This file reads
the top level and checks the rubric as a whole (a command for every test, no two tests
with one name); the tables and the tests have readers of their own (`tables.rs`,
`test.rs`).
*/

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use miette::SourceSpan;

use super::RubricProblem;
use super::TOP_KEYS;
use super::keys::{Place, unknown_key};
use super::tables::has_command;
use super::test::Draft;
use super::values::duration;
use crate::diagnostic::Problem;
use crate::grade::model::{DEFAULT_SUBMISSION_TIMEOUT, Limits, Rubric, RubricTarget};
use crate::scenario::Scenario;
use crate::scenario::raw::{self, RawTable, span};

/// One walk over a rubric's tree, collecting every problem.
pub(super) struct Validator<'s> {
    pub(super) src: &'s str,
    pub(super) path: &'s Path,
    pub(super) problems: Vec<Problem>,
    pub(super) scenarios: Vec<RubricProblem>,
    /// Scenario files already loaded: the first test that named each, and the result.
    pub(super) loaded: HashMap<PathBuf, (usize, Option<Scenario>)>,
}

impl<'s> Validator<'s> {
    pub(super) fn new(src: &'s str, path: &'s Path) -> Validator<'s> {
        Validator {
            src,
            path,
            problems: Vec::new(),
            scenarios: Vec::new(),
            loaded: HashMap::new(),
        }
    }

    pub(super) fn ok<T>(&mut self, r: Result<T, Problem>) -> Option<T> {
        r.map_err(|p| self.problems.push(p)).ok()
    }

    /// The whole rubric, or every problem found in it and in its scenarios.
    pub(super) fn rubric(mut self, root: &RawTable<'_>) -> Result<Rubric, Vec<RubricProblem>> {
        self.check_top_keys(root);
        let title = self.title(root);
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
        let drafts = self.all_tests(root, &target);
        self.check_command(root, &drafts);
        self.check_names(&drafts);

        let path = self.path.to_path_buf();
        let problems = self.into_problems();
        if !problems.is_empty() {
            return Err(problems);
        }
        let tests = drafts.into_iter().filter_map(Draft::into_test).collect();
        Ok(Rubric {
            path,
            title,
            timeout,
            target,
            limits,
            tests,
        })
    }

    /// Every top-level key that a rubric does not have is a problem.
    fn check_top_keys(&mut self, root: &RawTable<'_>) {
        for (k, _) in root.iter() {
            let key: &str = k.get_ref();
            if !TOP_KEYS.contains(&key) {
                self.problems.push(unknown_key(key, span(k), Place::Top));
            }
        }
    }

    /// `title`, or the rubric file's name without its extension.
    fn title(&mut self, root: &RawTable<'_>) -> String {
        match root.get("title") {
            Some(v) => self.ok(raw::expect_str("title", v)).map(str::to_string),
            None => None,
        }
        .unwrap_or_else(|| {
            self.path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
    }

    /// Every `[[test]]` as far as it could be read; a rubric without any is a problem.
    fn all_tests(&mut self, root: &RawTable<'_>, target: &RubricTarget) -> Vec<Draft> {
        match root.get("test") {
            Some(v) => self.tests(v, target),
            None => {
                self.problems.push(
                    Problem::new(self.first_line(), "the rubric has no tests", "no `[[test]]` in this file")
                        .help("add a test: a `[[test]]` line, then `scenario = \"scenarios/one-line.toml\"` and `points = 1`"),
                );
                Vec::new()
            }
        }
    }

    /// A command for every test: in `[target]`, or in each test's own `[test.target]`.
    /// (A `command` that is there but wrong is reported as such, not as missing.)
    fn check_command(&mut self, root: &RawTable<'_>, drafts: &[Draft]) {
        if has_command(root.get("target")) || drafts.iter().all(|d| d.own_command) {
            return;
        }
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

    /// Every problem found: those in the rubric's text, then the invalid scenarios.
    fn into_problems(self) -> Vec<RubricProblem> {
        let mut problems: Vec<RubricProblem> = self
            .problems
            .into_iter()
            .map(RubricProblem::Rubric)
            .collect();
        problems.extend(self.scenarios);
        problems
    }

    /// The first line of the file, for problems about something missing.
    pub(super) fn first_line(&self) -> SourceSpan {
        let end = self.src.find('\n').unwrap_or(self.src.len());
        let end = self.src[..end].trim_end_matches('\r').len();
        SourceSpan::new(0.into(), end)
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
