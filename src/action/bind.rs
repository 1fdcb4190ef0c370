/*!
`bind`: a UDP socket takes an address (`true`: any free port on 127.0.0.1) before it
receives; its port is `{{NAME.port}}`. A UDP socket that sends first is bound by that send.
*/

use super::listen::local_address;
use super::{Action, BASE, Decl, Makes, Session, State, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::scenario::model::{ActorKind, Step, Template};

/// `bind`.
pub const BIND: Decl = Decl {
    word: Word {
        name: "bind",
        value: ValueType::TextOrTrue,
        about: "UDP: bind to this address (true means 127.0.0.1:0); its port is {{NAME.port}}",
    },
    kinds: &[ActorKind::Udp],
    makes: Makes::Kind(ActorKind::Udp),
    state: State::Opens,
    gives_port: true,
    parse,
    ..BASE
};

/// UDP `bind`.
#[derive(Debug, Clone)]
pub struct Bind {
    /// Where (`true` means `127.0.0.1:0`).
    pub addr: Template,
}

fn parse(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    Ok(Action::Bind(Bind {
        addr: local_address(cx)?,
    }))
}

super::plain_action!(Bind, "bind");

impl Bind {
    /// The address as written.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        format!("\"{}\"", self.addr)
    }

    /// Binds the socket; the port becomes `{{NAME.port}}`.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let addr = cx.local_addr(&cx.render(&self.addr)?)?;
        cx.bind_udp(&step.actor, addr).await?;
        Ok(None)
    }
}
