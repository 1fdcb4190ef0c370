/*!
Ending a socket from this side: `shutdown` (half-close: `shutdown(2)` with SHUT_WR,
SHUT_RD or SHUT_RDWR), `close` (FIN, or just closing a UDP socket or listener) and
`abort` (close with an RST, SO_LINGER 0).
*/

use super::{Action, BASE, Decl, Session, State, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::interp::session::Actor;
use crate::scenario::model::{ActorKind, Step};
use crate::scenario::raw;
use crate::scenario::values::one_of_words;

/// `shutdown`.
pub const SHUTDOWN: Decl = Decl {
    word: Word {
        name: "shutdown",
        value: ValueType::OneOf(&["write", "read", "both"]),
        about: "TCP: shutdown(2) with SHUT_WR, SHUT_RD or SHUT_RDWR",
    },
    kinds: super::STREAM,
    parse: parse_shutdown,
    ..BASE
};

/// `close`.
pub const CLOSE: Decl = Decl {
    word: Word {
        name: "close",
        value: ValueType::True,
        about: "close the socket normally (FIN)",
    },
    kinds: &[
        ActorKind::TcpListener,
        ActorKind::TcpClient,
        ActorKind::TcpAccepted,
        ActorKind::Udp,
    ],
    state: State::Closes,
    parse: |cx| {
        raw::expect_true("close", cx.value())?;
        Ok(Action::Close(Close))
    },
    ..BASE
};

/// `abort`.
pub const ABORT: Decl = Decl {
    word: Word {
        name: "abort",
        value: ValueType::True,
        about: "TCP: close with an RST (SO_LINGER 0)",
    },
    kinds: super::STREAM,
    state: State::Closes,
    parse: |cx| {
        raw::expect_true("abort", cx.value())?;
        Ok(Action::Abort(Abort))
    },
    ..BASE
};

/// `shutdown(2)`'s `how`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownHow {
    /// SHUT_WR: no more sending; the peer reads EOF.
    Write,
    /// SHUT_RD: no more receiving.
    Read,
    /// SHUT_RDWR.
    Both,
}

/// `shutdown`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shutdown(pub ShutdownHow);

/// `close = true`.
#[derive(Debug, Clone)]
pub struct Close;

/// `abort = true`.
#[derive(Debug, Clone)]
pub struct Abort;

fn parse_shutdown(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    let how = match one_of_words("shutdown", cx.value(), &["write", "read", "both"])? {
        "write" => ShutdownHow::Write,
        "read" => ShutdownHow::Read,
        _ => ShutdownHow::Both,
    };
    Ok(Action::Shutdown(Shutdown(how)))
}

super::plain_action!(Shutdown, "shutdown");
super::plain_action!(Close, "close");
super::plain_action!(Abort, "abort");

impl Shutdown {
    /// `write`, `read` or `both`.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        format!("{:?}", self.0).to_lowercase()
    }

    /// Half-closes (or fully closes) the stream.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let how = match self.0 {
            ShutdownHow::Write => std::net::Shutdown::Write,
            ShutdownHow::Read => std::net::Shutdown::Read,
            ShutdownHow::Both => std::net::Shutdown::Both,
        };
        cx.tcp(&step.actor)?.shutdown(how)?;
        Ok(None)
    }
}

impl Close {
    /// Nothing to add to the word.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        String::new()
    }

    /// Closes the socket: a stream with FIN; a listener or UDP socket is dropped.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        if let Some(Actor::Tcp(mut t)) = cx.remove_actor(&step.actor) {
            t.close();
        }
        Ok(None)
    }
}

impl Abort {
    /// Nothing to add to the word.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        String::new()
    }

    /// Closes with an RST.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        cx.tcp(&step.actor)?.abort()?;
        cx.remove_actor(&step.actor);
        Ok(None)
    }
}
