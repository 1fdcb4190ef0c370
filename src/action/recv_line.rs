/*!
`recv_line`: the next line of a TCP stream (without its `\n`, and a `\r` before it)
equals this; however the line arrives, in one read or many.
*/

use super::{Action, BASE, Decl, Session, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::scenario::model::{Step, Template};
use crate::scenario::raw;

/// `recv_line`.
pub const RECV_LINE: Decl = Decl {
    word: Word {
        name: "recv_line",
        value: ValueType::Text,
        about: "TCP: the next line (without \\n, and a \\r before it) equals this",
    },
    kinds: super::STREAM,
    waits: true,
    captures: true,
    parse,
    ..BASE
};

/// `recv_line`.
#[derive(Debug, Clone)]
pub struct RecvLine {
    /// The line expected.
    pub expect: Template,
}

fn parse(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    let s = cx.string()?;
    if let Some(i) = s.find('\n') {
        return Err(Problem::new(
            raw::string_span(cx.src(), cx.value(), i, 1),
            "`recv_line` compares one line, without its `\\n`",
            "a newline",
        )
        .help("remove the `\\n` (it is read but not compared), or use `recv` for exact bytes"));
    }
    Ok(Action::RecvLine(RecvLine {
        expect: cx.own_text()?,
    }))
}

super::plain_action!(RecvLine, "recv_line");

impl RecvLine {
    /// The line expected.
    pub fn detail(&self, cx: &Session<'_, '_>) -> crate::transcript::Detail {
        cx.shown_text(&self.expect)
    }

    /// Reads a line and compares it.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let want = cx.render_shared(&self.expect)?;
        let deadline = tokio::time::Instant::now() + cx.timeout(step);
        let line = cx.tcp(&step.actor)?.recv_line(&want, deadline).await?;
        Ok(Some(line))
    }
}
