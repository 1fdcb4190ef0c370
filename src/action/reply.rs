/*!
`reply` and `reply_hex`: a UDP socket sends one datagram back to the sender of the last
datagram it received (the server takes the client's address from what it received).
*/

use super::{Action, BASE, Decl, Session, State, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::scenario::model::{ActorKind, Payload, Step};

/// `reply`.
pub const REPLY: Decl = Decl {
    word: Word {
        name: "reply",
        value: ValueType::Text,
        about: "UDP: send one datagram back to the sender of the last one received",
    },
    kinds: &[ActorKind::Udp],
    state: State::NeedsReceived,
    parse,
    ..BASE
};

/// `reply_hex`.
pub const REPLY_HEX: Decl = Decl {
    word: Word {
        name: "reply_hex",
        value: ValueType::Hex,
        about: "like reply, with the bytes in hex",
    },
    ..REPLY
};

/// UDP `reply` / `reply_hex`.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The datagram.
    pub data: Payload,
}

fn parse(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    Ok(Action::Reply(Reply {
        data: cx.payload()?,
    }))
}

impl Reply {
    /// `reply` or `reply_hex`.
    pub fn word(&self) -> &'static str {
        match self.data {
            Payload::Text(_) => "reply",
            Payload::Hex(_) | Payload::HexTemplate(_) => "reply_hex",
        }
    }

    /// It answers whoever sent last, which the file does not name.
    pub fn uses_target(&self, _: &Step, _: &crate::scenario::Scenario) -> bool {
        false
    }

    /// The datagram.
    pub fn detail(&self, cx: &Session<'_, '_>) -> crate::transcript::Detail {
        cx.shown(&self.data)
    }

    /// Sends it back.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let bytes = cx.bytes(&self.data)?;
        cx.udp(&step.actor)?.reply(&bytes).await?;
        Ok(None)
    }
}
