/*!
How a TCP stream ends, seen from the reading side, and silence: `recv_eof` (the peer
closed its sending side, with no bytes before), `recv_reset` (the peer reset the
connection) and `silence` (nothing at all arrives for a while, on TCP or UDP).
*/

use std::time::Duration;

use super::{Action, BASE, Decl, Session, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::scenario::model::Step;
use crate::scenario::raw;

/// `recv_eof`.
pub const RECV_EOF: Decl = Decl {
    word: Word {
        name: "recv_eof",
        value: ValueType::True,
        about: "TCP: the peer closed its sending side, with no bytes before",
    },
    kinds: super::STREAM,
    waits: true,
    parse: |cx| {
        raw::expect_true("recv_eof", cx.value())?;
        Ok(Action::RecvEof(RecvEof))
    },
    ..BASE
};

/// `recv_reset`.
pub const RECV_RESET: Decl = Decl {
    word: Word {
        name: "recv_reset",
        value: ValueType::True,
        about: "TCP: the peer reset the connection (RST)",
    },
    kinds: super::STREAM,
    waits: true,
    parse: |cx| {
        raw::expect_true("recv_reset", cx.value())?;
        Ok(Action::RecvReset(RecvReset))
    },
    ..BASE
};

/// `silence`.
pub const SILENCE: Decl = Decl {
    word: Word {
        name: "silence",
        value: ValueType::Duration,
        about: "nothing at all arrives for this long",
    },
    kinds: super::STREAM_OR_UDP,
    waits: true,
    parse: parse_silence,
    ..BASE
};

/// `recv_eof = true`.
#[derive(Debug, Clone)]
pub struct RecvEof;

/// `recv_reset = true`.
#[derive(Debug, Clone)]
pub struct RecvReset;

/// `silence`: nothing arrives for this long.
#[derive(Debug, Clone)]
pub struct Silence(pub Duration);

fn parse_silence(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    Ok(Action::Silence(Silence(raw::expect_duration(
        "silence",
        cx.value(),
        false,
    )?)))
}

super::plain_action!(RecvEof, "recv_eof");
super::plain_action!(RecvReset, "recv_reset");
super::plain_action!(Silence, "silence");

impl RecvEof {
    /// Nothing to add to the word.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        String::new()
    }

    /// Waits for EOF.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let timeout = cx.timeout(step);
        let deadline = tokio::time::Instant::now() + timeout;
        cx.tcp(&step.actor)?.recv_eof(deadline, timeout).await?;
        Ok(None)
    }
}

impl RecvReset {
    /// Nothing to add to the word.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        String::new()
    }

    /// Waits for a reset.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let timeout = cx.timeout(step);
        let deadline = tokio::time::Instant::now() + timeout;
        cx.tcp(&step.actor)?.recv_reset(deadline, timeout).await?;
        Ok(None)
    }
}

impl Silence {
    /// How long.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        humantime::format_duration(self.0).to_string()
    }

    /// Fails if anything arrives within the span.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let name = step.actor.as_str();
        if cx.is_udp(name) {
            cx.udp(name)?.silence(self.0).await?;
        } else {
            cx.tcp(name)?.silence(self.0).await?;
        }
        Ok(None)
    }
}
