/*!
Readers of the rubric's tables: `[target]` (and a test's own `[test.target]`) and
`[limits]`.
*/

use super::MAX_PROCESSES;
use super::keys::{Place, unknown_key};
use super::validator::Validator;
use super::values::{duration, size};
use crate::diagnostic::Problem;
use crate::grade::model::{Limits, RubricTarget};
use crate::scenario::model::{Protocol, Role};
use crate::scenario::raw::{self, RawValue, span};
use crate::scenario::values;

/// Whether `v` is a table with a `command` key.
pub(super) fn has_command(v: Option<&RawValue<'_>>) -> bool {
    v.and_then(|v| v.get_ref().as_table())
        .is_some_and(|t| t.contains_key("command"))
}

impl Validator<'_> {
    /// `[target]`, or a test's own `[test.target]` (`place`): the keys it sets.
    pub(super) fn target(&mut self, v: &RawValue<'_>, place: Place) -> RubricTarget {
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

    /// `[limits]`: every limit it sets, the others at their defaults.
    pub(super) fn limits(&mut self, v: &RawValue<'_>) -> Limits {
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
}
