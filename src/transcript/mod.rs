/*!
Transcripts: what a run did, as plain data with no ports, times or PIDs.

A [`Transcript`] is a list of [`Entry`]s, one per step (plus target and link events),
rendered to text by [`Transcript::render`]. The same scenario against the same program
gives the same transcript, so it can be pinned by a snapshot.
*/

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

mod detail;
mod escape;
mod evidence;

pub use detail::Detail;
pub use escape::{SHOW_LIMIT, escape_bytes, show_bytes, show_hex};
pub use evidence::{EVIDENCE_LIMIT, Evidence, EvidenceKind};

/// The outcome of one step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// The step did what the scenario says.
    Ok,
    /// The step failed.
    Failed(Failure),
}

/// Why a step failed, with expected and actual data where there are some.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// One sentence: what went wrong.
    pub message: String,
    /// What the scenario expected (shown escaped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What actually arrived (shown escaped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// The compared bytes in full (up to a bound), for the reports; not part of the
    /// transcript.
    #[serde(skip)]
    pub evidence: Option<Box<Evidence>>,
    /// The message already says how the target ended (nothing to add about it).
    #[serde(skip)]
    pub target_explained: bool,
}

impl Failure {
    /// A failure with a message only.
    pub fn msg(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            expected: None,
            actual: None,
            evidence: None,
            target_explained: false,
        }
    }

    /// A failure with expected and actual values.
    pub fn diff(
        message: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Failure {
        Failure {
            message: message.into(),
            expected: Some(expected.into()),
            actual: Some(actual.into()),
            evidence: None,
            target_explained: false,
        }
    }

    /// The same failure, with the compared bytes for the reports.
    pub fn with_evidence(mut self, evidence: Evidence) -> Failure {
        self.evidence = Some(Box::new(evidence));
        self
    }
}

/// One line of a transcript.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A step ran.
    Step {
        /// Its number in `steps` (for a step inside `parallel`, the outer step's number).
        step: usize,
        /// Who did it.
        actor: String,
        /// The action word (a `'static` word for every step: no copy per step).
        action: std::borrow::Cow<'static, str>,
        /// What it sent or read, escaped and shortened when shown.
        detail: Detail,
        /// What happened.
        outcome: Outcome,
    },
    /// Something the target or the runner did outside a step.
    Note {
        /// The text.
        text: String,
    },
    /// A decision of the impairing link.
    Link {
        /// `to_target` or `from_target`.
        direction: String,
        /// The flow (actor) it concerns.
        flow: String,
        /// 1-based position of the datagram (or TCP piece) in its flow and direction.
        seq: u64,
        /// `dropped`, `duplicated`, `held back`, `delayed 20ms`, …
        decision: String,
    },
}

/// What a run did, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Transcript {
    /// The entries, in the order they happened (link decisions sorted by flow).
    pub entries: Vec<Entry>,
}

impl Transcript {
    /// An empty transcript.
    pub fn new() -> Transcript {
        Transcript::default()
    }

    /// Appends an entry.
    pub fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
    }

    /// Appends a note.
    pub fn note(&mut self, text: impl Into<String>) {
        self.entries.push(Entry::Note { text: text.into() });
    }

    /// The first failed step, if any.
    pub fn first_failure(&self) -> Option<(usize, &Failure)> {
        self.entries.iter().find_map(|e| match e {
            Entry::Step {
                step,
                outcome: Outcome::Failed(f),
                ..
            } => Some((*step, f)),
            _ => None,
        })
    }

    /// Renders the transcript as text, one line per entry (a failure adds
    /// `expected:` / `actual:` lines under its step).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for entry in &self.entries {
            render_entry(&mut out, entry);
        }
        out
    }
}

fn render_entry(out: &mut String, entry: &Entry) {
    match entry {
        Entry::Step {
            step,
            actor,
            action,
            detail,
            outcome,
        } => {
            let status = match outcome {
                Outcome::Ok => "ok",
                Outcome::Failed(_) => "FAILED",
            };
            let _ = write!(out, "{step:>3} {actor} {action}");
            if !detail.is_empty() {
                let _ = write!(out, " {detail}");
            }
            let _ = writeln!(out, " -> {status}");
            if let Outcome::Failed(f) = outcome {
                for line in f.message.lines() {
                    let _ = writeln!(out, "      {line}");
                }
                if let Some(e) = &f.expected {
                    let _ = writeln!(out, "      expected: {e}");
                }
                if let Some(a) = &f.actual {
                    let _ = writeln!(out, "      actual:   {a}");
                }
            }
        }
        Entry::Note { text } => {
            let _ = writeln!(out, "  # {text}");
        }
        Entry::Link {
            direction,
            flow,
            seq,
            decision,
        } => {
            let _ = writeln!(out, "  ~ link {direction} {flow} #{seq}: {decision}");
        }
    }
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_steps_notes_and_failures() {
        let mut t = Transcript::new();
        t.note("target ready");
        t.push(Entry::Step {
            step: 1,
            actor: "client".into(),
            action: "send".into(),
            detail: show_bytes(b"hi\n").into(),
            outcome: Outcome::Ok,
        });
        t.push(Entry::Step {
            step: 2,
            actor: "client".into(),
            action: "recv_line".into(),
            detail: "\"HI\"".into(),
            outcome: Outcome::Failed(Failure::diff("line differs", "\"HI\"", "\"hi\"")),
        });
        let text = t.render();
        assert_eq!(
            text,
            "  # target ready\n  1 client send \"hi\\n\" -> ok\n  2 client recv_line \"HI\" -> FAILED\n      line differs\n      expected: \"HI\"\n      actual:   \"hi\"\n"
        );
        assert_eq!(t.first_failure().map(|(s, _)| s), Some(2));
    }
}
