/*!
`listen` and `accept`: a scripted TCP listener (the "welcoming" socket) binds and
listens, and each `accept` takes the next connection as a new actor, for testing a
student's client.
*/

use tokio::net::TcpListener;

use super::{Action, BASE, Decl, Makes, Session, State, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::interp::session::Actor;
use crate::interp::tcp::TcpActor;
use crate::scenario::model::{ActorKind, Template};
use crate::scenario::raw::{self, span};
use crate::scenario::values;
use crate::transcript::Failure;

/// How often an `accept` looks whether a client target has exited.
const EXIT_CHECK: std::time::Duration = std::time::Duration::from_millis(50);

/// `listen`.
pub const LISTEN: Decl = Decl {
    word: Word {
        name: "listen",
        value: ValueType::TextOrTrue,
        about: "TCP listener: bind and listen (true means 127.0.0.1:0); its port is {{NAME.port}}",
    },
    kinds: &[ActorKind::TcpListener],
    makes: Makes::Kind(ActorKind::TcpListener),
    state: State::Opens,
    gives_port: true,
    parse: parse_listen,
    ..BASE
};

/// `accept`.
pub const ACCEPT: Decl = Decl {
    word: Word {
        name: "accept",
        value: ValueType::Text,
        about: "TCP listener: wait for a connection; it becomes the actor named here",
    },
    kinds: &[ActorKind::TcpListener],
    waits: true,
    parse: parse_accept,
    ..BASE
};

/// `listen`: bind and listen.
#[derive(Debug, Clone)]
pub struct Listen {
    /// Where (`true` means `127.0.0.1:0`).
    pub addr: Template,
}

/// `accept`: wait for a connection; it becomes the actor named here.
#[derive(Debug, Clone)]
pub struct Accept {
    /// The new actor's name.
    pub name: String,
}

/// `true` (any free port on 127.0.0.1) or an `IP:port` (templated) for `listen` and
/// `bind`.
pub(super) fn local_address(cx: &mut StepCx<'_, '_>) -> Result<Template, Problem> {
    let (word, v) = (cx.word(), cx.value());
    match v.get_ref() {
        raw::DeValue::Boolean(true) => Ok(Template::literal("127.0.0.1:0")),
        raw::DeValue::String(s) => {
            let t = cx.text(word, v, s)?;
            if t.is_literal()
                && let Err(why) = values::bind_addr(s)
            {
                let actor = cx.actor();
                return Err(Problem::new(span(v), format!("`{word}`: {why}"), "bad address")
                    .help(format!("`{word} = true` takes any free port on 127.0.0.1; its port is `{{{{{actor}.port}}}}`")));
            }
            Ok(t)
        }
        _ => Err(Problem::new(
            span(v),
            format!(
                "`{word}` takes `true` or an address like \"127.0.0.1:0\", not {}",
                raw::type_name(v.get_ref())
            ),
            "bad value",
        )),
    }
}

fn parse_listen(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    Ok(Action::Listen(Listen {
        addr: local_address(cx)?,
    }))
}

fn parse_accept(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    let name = cx.string()?;
    cx.accept_as(name)?;
    Ok(Action::Accept(Accept {
        name: name.to_string(),
    }))
}

super::plain_action!(Listen, "listen");
super::plain_action!(Accept, "accept");

impl Listen {
    /// The address as written.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        format!("\"{}\"", self.addr)
    }

    /// Binds and listens; the port becomes `{{NAME.port}}`.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &crate::scenario::Step) -> StepOutput {
        let name = step.actor.as_str();
        let addr = cx.local_addr(&cx.render(&self.addr)?)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Failure::msg(format!("could not listen on {addr}: {e}")))?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        cx.note_port(name, port);
        cx.add_actor(name, Actor::Listener(listener));
        Ok(None)
    }
}

impl Accept {
    /// The new actor's name.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        format!("as {}", self.name)
    }

    /// Waits for the next connection. A client target that exits meanwhile fails the
    /// step at once: it will never connect, and waiting out the timeout would only hide
    /// why.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &crate::scenario::Step) -> StepOutput {
        let timeout = cx.timeout(step);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let tick = deadline.min(tokio::time::Instant::now() + EXIT_CHECK);
            let accepted = tokio::time::timeout_at(tick, cx.listener(&step.actor)?.accept()).await;
            match accepted {
                Ok(Ok((stream, _))) => {
                    cx.add_actor(&self.name, Actor::Tcp(TcpActor::new(stream)));
                    return Ok(None);
                }
                Ok(Err(e)) => return Err(Failure::msg(format!("accept failed: {e}"))),
                Err(_) => {}
            }
            let before = |how: &str| {
                format!(
                    "no connection will arrive: the client (the target) {how} before connecting"
                )
            };
            if let Some(failure) = cx.client_target_exit(before).await {
                return Err(failure);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Failure::msg(format!(
                    "no connection arrived within {}",
                    humantime::format_duration(timeout)
                )));
            }
        }
    }
}
