/*! TAP version 14: one test point per scenario, failures as a YAML block. */

use std::fmt::Write as _;

use super::ScenarioOutcome;
use crate::outcome::Status;

/// The report as TAP text.
pub fn report(outcomes: &[ScenarioOutcome]) -> String {
    let mut out = String::from("TAP version 14\n");
    let _ = writeln!(out, "1..{}", outcomes.len());
    for (i, o) in outcomes.iter().enumerate() {
        let ok = if o.status == Status::Passed {
            "ok"
        } else {
            "not ok"
        };
        let _ = writeln!(out, "{ok} {} - {} ({})", i + 1, o.name, o.file);
        if o.status == Status::Passed {
            continue;
        }
        out.push_str("  ---\n");
        let status = if o.status == Status::Failed {
            "failed"
        } else {
            "error"
        };
        let _ = writeln!(out, "  status: {status}");
        if let Some(f) = &o.failure {
            let _ = writeln!(out, "  step: {}", f.step);
            let _ = writeln!(out, "  line: {}", f.line);
            let _ = writeln!(out, "  actor: {}", yaml(&f.actor));
            let _ = writeln!(out, "  action: {}", yaml(&f.action));
            let _ = writeln!(out, "  message: {}", yaml(&f.failure.message));
            if let Some(e) = super::expected_in_full(&f.failure) {
                let _ = writeln!(out, "  expected: {}", yaml(&e));
            }
            if let Some(a) = super::actual_in_full(&f.failure) {
                let _ = writeln!(out, "  actual: {}", yaml(&a));
            }
        }
        if let Some((text, line)) = &o.error {
            let _ = writeln!(out, "  line: {line}");
            let _ = writeln!(out, "  message: {}", yaml(text));
        }
        out.push_str("  ...\n");
    }
    out
}

/// A YAML double-quoted scalar (JSON strings are valid YAML).
fn yaml(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}
