/*!
`send` and `send_hex`: bytes down a TCP stream (in one write, or split by `chunks` /
`chunk` with an optional `pause`), or ONE UDP datagram (to the target, or `to` an actor
or `host:port`).
*/

use std::time::Duration;

use super::{Action, BASE, Decl, Makes, Session, State, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::scenario::model::{ActorKind, Payload, Scenario, Step, Template};
use crate::scenario::raw;

const SEND_MODIFIERS: &[&str] = &["chunks", "chunk", "pause", "to"];

/// `send`.
pub const SEND: Decl = Decl {
    word: Word {
        name: "send",
        value: ValueType::Text,
        about: "TCP: write these bytes; UDP: send them as one datagram",
    },
    kinds: super::STREAM_OR_UDP,
    makes: Makes::UdpInUdpScenario,
    state: State::NeedsOrBinds,
    gives_port: true,
    modifiers: SEND_MODIFIERS,
    parse,
    ..BASE
};

/// `send_hex`.
pub const SEND_HEX: Decl = Decl {
    word: Word {
        name: "send_hex",
        value: ValueType::Hex,
        about: "like send, with the bytes in hex (\"de ad be ef\")",
    },
    ..SEND
};

/// How a `send` is split into writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Chunking {
    /// One write.
    #[default]
    Whole,
    /// `chunks = [3, 4, 5]`: writes of these sizes; what is left goes in one last write.
    Sizes(Vec<usize>),
    /// `chunk = N`: writes of at most N bytes.
    Every(usize),
}

impl Chunking {
    /// `data` cut into the writes this chunking asks for.
    pub fn split<'d>(&self, data: &'d [u8]) -> Vec<&'d [u8]> {
        match self {
            Chunking::Whole => vec![data],
            Chunking::Every(n) => data.chunks((*n).max(1)).collect(),
            Chunking::Sizes(sizes) => {
                let mut out = Vec::with_capacity(sizes.len() + 1);
                let mut rest = data;
                for &s in sizes {
                    if rest.is_empty() {
                        break;
                    }
                    let (a, b) = rest.split_at(s.min(rest.len()));
                    out.push(a);
                    rest = b;
                }
                if !rest.is_empty() {
                    out.push(rest);
                }
                out
            }
        }
    }
}

/// `send` / `send_hex`.
#[derive(Debug, Clone)]
pub struct Send {
    /// The bytes.
    pub data: Payload,
    /// TCP: how the bytes are split into writes.
    pub chunking: Chunking,
    /// TCP: the pause between writes.
    pub pause: Option<Duration>,
    /// UDP only: `to = "actor" | "host:port"` (default: the target).
    pub to: Option<Template>,
}

fn parse(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    let data = cx.payload()?;
    let chunking = match (cx.modifier("chunks"), cx.modifier("chunk")) {
        (Some(_), Some((_, key))) => {
            return Err(
                Problem::new(key, "`chunks` and `chunk` are both given", "pick one").help(
                    "`chunks = [3, 4]` gives the sizes; `chunk = 3` cuts every 3 bytes: keep one",
                ),
            );
        }
        (Some((v, _)), None) => Chunking::Sizes(cx.positives("chunks", v)?),
        (None, Some((v, _))) => {
            Chunking::Every(raw::expect_int_in("chunk", v, 1, i64::from(u32::MAX))? as usize)
        }
        (None, None) => Chunking::Whole,
    };
    let pause = match cx.modifier("pause") {
        None => None,
        Some((v, key)) => {
            if chunking == Chunking::Whole && cx.kind() != Some(ActorKind::Udp) {
                return Err(Problem::new(
                    key,
                    "`pause` without `chunks` or `chunk`: there is nothing to pause between",
                    "nothing to pause",
                )
                .help("add `chunks = [sizes]` or `chunk = N`, or remove `pause`"));
            }
            Some(raw::expect_duration("pause", v, true)?)
        }
    };
    let to = cx.peer_modifier("to")?;
    Ok(Action::Send(Send {
        data,
        chunking,
        pause,
        to,
    }))
}

impl Send {
    /// `send` or `send_hex`.
    pub fn word(&self) -> &'static str {
        match self.data {
            Payload::Text(_) => "send",
            Payload::Hex(_) | Payload::HexTemplate(_) => "send_hex",
        }
    }

    /// A datagram to the target (named, or by default) talks to it.
    pub fn uses_target(&self, step: &Step, sc: &Scenario) -> bool {
        match &self.to {
            Some(t) => t.raw() == "target",
            None => sc.actors.get(&step.actor) == Some(&ActorKind::Udp),
        }
    }

    /// The bytes, and where a datagram goes. The chunking is not shown: a byte stream
    /// has no boundaries, so the same bytes in any number of writes make the same
    /// transcript.
    pub fn detail(&self, cx: &Session<'_, '_>) -> crate::transcript::Detail {
        let mut d = cx.shown(&self.data);
        if let Some(to) = &self.to {
            d.push_str(&format!(" to \"{to}\""));
        }
        d
    }

    /// Writes the bytes (TCP) or sends the datagram (UDP).
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let name = step.actor.as_str();
        let bytes = cx.bytes(&self.data)?;
        if cx.is_udp(name) {
            let dest = match &self.to {
                Some(t) => cx.resolve_peer(t)?,
                None => cx.target_addr()?,
            };
            cx.ensure_udp(name, dest).await?;
            cx.udp(name)?.send_to(&bytes, dest).await?;
            return Ok(None);
        }
        let deadline = tokio::time::Instant::now() + cx.timeout(step);
        let pieces = self.chunking.split(&bytes);
        cx.tcp(name)?.send(&pieces, self.pause, deadline).await?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_splits_as_written() {
        let d = b"hello world\n";
        assert_eq!(
            Chunking::Sizes(vec![3, 4, 5]).split(d),
            vec![&b"hel"[..], b"lo w", b"orld\n"]
        );
        assert_eq!(
            Chunking::Sizes(vec![5]).split(d),
            vec![&b"hello"[..], b" world\n"]
        );
        assert_eq!(Chunking::Every(5).split(d).len(), 3);
        assert_eq!(Chunking::Whole.split(d), vec![&d[..]]);
    }
}
