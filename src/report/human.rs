/*!
The human report: a line per scenario; for a failure, a miette report that points at the
failing step in the scenario file, expected vs actual with the first difference marked,
and the transcript up to that step; `-v` adds whole transcripts.
*/

use std::fmt::Write as _;

use miette::{NamedSource, SourceSpan};

use super::{ScenarioOutcome, Summary};
use crate::outcome::Status;

/// How to print.
#[derive(Debug, Clone, Copy, Default)]
pub struct HumanOptions {
    /// `-v`: print every transcript in full.
    pub verbose: bool,
    /// Colour the miette reports.
    pub color: bool,
}

/// The failing step, as a diagnostic pointing into the scenario file.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("step {step} failed: {actor} {action}")]
struct StepReport {
    step: usize,
    actor: String,
    action: String,
    message: String,
    #[source_code]
    src: NamedSource<String>,
    #[label("{message}")]
    span: SourceSpan,
    #[help]
    help: Option<String>,
}

/// One line: status, file, name, time.
pub fn line(o: &ScenarioOutcome) -> String {
    let status = match o.status {
        Status::Passed => "PASS ",
        Status::Failed => "FAIL ",
        Status::Error => "ERROR",
    };
    let snapshot = o.failure.as_ref().is_some_and(|f| f.action == "snapshot");
    let retried = match o.retry.attempts {
        1 => String::new(),
        k if o.flaky() || snapshot => format!(", flaky: passed on attempt {k}"),
        k => format!(", failed {k} attempts"),
    };
    format!(
        "{status} {}  {}  ({} ms{retried})",
        o.file,
        o.name,
        o.duration.as_millis()
    )
}

/// What follows the line: the failure report, the diagnostics, or (`-v`) the transcript.
pub fn details(o: &ScenarioOutcome, opts: HumanOptions) -> String {
    let mut out = String::new();
    for (i, a) in o.retry.earlier.iter().enumerate() {
        let _ = writeln!(out, "  attempt {} failed: {}", i + 1, a.message);
    }
    if let Some((text, _)) = &o.error {
        out.push_str(text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
        return out;
    }
    if let Some(f) = &o.failure {
        if let Some(about) = &o.about {
            out.push_str(&indent(about));
        }
        let Some(span) = f.span else {
            // Not a step (a snapshot mismatch): the message says it all.
            out.push_str(&indent(&f.failure.message));
            return out;
        };
        let source = o.source.as_deref().unwrap_or("");
        let first_line = f.failure.message.lines().next().unwrap_or("").to_string();
        let more: Vec<&str> = f.failure.message.lines().skip(1).collect();
        let mut help = String::new();
        if !more.is_empty() {
            help.push_str(&more.join("\n"));
            help.push('\n');
        }
        let report = StepReport {
            step: f.step,
            actor: f.actor.clone(),
            action: f.action.clone(),
            message: first_line,
            src: NamedSource::new(&o.file, crate::diagnostic::shown_source(source)),
            span,
            help: (!help.is_empty()).then(|| help.trim_end().to_string()),
        };
        let report_text = render(&report, opts.color);
        out.push_str(&indent(&report_text));
        if let Some(e) = &f.failure.evidence {
            out.push_str(&indent(&super::evidence::render(e)));
        } else if let (Some(e), Some(a)) = (&f.failure.expected, &f.failure.actual) {
            out.push_str(&indent(&expected_actual(e, a)));
        }
        out.push_str("  transcript up to the failing step:\n");
        // The run stopped at the failing step, so the transcript is already "up to"
        // it; the link's decisions come last and often explain the failure.
        let upto = o.transcript.render();
        out.push_str(&indent(&upto));
        return out;
    }
    if opts.verbose {
        out.push_str(&indent(&o.transcript.render()));
    }
    out
}

/// The closing summary line.
pub fn summary(s: Summary) -> String {
    let flaky = match s.flaky {
        0 => String::new(),
        n => format!(" ({n} flaky)"),
    };
    format!(
        "{} passed{flaky}, {} failed, {} error",
        s.passed, s.failed, s.error
    )
}

/// Expected and actual, one above the other, with a caret under the first difference.
pub fn expected_actual(expected: &str, actual: &str) -> String {
    let mut out = format!("expected: {expected}\nactual:   {actual}\n");
    let at = expected
        .chars()
        .zip(actual.chars())
        .position(|(a, b)| a != b)
        .or_else(|| {
            (expected.chars().count() != actual.chars().count())
                .then(|| expected.chars().count().min(actual.chars().count()))
        });
    if let Some(at) = at {
        let _ = writeln!(out, "          {}^ first difference", " ".repeat(at));
    }
    out
}

/// Renders a diagnostic with miette (see [`crate::diagnostic::render`]).
pub fn render(diag: &dyn miette::Diagnostic, color: bool) -> String {
    crate::diagnostic::render(diag, color)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("  {l}\n")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_marks_the_first_difference() {
        let text = expected_actual("\"HELLO\"", "\"HELLO WORLD\"");
        assert!(
            text.ends_with(&format!("{}^ first difference\n", " ".repeat(16))),
            "{text}"
        );
        let same = expected_actual("\"a\"", "\"a\"");
        assert!(!same.contains('^'));
    }
}
