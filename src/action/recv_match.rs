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

/// Matches `text`; the capture is the first group, or the whole match.
pub(super) fn matched(re: &regex::Regex, text: &str) -> Result<String, Failure> {
    match re.captures(text) {
        Some(c) => Ok(c
            .get(1)
            .or_else(|| c.get(0))
            .map(|m| m.as_str().to_string())
            .unwrap_or_default()),
        None => {
            let pattern = format!("/{}/", re.as_str());
            Err(Failure::diff(
                "what arrived does not match the pattern",
                pattern.clone(),
                show_bytes(text.as_bytes()),
            )
            .with_evidence(Evidence::pattern(&pattern, text.as_bytes())))
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
    text: String,
) -> StepOutput {
    match pattern {
        Some(p) => matched(&cx.regex(p)?, &text).map(Some),
        None => Ok(Some(text)),
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
        let text = if cx.is_udp(name) {
            let (got, sender) = cx.udp_recv(name, step.resend, timeout).await?;
            cx.check_from(&self.from, sender)?;
            String::from_utf8_lossy(&got).into_owned()
        } else {
            let deadline = tokio::time::Instant::now() + timeout;
            let raw = cx
                .tcp(name)?
                .recv_through(b"\n", "a line (through \\n)", deadline)
                .await?;
            String::from_utf8_lossy(strip_eol(&raw)).into_owned()
        };
        matched(&re, &text).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_capture_is_the_first_group_or_the_match() {
        let re = regex::Regex::new(r"id=(\d+)").unwrap();
        assert_eq!(matched(&re, "id=42 ok").unwrap(), "42");
        let re = regex::Regex::new(r"\d+").unwrap();
        assert_eq!(matched(&re, "id=42 ok").unwrap(), "42");
        assert!(matched(&re, "none").is_err());
    }
}
