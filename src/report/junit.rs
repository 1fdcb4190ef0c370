/*!
JUnit XML (quick-junit): one test case per scenario, in one suite.

- A failing step is a `<failure>` whose message names the step and says what went wrong;
  its text is the comparison (diff, hex dump) when data was compared.
- A scenario that could not be run (invalid file, interrupted) is an `<error>`.
- The transcript goes in `<system-out>`.
- Under `--retries`, a scenario that passed only on a later attempt is a success with a
  `<flakyFailure>` per failed attempt, as Maven Surefire writes it; one that failed every
  attempt carries its earlier attempts as `<rerunFailure>`.
*/

use quick_junit::{
    FlakyOrRerun, NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};

use super::ScenarioOutcome;
use crate::outcome::Status;

/// The report as JUnit XML.
pub fn report(outcomes: &[ScenarioOutcome]) -> String {
    let mut suite = TestSuite::new("netdrill");
    for o in outcomes {
        let mut status = match o.status {
            Status::Passed => TestCaseStatus::success(),
            Status::Failed => non_success(o, NonSuccessKind::Failure),
            Status::Error => non_success(o, NonSuccessKind::Error),
        };
        status.set_rerun_kind(FlakyOrRerun::Rerun);
        for earlier in &o.retry.earlier {
            let mut rerun = TestRerun::new(NonSuccessKind::Failure);
            rerun.set_message(earlier.message.clone());
            rerun.set_system_out(earlier.transcript.clone());
            status.add_rerun(rerun);
        }
        let mut case = TestCase::new(o.name.clone(), status);
        case.set_classname(o.file.clone());
        case.set_time(o.duration);
        let transcript = o.transcript.render();
        if !transcript.is_empty() {
            case.set_system_out(transcript);
        }
        suite.add_test_case(case);
    }
    let mut report = Report::new("netdrill");
    report.add_test_suite(suite);
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- could not write JUnit XML: {e} -->\n"))
}

/// A `<failure>` or `<error>`: the headline as its message, the details as its text.
fn non_success(o: &ScenarioOutcome, kind: NonSuccessKind) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(kind);
    if let Some(headline) = o.headline() {
        s.set_message(headline);
    }
    if let Some(f) = &o.failure {
        let mut desc = f.failure.message.clone();
        desc.push('\n');
        if let Some(e) = &f.failure.evidence {
            desc.push_str(&super::evidence::render(e));
        } else {
            if let Some(e) = &f.failure.expected {
                desc.push_str(&format!("expected: {e}\n"));
            }
            if let Some(a) = &f.failure.actual {
                desc.push_str(&format!("actual:   {a}\n"));
            }
        }
        s.set_description(desc);
    } else if let Some((text, _)) = &o.error {
        s.set_description(text.clone());
    }
    s
}
