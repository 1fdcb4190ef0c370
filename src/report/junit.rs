/*! JUnit XML (quick-junit): one test case per scenario, in one suite. */

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::ScenarioOutcome;
use crate::outcome::Status;

/// The report as JUnit XML.
pub fn report(outcomes: &[ScenarioOutcome]) -> String {
    let mut suite = TestSuite::new("netdrill");
    for o in outcomes {
        let status = match o.status {
            Status::Passed => TestCaseStatus::success(),
            Status::Failed | Status::Error => {
                let kind = if o.status == Status::Failed {
                    NonSuccessKind::Failure
                } else {
                    NonSuccessKind::Error
                };
                let mut s = TestCaseStatus::non_success(kind);
                if let Some(f) = &o.failure {
                    s.set_message(format!(
                        "step {} (line {}) {} {}: {}",
                        f.step, f.line, f.actor, f.action, f.failure.message
                    ));
                    let mut desc = String::new();
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
                    desc.push_str(&o.transcript.render());
                    s.set_description(desc);
                } else if let Some((text, _)) = &o.error {
                    s.set_message("invalid scenario");
                    s.set_description(text.clone());
                }
                s
            }
        };
        let mut case = TestCase::new(o.name.clone(), status);
        case.set_classname(o.file.clone());
        case.set_time(o.duration);
        suite.add_test_case(case);
    }
    let mut report = Report::new("netdrill");
    report.add_test_suite(suite);
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- could not write JUnit XML: {e} -->\n"))
}
