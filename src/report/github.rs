/*!
GitHub Actions workflow commands (`--format github`): an `::error` annotation at the
failing step's line of each failed scenario, at the first problem of an invalid file, and
a `::warning` on each flaky one. GitHub shows them on the pull request's diff and in the
run summary; every other line of the human report is printed as usual.

The message is escaped as the runner expects (`%`, CR, LF), and so are property values
(also `:` and `,`).
*/

use super::ScenarioOutcome;
use crate::outcome::Status;

/// The annotation lines for one outcome (empty for a plain pass).
pub fn annotations(o: &ScenarioOutcome) -> String {
    let line = match (&o.failure, &o.error) {
        (Some(f), _) => f.line.max(1),
        (None, Some((_, line))) => (*line).max(1),
        (None, None) => 1,
    };
    let (level, title, message) = match o.status {
        Status::Passed if o.flaky() => (
            "warning",
            format!("flaky: {}", o.name),
            format!(
                "passed only on attempt {}; attempt 1 failed: {}",
                o.retry.attempts,
                o.retry
                    .earlier
                    .first()
                    .map(|a| a.message.as_str())
                    .unwrap_or("")
            ),
        ),
        Status::Passed => return String::new(),
        Status::Failed | Status::Error => {
            let mut message = o.headline().unwrap_or_default();
            if let Some(f) = &o.failure {
                // The rest of the failure (expected and actual in full, the hint) goes
                // in the annotation's body.
                let rest: Vec<&str> = f.failure.message.lines().skip(1).collect();
                if !rest.is_empty() {
                    message.push('\n');
                    message.push_str(&rest.join("\n"));
                }
                if let (Some(e), Some(a)) = (
                    super::expected_in_full(&f.failure),
                    super::actual_in_full(&f.failure),
                ) {
                    message.push_str(&format!("\nexpected: {e}\nactual:   {a}"));
                }
            }
            ("error", o.name.clone(), message)
        }
    };
    format!(
        "::{level} file={},line={line},title={}::{}\n",
        property(&o.file),
        property(&title),
        data(&message)
    )
}

/// Escapes a command's message.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value.
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_the_runner_expects() {
        assert_eq!(data("50%\r\nnext"), "50%25%0D%0Anext");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
    }
}
