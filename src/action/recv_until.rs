/*!
`recv_until`: read a TCP stream through a delimiter (an HTTP header block, a protocol
terminator); an optional `match` checks what was read before it.
*/

use super::recv_match::{check_optional, with_match};
use super::{Action, BASE, Decl, Session, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::scenario::model::{Pattern, Step, Template};
use crate::scenario::raw::span;
use crate::transcript::show_bytes;

/// `recv_until`.
pub const RECV_UNTIL: Decl = Decl {
    word: Word {
        name: "recv_until",
        value: ValueType::Text,
        about: "TCP: read through this delimiter (optional `match` on what was read)",
    },
    kinds: super::STREAM,
    waits: true,
    captures: true,
    modifiers: &["match"],
    parse,
    ..BASE
};

/// `recv_until`.
#[derive(Debug, Clone)]
pub struct RecvUntil {
    /// The delimiter.
    pub delimiter: Template,
    /// `match`.
    pub pattern: Option<Pattern>,
}

fn parse(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    if cx.string()?.is_empty() {
        return Err(
            Problem::new(span(cx.value()), "`recv_until` needs a delimiter", "empty").help(
                "write the bytes that end what is read, like `recv_until = \"\\r\\n\\r\\n\"`",
            ),
        );
    }
    let delimiter = cx.own_text()?;
    let pattern = cx.match_modifier()?;
    Ok(Action::RecvUntil(RecvUntil { delimiter, pattern }))
}

super::plain_action!(RecvUntil, "recv_until");

impl RecvUntil {
    /// The delimiter as written, and the pattern.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        with_match(show_bytes(self.delimiter.raw().as_bytes()), &self.pattern)
    }

    /// Reads through the delimiter; the capture is what came before it.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let delim = cx.render(&self.delimiter)?;
        let what = format!("the delimiter {}", show_bytes(delim.as_bytes()));
        let deadline = tokio::time::Instant::now() + cx.timeout(step);
        let got = cx
            .tcp(&step.actor)?
            .recv_through(delim.as_bytes(), &what, deadline)
            .await?;
        check_optional(cx, &self.pattern, &got[..got.len() - delim.len()])
    }
}
