/*!
`recv` and `recv_hex`: on TCP the next bytes are exactly these (however many reads they
take); on UDP the next datagram is exactly this one, optionally `from` someone, with
`resend` for stop-and-wait retransmission.
*/

use std::borrow::Cow;
use std::sync::Arc;

use super::{Action, BASE, Decl, Session, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::interp::tcp::{fill_wildcards, masked_difference};
use crate::scenario::model::{Payload, Scenario, Step, Template};
use crate::scenario::{raw, values};
use crate::transcript::{Evidence, EvidenceKind, Failure, SHOW_LIMIT, show_bytes, show_hex};

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
    modifiers: &["from", "resend", "prefix"],
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
    /// `recv_hex` with `??`: per byte, whether any byte will do (empty when none does).
    pub any: Vec<bool>,
    /// UDP: who must have sent the datagram.
    pub from: Option<Template>,
    /// UDP, `prefix = true`: the datagram starts with these bytes; what follows is not
    /// checked (a DNS answer by its id and flags, say).
    pub prefix: bool,
}

fn parse(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    let (expect, any) = if cx.word() == "recv_hex" {
        let text = cx.string()?;
        let value = cx.value();
        if let Some(t) = cx.hex_text("recv_hex", value, text, true)? {
            (Payload::HexTemplate(t), Vec::new())
        } else {
            let (bytes, any) = values::hex_pattern(cx.src(), "recv_hex", value, text, true)?;
            (Payload::Hex(bytes), any)
        }
    } else {
        (cx.payload()?, Vec::new())
    };
    let from = cx.peer_modifier("from")?;
    let prefix = match cx.modifier("prefix") {
        None => false,
        Some((v, _)) => {
            raw::expect_true("prefix", v)?;
            true
        }
    };
    Ok(Action::Recv(Recv {
        expect,
        any,
        from,
        prefix,
    }))
}

/// `[12 34 ?? ??]`: hex with its wildcards, shortened past 64 bytes as the transcript
/// shortens hex (only the bytes shown get their `??`).
fn shown_with_wildcards(bytes: &[u8], any: &[bool]) -> String {
    let mut shown = show_hex(bytes);
    let visible = if bytes.len() <= SHOW_LIMIT {
        bytes.len()
    } else {
        32
    };
    for i in (0..visible).filter(|&i| any.get(i).copied().unwrap_or(false)) {
        // `[` then two digits and a space per byte.
        shown.replace_range(1 + 3 * i..3 + 3 * i, "??");
    }
    shown
}

/// Whether datagram `got` is the expected one (`any`: wildcard bytes; `prefix`: it only
/// has to start with `want`).
fn datagram_matches(want: &[u8], any: &[bool], prefix: bool, got: &[u8]) -> bool {
    let long_enough = if prefix {
        got.len() >= want.len()
    } else {
        got.len() == want.len()
    };
    long_enough && masked_difference(got, want, any).is_none()
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

/// The bytes a `recv` expects, and per byte whether any will do (empty when none will).
type Expected<'a> = (Arc<[u8]>, Cow<'a, [bool]>);

impl Recv {
    /// `recv` or `recv_hex`.
    pub fn word(&self) -> &'static str {
        match self.expect {
            Payload::Text(_) => "recv",
            Payload::Hex(_) | Payload::HexTemplate(_) => "recv_hex",
        }
    }

    /// A datagram `from = "target"`.
    pub fn uses_target(&self, _: &Step, _: &Scenario) -> bool {
        from_target(&self.from)
    }

    /// The bytes expected (`??` for any byte, `(prefix)` when only the start is
    /// checked), and from whom.
    pub fn detail(&self, cx: &Session<'_, '_>) -> String {
        let mut shown = match &self.expect {
            Payload::Hex(b) if !self.any.is_empty() => shown_with_wildcards(b, &self.any),
            Payload::HexTemplate(t) => match cx.hex(t, true) {
                Ok((b, any)) if !any.is_empty() => shown_with_wildcards(&b, &any),
                Ok((b, _)) => show_hex(&b),
                Err(_) => format!("\"{t}\""),
            },
            other => cx.shown(other).to_string(),
        };
        if self.prefix {
            shown.push_str(" (prefix)");
        }
        with_from(shown, &self.from)
    }

    /// The bytes expected, and per byte whether any will do (empty when none will).
    fn expected(&self, cx: &Session<'_, '_>) -> Result<Expected<'_>, Failure> {
        match &self.expect {
            Payload::HexTemplate(t) => {
                let (bytes, any) = cx.hex(t, true)?;
                Ok((bytes.into(), Cow::Owned(any)))
            }
            other => Ok((cx.bytes(other)?, Cow::Borrowed(&self.any))),
        }
    }

    /// Reads and compares.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let name = step.actor.as_str();
        let timeout = cx.timeout(step);
        let (want, any) = self.expected(cx)?;
        let hex = self.expect.is_hex();
        if cx.is_udp(name) {
            let (got, sender) = cx.udp_recv(name, step.resend, timeout).await?;
            cx.check_from(&self.from, sender)?;
            if !datagram_matches(&want, &any, self.prefix, &got) {
                return Err(self.datagram_differs(&want, &any, &got, hex));
            }
            return Ok(Some(got));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let got = cx.tcp(name)?.recv_exact(&want, &any, hex, deadline).await?;
        Ok(Some(got))
    }

    /// The failure of a datagram that is not the expected one (`any`: its wildcards).
    fn datagram_differs(&self, want: &[u8], any: &[bool], got: &[u8], hex: bool) -> Failure {
        let (show, kind): (fn(&[u8]) -> String, _) = if hex {
            (show_hex, EvidenceKind::Hex)
        } else {
            (show_bytes, EvidenceKind::Text)
        };
        let filled = fill_wildcards(want, any, got);
        // With `prefix`, what follows the expected bytes is not compared.
        let compared = if self.prefix && got.len() >= want.len() {
            &got[..want.len()]
        } else {
            got
        };
        let message = if self.prefix {
            "the datagram does not start with the expected bytes"
        } else {
            "the datagram differs from the expected one"
        };
        let expected = if any.is_empty() {
            show(want)
        } else {
            shown_with_wildcards(want, any)
        };
        Failure::diff(message, expected, show(got))
            .with_evidence(Evidence::compare(kind, &filled, compared))
    }
}
