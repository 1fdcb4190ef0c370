/*!
How a TCP step's failure reads: bytes that differ (read on to a point the bytes fix, so
the report never depends on timing), a read that brought no data (EOF, RST, timeout, the
receive budget), a write the peer refused; with what arrived and what the step expected,
for the reports.
*/

use std::io;

use tokio::time::Instant;

use super::scan::{fill_wildcards, first_difference, strip_eol};
use super::{Read, STEP_CAP, TcpActor, is_reset};
use crate::transcript::{EVIDENCE_LIMIT, Evidence, EvidenceKind, Failure, show_bytes, show_hex};

/// The message of a step stopped by the receive budget.
pub(super) fn over_budget_message() -> String {
    format!(
        "netdrill's memory for received data is used up ({} MiB for all connections of this run, {} MiB of it in use): too many copies buffer too much at once",
        crate::limits::RECEIVE_BUDGET >> 20,
        crate::limits::receive_budget_used() >> 20
    )
}

impl TcpActor {
    /// After a mismatch at byte `at`: reads on until the line holding it ends, at most
    /// [`EVIDENCE_LIMIT`] bytes past it (or EOF, RST, the deadline); returns how many
    /// bytes to report. What is reported depends on the bytes the peer sent, not on how
    /// they were split into reads.
    pub(super) async fn settle(&mut self, at: usize, deadline: Instant) -> usize {
        let limit = at + EVIDENCE_LIMIT;
        loop {
            if let Some(pos) = self.buf[at..].iter().position(|&b| b == b'\n') {
                return (at + pos + 1).min(limit);
            }
            if self.buf.len() >= limit {
                return limit;
            }
            if self.eof || self.reset || self.buf.len() >= STEP_CAP {
                return self.buf.len();
            }
            if !matches!(self.fill(deadline).await, Read::Data) {
                return self.buf.len().min(limit);
            }
        }
    }

    /// The failure of `recv` / `recv_hex` whose bytes differ at `at`: text through the
    /// end of the line that differs, hex through the first wrong byte.
    pub(super) async fn exact_mismatch(
        &mut self,
        expected: &[u8],
        any: &[bool],
        at: usize,
        kind: EvidenceKind,
        deadline: Instant,
    ) -> Failure {
        let shown = if kind == EvidenceKind::Hex {
            at + 1
        } else {
            self.settle(at, deadline).await
        };
        let arrived = &self.buf[..shown];
        let show = if kind == EvidenceKind::Hex {
            show_hex
        } else {
            show_bytes
        };
        let evidence = Evidence::compare(kind, &fill_wildcards(expected, any, arrived), arrived)
            .cut(if kind == EvidenceKind::Hex {
                "through the first wrong byte"
            } else {
                "through the line that differs"
            });
        Failure::diff(
            format!(
                "received bytes differ from the expected ones at byte {}",
                at + 1
            ),
            show(expected),
            show(arrived),
        )
        .with_evidence(evidence)
    }

    /// The failure of `recv_line` whose line can no longer match: the whole line (or what
    /// arrived of it, up to the bound, when its end never came).
    pub(super) async fn line_mismatch(&mut self, want: &[u8], deadline: Instant) -> Failure {
        let at = first_difference(&self.buf, want).unwrap_or(
            // The line goes on past its expected end (a `\r` there may still be the end
            // of the line: the wrong byte is the one after it).
            want.len() + usize::from(self.buf.get(want.len()) == Some(&b'\r')),
        );
        let shown = self.settle(at.min(self.buf.len() - 1), deadline).await;
        let arrived = &self.buf[..shown];
        let (line, message) = match arrived.strip_suffix(b"\n") {
            Some(_) => (strip_eol(arrived), "the line differs from the expected one"),
            None => (
                arrived,
                "the line differs from the expected one (its end did not arrive)",
            ),
        };
        let actual = if line.len() == arrived.len() {
            format!("{} (no newline)", show_bytes(line))
        } else {
            show_bytes(line)
        };
        Failure::diff(message, show_bytes(want), actual).with_evidence(Evidence::compare(
            EvidenceKind::Text,
            want,
            line,
        ))
    }

    /// What arrived so far against `expected`, for the reports.
    pub(super) fn arrived_against(
        &self,
        kind: EvidenceKind,
        expected: &[u8],
        end: &'static str,
    ) -> Evidence {
        Evidence::compare(kind, expected, &self.buf).ended(end)
    }

    /// The failure for a read that brought no data.
    pub(super) fn stopped(&self, read: Read, context: &str, expected: String) -> Failure {
        // What arrived, and how the stream ended after it.
        let end = match read {
            Read::Eof => " then EOF",
            Read::Reset => " then RST",
            _ => "",
        };
        let message = match read {
            Read::Eof => format!("the peer closed the connection (EOF) {context}"),
            Read::Reset => format!("the peer reset the connection (RST) {context}"),
            Read::TimedOut => format!("timed out {context}"),
            Read::Error(e) => format!("read failed ({e}) {context}"),
            Read::OverBudget => format!("{} {context}", over_budget_message()),
            Read::Data => format!("unexpected data {context}"),
        };
        let actual = format!("{}{end}", show_bytes(&self.buf));
        if expected.is_empty() {
            Failure {
                message,
                expected: None,
                actual: (!self.buf.is_empty() || !end.is_empty()).then_some(actual),
                evidence: None,
                target_explained: false,
            }
        } else {
            Failure::diff(message, expected, actual)
        }
    }
}

/// `1 byte`, `2 bytes`.
pub fn bytes_word(n: usize) -> String {
    if n == 1 {
        "1 byte".to_string()
    } else {
        format!("{n} bytes")
    }
}

/// A failed write, with what the peer had sent before (it often explains why).
pub(super) fn write_failure(e: &io::Error, received: &[u8], eof: bool) -> Failure {
    let mut f = if is_reset(e) || e.kind() == io::ErrorKind::BrokenPipe {
        Failure::msg(format!(
            "could not write: the peer closed or reset the connection ({e})"
        ))
    } else {
        Failure::msg(format!("could not write: {e}"))
    };
    if !received.is_empty() || eof {
        let mut shown = if received.is_empty() {
            "nothing".to_string()
        } else {
            show_bytes(received)
        };
        if eof {
            shown.push_str(" then EOF");
        }
        f.message
            .push_str(&format!("; before that the peer had sent {shown}"));
        f.actual = Some(shown);
    }
    f
}

/// How a stream ended after what arrived, for a read that brought no data.
pub(super) fn other_end(read: &Read) -> &'static str {
    match read {
        Read::Eof => " then EOF",
        Read::Reset => " then RST",
        _ => "",
    }
}

/// A write that the wait ended: how much the connection took, and how fast, so a peer
/// that reads one byte a second is told apart from one that stopped reading.
pub(super) fn slow_reader(total: usize, unsent: usize, waited: std::time::Duration) -> Failure {
    let taken = total - unsent;
    let secs = waited.as_secs_f64().max(0.001);
    let wait =
        humantime::format_duration(std::time::Duration::from_millis(waited.as_millis() as u64));
    if taken == 0 {
        return Failure::msg(format!(
            "could not write: the peer stopped reading; the connection took none of these {total} bytes in {wait} (what it had taken before fills its buffers)"
        ));
    }
    Failure::msg(format!(
        "could not write: the peer reads slowly; the connection took {taken} of these {total} bytes in {wait} (about {:.0} bytes/s), and {unsent} were still unsent when the wait ended",
        taken as f64 / secs
    ))
}
