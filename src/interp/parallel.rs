/*!
`parallel = N`: N copies of a block of steps, run concurrently, each a session with
fresh actors sharing the run's target, link and values; the first failing copy (by copy
number, not by time) is what the step reports, with its transcript in full.
*/

use super::session::Session;
use crate::outcome::StepFailure;
use crate::scenario::Step;
use crate::transcript::{Entry, Failure, Outcome};

impl Session<'_, '_> {
    /// `parallel = N`: N copies of `steps`, concurrently, each with fresh actors.
    pub(crate) async fn run_parallel(
        &mut self,
        step: &Step,
        copies: usize,
        steps: &[Step],
    ) -> Result<(), StepFailure> {
        let shared = self.shared;
        let runs = (0..copies).map(|i| {
            let vars = self.vars.clone();
            let prefix = format!("{}copy{}/", self.flow_prefix, i + 1);
            async move {
                let mut copy = Session::new(shared, prefix, vars, None);
                let result = copy.run_steps(steps, Some(step.number)).await;
                copy.teardown().await;
                (result, copy.transcript)
            }
        });
        let all = futures::future::join_all(runs);
        let results = match step.timeout {
            None => all.await,
            Some(limit) => match tokio::time::timeout(limit, all).await {
                Ok(r) => r,
                Err(_) => {
                    let failure = Failure::msg(format!(
                        "the {copies} copies did not all finish within {}",
                        humantime::format_duration(limit)
                    ));
                    self.transcript.push(Entry::Step {
                        step: step.number,
                        actor: "-".into(),
                        action: "parallel".into(),
                        detail: format!("{copies} copies").into(),
                        outcome: Outcome::Failed(failure.clone()),
                    });
                    return Err(StepFailure {
                        step: step.number,
                        line: step.line,
                        span: Some(step.span),
                        actor: "-".into(),
                        action: "parallel".into(),
                        failure,
                    });
                }
            },
        };
        let failed = results.iter().filter(|(r, _)| r.is_err()).count();
        let first = results
            .iter()
            .enumerate()
            .find_map(|(i, (r, t))| r.as_ref().err().map(|f| (i, f, t)));
        let detail = format!("{copies} copies");
        match first {
            None => {
                self.transcript.push(Entry::Step {
                    step: step.number,
                    actor: "-".into(),
                    action: "parallel".into(),
                    detail: format!("{detail}: all {copies} passed").into(),
                    outcome: Outcome::Ok,
                });
                Ok(())
            }
            Some((index, inner, copy_transcript)) => {
                let failure = Failure {
                    message: format!(
                        "{failed} of {copies} copies failed; the first, copy {}, failed at `{}` by {}: {}",
                        index + 1,
                        inner.action,
                        inner.actor,
                        inner.failure.message
                    ),
                    expected: inner.failure.expected.clone(),
                    actual: inner.failure.actual.clone(),
                    evidence: inner.failure.evidence.clone(),
                    target_explained: inner.failure.target_explained,
                };
                self.transcript.push(Entry::Step {
                    step: step.number,
                    actor: "-".into(),
                    action: "parallel".into(),
                    detail: format!("{detail}: {} passed, {failed} failed", copies - failed).into(),
                    outcome: Outcome::Failed(failure.clone()),
                });
                self.transcript.note(format!("copy {} in full:", index + 1));
                for line in copy_transcript.render().lines() {
                    self.transcript.note(format!("  {line}"));
                }
                Err(StepFailure {
                    step: step.number,
                    line: inner.line,
                    span: inner.span,
                    actor: inner.actor.clone(),
                    action: inner.action.clone(),
                    failure,
                })
            }
        }
    }
}
