/*!
`recv` and `recv_hex`: on TCP the next bytes are exactly these (however many reads they
take); on UDP the next datagram is exactly this one, optionally `from` someone, with
`resend` for stop-and-wait retransmission.
*/

use super::{Action, BASE, Decl, Session, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::scenario::model::{Payload, Scenario, Step, Template};
use crate::transcript::{Evidence, EvidenceKind, Failure, show_bytes, show_hex};

/// `recv`.
pub const RECV: Decl = Decl {
    word: Word {
        name: "recv",
        value: ValueType::Text,
        about: "TCP: the next bytes are exactly these; UDP: the next datagram is",
    },
    kinds: super::STREAM_OR_UDP,
    waits: true,
    captures: true,
    modifiers: &["from", "resend"],
    parse,
    ..BASE
};

/// `recv_hex`.
pub const RECV_HEX: Decl = Decl {
    word: Word {
        name: "recv_hex",
        value: ValueType::Hex,
        about: "like recv, with the bytes in hex",
    },
    ..RECV
};

/// `recv` / `recv_hex`.
#[derive(Debug, Clone)]
pub struct Recv {
    /// The bytes expected.
    pub expect: Payload,
    /// UDP: who must have sent the datagram.
    pub from: Option<Template>,
}

fn parse(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    let expect = cx.payload()?;
    let from = cx.peer_modifier("from")?;
    Ok(Action::Recv(Recv { expect, from }))
}

/// `/re/ from "x"` or `"bytes" from "x"`: a detail and its `from`.
pub(super) fn with_from(detail: String, from: &Option<Template>) -> String {
    match from {
        Some(f) => format!("{detail} from \"{f}\""),
        None => detail,
    }
}

/// `from = "target"` talks to the target.
pub(super) fn from_target(from: &Option<Template>) -> bool {
    from.as_ref().is_some_and(|f| f.raw() == "target")
}

impl Recv {
    /// `recv` or `recv_hex`.
    pub fn word(&self) -> &'static str {
        match self.expect {
            Payload::Text(_) => "recv",
            Payload::Hex(_) => "recv_hex",
        }
    }

    /// A datagram `from = "target"`.
    pub fn uses_target(&self, _: &Step, _: &Scenario) -> bool {
        from_target(&self.from)
    }

    /// The bytes expected, and from whom.
    pub fn detail(&self, cx: &Session<'_, '_>) -> String {
        with_from(cx.shown(&self.expect), &self.from)
    }

    /// Reads and compares.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let name = step.actor.as_str();
        let timeout = cx.timeout(step);
        let want = cx.bytes(&self.expect)?;
        let hex = matches!(self.expect, Payload::Hex(_));
        if cx.is_udp(name) {
            let (got, sender) = cx.udp_recv(name, step.resend, timeout).await?;
            cx.check_from(&self.from, sender)?;
            if *got != *want {
                let show = if hex { show_hex } else { show_bytes };
                let kind = if hex {
                    EvidenceKind::Hex
                } else {
                    EvidenceKind::Text
                };
                return Err(Failure::diff(
                    "the datagram differs from the expected one",
                    show(&want),
                    show(&got),
                )
                .with_evidence(Evidence::compare(kind, &want, &got)));
            }
            return Ok(Some(String::from_utf8_lossy(&got).into_owned()));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let got = cx.tcp(name)?.recv_exact(&want, hex, deadline).await?;
        Ok(Some(String::from_utf8_lossy(&got).into_owned()))
    }
}
