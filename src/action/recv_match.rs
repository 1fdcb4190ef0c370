/*!
`recv_match`: the next line (TCP) or datagram (UDP) matches a regex; the capture is its
first group, or the whole match.
*/

use super::recv::{from_target, with_from};
use super::{Action, BASE, Decl, Session, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::interp::tcp::strip_eol;
use crate::scenario::model::{Pattern, Scenario, Step, Template};
use crate::transcript::{Evidence, Failure, show_bytes};

/// `recv_match`.
pub const RECV_MATCH: Decl = Decl {
    word: Word {
        name: "recv_match",
        value: ValueType::Regex,
        about: "the next line (TCP) or datagram (UDP) matches this regex",
    },
    kinds: super::STREAM_OR_UDP,
    waits: true,
    captures: true,
    modifiers: &["from", "resend"],
    parse,
    ..BASE
};

/// `recv_match`.
#[derive(Debug, Clone)]
pub struct RecvMatch {
    /// The regex.
    pub pattern: Pattern,
    /// UDP: who must have sent the datagram.
    pub from: Option<Template>,
}

fn parse(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    let pattern = cx.pattern("recv_match", cx.value())?;
    let from = cx.peer_modifier("from")?;
    Ok(Action::RecvMatch(RecvMatch { pattern, from }))
}

/// Matches the bytes that arrived; the capture is the first group, or the whole match.
pub(super) fn matched(re: &regex::bytes::Regex, data: &[u8]) -> Result<Vec<u8>, Failure> {
    match re.captures(data) {
        Some(c) => Ok(c
            .get(1)
            .or_else(|| c.get(0))
            .map(|m| m.as_bytes().to_vec())
            .unwrap_or_default()),
        None => {
            let pattern = format!("/{}/", re.as_str());
            Err(Failure::diff(
                "what arrived does not match the pattern",
                pattern.clone(),
                show_bytes(data),
            )
            .with_evidence(Evidence::pattern(&pattern, data)))
        }
    }
}

/// ` match /re/` after a detail, when there is a pattern.
pub(super) fn with_match(mut detail: String, pattern: &Option<Pattern>) -> String {
    if let Some(p) = pattern {
        detail.push_str(&format!(" match /{}/", p.template));
    }
    detail
}

/// What was read, checked against `pattern` when there is one: the capture.
pub(super) fn check_optional(
    cx: &Session<'_, '_>,
    pattern: &Option<Pattern>,
    data: &[u8],
) -> StepOutput {
    match pattern {
        Some(p) => matched(&cx.regex(p)?, data).map(Some),
        None => Ok(Some(data.to_vec())),
    }
}

impl RecvMatch {
    /// The action's word.
    pub fn word(&self) -> &'static str {
        "recv_match"
    }

    /// A datagram `from = "target"`.
    pub fn uses_target(&self, _: &Step, _: &Scenario) -> bool {
        from_target(&self.from)
    }

    /// The regex, and from whom.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        with_from(format!("/{}/", self.pattern.template), &self.from)
    }

    /// Reads a line or a datagram and matches it.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let name = step.actor.as_str();
        let timeout = cx.timeout(step);
        let re = cx.regex(&self.pattern)?;
        let data = if cx.is_udp(name) {
            let (got, sender) = cx.udp_recv(name, step.resend, timeout).await?;
            cx.check_from(&self.from, sender)?;
            got
        } else {
            let deadline = tokio::time::Instant::now() + timeout;
            let raw = cx
                .tcp(name)?
                .recv_through(b"\n", "a line (through \\n)", deadline)
                .await?;
            strip_eol(&raw).to_vec()
        };
        matched(&re, &data).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::values::compile_regex;

    #[test]
    fn the_capture_is_the_first_group_or_the_match() {
        let re = compile_regex(r"id=(\d+)").unwrap();
        assert_eq!(matched(&re, b"id=42 ok").unwrap(), b"42");
        let re = compile_regex(r"\d+").unwrap();
        assert_eq!(matched(&re, b"id=42 ok").unwrap(), b"42");
        assert!(matched(&re, b"none").is_err());
    }

    #[test]
    fn patterns_match_bytes_as_they_arrived() {
        // A DNS answer: id 0x1234, flags 0x8180 (a response, no error).
        let re = compile_regex(r"^\x12\x34\x81\x80").unwrap();
        assert!(re.is_match(&[0x12, 0x34, 0x81, 0x80, 0, 1]));
        assert!(!re.is_match(&[0x12, 0x34, 0x81, 0x83]));
        // Any byte, not a UTF-8 character.
        assert!(
            compile_regex(r"^..\x81")
                .unwrap()
                .is_match(&[0xff, 0xfe, 0x81])
        );
        // Unicode classes still work, in Unicode mode.
        assert!(
            compile_regex(r"^\p{L}+$")
                .unwrap()
                .is_match("héllo".as_bytes())
        );
    }
}
