/*!
`recv_bytes`: read exactly N bytes of a TCP stream (a fixed-size binary header, a body
of known length); an optional `match` checks them.
*/

use super::recv_match::{check_optional, with_match};
use super::{Action, BASE, Decl, Session, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::scenario::model::{Pattern, Step};
use crate::scenario::raw;

/// The most bytes a `recv_bytes` step may ask for.
pub const MAX_RECV_BYTES: i64 = crate::limits::STEP_CAP as i64;

/// `recv_bytes`.
pub const RECV_BYTES: Decl = Decl {
    word: Word {
        name: "recv_bytes",
        value: ValueType::Positive,
        about: "TCP: read exactly this many bytes (optional `match`)",
    },
    kinds: super::STREAM,
    waits: true,
    captures: true,
    modifiers: &["match"],
    parse,
    ..BASE
};

/// `recv_bytes`.
#[derive(Debug, Clone)]
pub struct RecvBytes {
    /// How many.
    pub count: usize,
    /// `match`.
    pub pattern: Option<Pattern>,
}

fn parse(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    let count = raw::expect_int_in("recv_bytes", cx.value(), 1, MAX_RECV_BYTES)? as usize;
    let pattern = cx.match_modifier()?;
    Ok(Action::RecvBytes(RecvBytes { count, pattern }))
}

super::plain_action!(RecvBytes, "recv_bytes");

impl RecvBytes {
    /// The count, and the pattern.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        with_match(self.count.to_string(), &self.pattern)
    }

    /// Reads exactly `count` bytes.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let deadline = tokio::time::Instant::now() + cx.timeout(step);
        let got = cx
            .tcp(&step.actor)?
            .recv_count(self.count, deadline)
            .await?;
        let text = String::from_utf8_lossy(&got).into_owned();
        check_optional(cx, &self.pattern, text)
    }
}
