/*!
`connect`: a TCP client opens a connection to `"target"`, a scripted listener, or
`host:port`; `expect = "refused" | "timeout"` turns a failing connect into the check.
*/

use std::time::Duration;

use tokio::net::TcpStream;

use super::{Action, BASE, Decl, Makes, Session, State, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::interp::session::Actor;
use crate::interp::tcp::TcpActor;
use crate::scenario::model::{ActorKind, Scenario, Step, Template};
use crate::scenario::values::one_of_words;
use crate::transcript::Failure;

/// `connect`.
pub const CONNECT: Decl = Decl {
    word: Word {
        name: "connect",
        value: ValueType::Text,
        about: "TCP: open a connection to \"target\", a listener actor, or \"host:port\"",
    },
    kinds: &[ActorKind::TcpClient],
    makes: Makes::Kind(ActorKind::TcpClient),
    state: State::Opens,
    waits: true,
    modifiers: &["expect"],
    parse,
    ..BASE
};

/// The expected outcome of a `connect`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConnectExpect {
    /// The connection is established.
    #[default]
    Connected,
    /// `expect = "refused"`: nothing listens there.
    Refused,
    /// `expect = "timeout"`: no answer within the timeout.
    Timeout,
}

impl ConnectExpect {
    /// What the transcript says was expected.
    fn shown(self) -> &'static str {
        match self {
            ConnectExpect::Connected => "connected",
            ConnectExpect::Refused => "connection refused",
            ConnectExpect::Timeout => "no answer (timeout)",
        }
    }
}

/// TCP `connect`.
#[derive(Debug, Clone)]
pub struct Connect {
    /// `"target"`, a listener actor's name, or `host:port`.
    pub to: Template,
    /// `expect`.
    pub expect: ConnectExpect,
}

fn parse(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    let s = cx.string()?;
    let to = cx.text("connect", cx.value(), s)?;
    if to.is_literal() {
        cx.check_peer("connect", cx.value(), s, true)?;
    }
    let expect = match cx.modifier("expect") {
        None => ConnectExpect::Connected,
        Some((v, _)) => match one_of_words("expect", v, &["connected", "refused", "timeout"])? {
            "refused" => ConnectExpect::Refused,
            "timeout" => ConnectExpect::Timeout,
            _ => ConnectExpect::Connected,
        },
    };
    cx.connect_expects(expect);
    Ok(Action::Connect(Connect { to, expect }))
}

impl Connect {
    /// The action's word.
    pub fn word(&self) -> &'static str {
        "connect"
    }

    /// A connection to `"target"` talks to the target.
    pub fn uses_target(&self, _: &Step, _: &Scenario) -> bool {
        self.to.raw() == "target"
    }

    /// `"target"`, with the expected failure if any.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        match self.expect {
            ConnectExpect::Connected => format!("\"{}\"", self.to),
            ConnectExpect::Refused => format!("\"{}\" (expect refused)", self.to),
            ConnectExpect::Timeout => format!("\"{}\" (expect timeout)", self.to),
        }
    }

    /// Connects (through the link when one is in place), and checks the outcome.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let name = step.actor.as_str();
        let timeout = cx.timeout(step);
        let to_text = cx.render(&self.to)?;
        let is_target = to_text == "target";
        let mut addr = cx.resolve_stream_peer(&to_text)?;
        if is_target && self.expect == ConnectExpect::Connected {
            addr = cx.route_to_target(name, addr).await?;
        }
        let attempt = tokio::time::timeout(timeout, TcpStream::connect(addr)).await;
        let shown = if is_target {
            "the target".to_string()
        } else {
            format!("`{}`", self.to.raw())
        };
        match attempt {
            Ok(Ok(stream)) => {
                if self.expect == ConnectExpect::Connected {
                    cx.add_actor(name, Actor::Tcp(TcpActor::new(stream)));
                    return Ok(None);
                }
                Err(Failure::diff(
                    format!("the connection to {shown} was accepted"),
                    self.expect.shown(),
                    "connected",
                ))
            }
            Ok(Err(e)) => self.failed(e, &shown),
            Err(_) => self.no_answer(&shown, timeout),
        }
    }

    /// The connect failed: passed when refused was expected.
    fn failed(&self, e: std::io::Error, shown: &str) -> StepOutput {
        let refused = e.kind() == std::io::ErrorKind::ConnectionRefused;
        match (refused, self.expect) {
            (true, ConnectExpect::Refused) => Ok(None),
            (true, _) => Err(Failure::diff(
                format!("the connection to {shown} was refused: nothing listens there"),
                self.expect.shown(),
                "connection refused",
            )),
            (false, _) => Err(Failure::diff(
                format!("connecting to {shown} failed: {e}"),
                self.expect.shown(),
                e.to_string(),
            )),
        }
    }

    /// No answer within the wait: passed when a timeout was expected.
    fn no_answer(&self, shown: &str, timeout: Duration) -> StepOutput {
        if self.expect == ConnectExpect::Timeout {
            return Ok(None);
        }
        Err(Failure::diff(
            format!(
                "connecting to {shown} got no answer within {}",
                humantime::format_duration(timeout)
            ),
            self.expect.shown(),
            "no answer (timeout)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_outcomes_read_as_the_transcript_says() {
        assert_eq!(ConnectExpect::Refused.shown(), "connection refused");
        assert_eq!(ConnectExpect::Timeout.shown(), "no answer (timeout)");
        assert!(CONNECT.waits && CONNECT.state == State::Opens);
    }
}
