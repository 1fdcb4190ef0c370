/*!
The modifiers of a step: their words, value types, the actor kinds they need, and what
a step that gives one where it does not fit is told.

Which actions a modifier fits is declared by the actions ([`super::Decl::modifiers`],
`waits` for `timeout`, `captures` for `capture`); [`fits`] derives the check from that.
*/

use super::{ACTIONS, ValueType, Word, decl};
use crate::scenario::model::ActorKind;
use crate::scenario::suggest::one_of;

/// A modifier: its word, and the actor kinds it is wrong for.
#[derive(Debug, Clone, Copy)]
pub struct Modifier {
    /// The key, its value type and its description.
    pub word: Word,
    /// True when it is wrong for an actor of this kind even on an action it fits.
    pub wrong_for: fn(ActorKind) -> bool,
}

const fn m(name: &'static str, value: ValueType, about: &'static str) -> Modifier {
    Modifier {
        word: Word { name, value, about },
        wrong_for: |_| false,
    }
}

/// A modifier of UDP datagrams: wrong on a TCP stream.
const fn udp(name: &'static str, value: ValueType, about: &'static str) -> Modifier {
    Modifier {
        word: Word { name, value, about },
        wrong_for: ActorKind::is_tcp_stream,
    }
}

/// A modifier of TCP writes: wrong on a UDP socket.
const fn tcp(name: &'static str, value: ValueType, about: &'static str) -> Modifier {
    Modifier {
        word: Word { name, value, about },
        wrong_for: |k| k == ActorKind::Udp,
    }
}

/// Every modifier.
pub static MODIFIERS: &[Modifier] = &[
    m(
        "timeout",
        ValueType::Duration,
        "this waiting step's wait, instead of the scenario's timeout",
    ),
    m(
        "capture",
        ValueType::Text,
        "store what this receive read (a regex's first group) as {{name}}",
    ),
    m(
        "capture_as",
        ValueType::OneOf(crate::scenario::model::CaptureAs::WORDS),
        "how `capture` stores what was read: text (the default), hex, or the number the bytes hold in network byte order (u8, u16be, u32be)",
    ),
    tcp(
        "chunks",
        ValueType::Positives,
        "TCP send: split the write into writes of these sizes",
    ),
    tcp(
        "chunk",
        ValueType::Positive,
        "TCP send: split the write into writes of at most this many bytes",
    ),
    tcp(
        "pause",
        ValueType::Duration,
        "TCP send with chunks: sleep this long between the writes",
    ),
    m(
        "expect",
        ValueType::OneOf(&["connected", "refused", "timeout"]),
        "connect: the expected outcome",
    ),
    udp(
        "to",
        ValueType::Text,
        "UDP send: send to this actor or host:port instead of the target",
    ),
    udp(
        "from",
        ValueType::Text,
        "UDP receive: the datagram must come from \"target\", this actor or host:port",
    ),
    udp(
        "resend",
        ValueType::Positive,
        "UDP receive: when nothing arrives within the timeout, send the actor's last datagram again, up to this many times",
    ),
    udp(
        "prefix",
        ValueType::True,
        "UDP receive: the datagram must start with these bytes; what follows is not checked",
    ),
    m(
        "match",
        ValueType::Regex,
        "recv_until / recv_bytes: what was read must match this regex",
    ),
    m(
        "steps",
        ValueType::Steps,
        "parallel: the steps each copy runs",
    ),
];

/// The modifier named `name`.
pub fn modifier(name: &str) -> Option<&'static Modifier> {
    static BY_NAME: std::sync::LazyLock<foldhash::HashMap<&'static str, &'static Modifier>> =
        std::sync::LazyLock::new(|| MODIFIERS.iter().map(|m| (m.word.name, m)).collect());
    BY_NAME.get(name).copied()
}

/// The action words that modifier `m` fits, in registry order.
pub fn actions_of(m: &str) -> Vec<&'static str> {
    ACTIONS
        .iter()
        .filter(|d| match m {
            "timeout" => d.waits,
            "capture" | "capture_as" => d.captures,
            _ => d.modifiers.contains(&m),
        })
        .map(|d| d.word.name)
        .collect()
}

/// Whether modifier `m` fits action `word` done by an actor of `kind`; if not, why.
pub fn fits(m: &str, word: &str, kind: Option<ActorKind>) -> Result<(), String> {
    let (Some(d), Some(modifier)) = (decl(word), modifier(m)) else {
        return Ok(());
    };
    let declared = match m {
        "timeout" => d.waits,
        "capture" | "capture_as" => d.captures,
        _ => d.modifiers.contains(&m),
    };
    let wrong_kind = kind.is_some_and(modifier.wrong_for);
    if declared && !wrong_kind {
        return Ok(());
    }
    Err(misfit(m, word, kind))
}

/// What a step is told when `m` does not fit `word` done by an actor of `kind`.
fn misfit(m: &str, word: &str, kind: Option<ActorKind>) -> String {
    let tcp = kind.is_some_and(ActorKind::is_tcp_stream);
    let udp_send = kind == Some(ActorKind::Udp) && actions_of("chunks").contains(&word);
    let fitting = actions_of(m);
    match m {
        "timeout" => {
            let waiting = actions_of("timeout");
            format!(
                "`timeout` bounds a step that waits ({}…); `{word}` does not wait: remove it",
                one_of(&waiting[..4])
            )
        }
        "capture" => format!(
            "`capture` stores what a receive read ({}); `{word}` reads nothing",
            one_of(&fitting)
        ),
        "capture_as" => format!(
            "`capture_as` says how `capture` stores what a receive read ({}); `{word}` reads nothing",
            one_of(&fitting)
        ),
        "chunks" | "chunk" | "pause" if udp_send => format!(
            "`{m}` splits a TCP write; a UDP send is one datagram and is never split"
        ),
        "chunks" | "chunk" | "pause" => {
            format!("`{m}` splits a TCP `send` into several writes; move it to a `send` step")
        }
        "expect" => "`expect` gives the expected outcome of a `connect` (\"connected\", \"refused\" or \"timeout\")".to_string(),
        "to" if tcp => "`to` picks where a UDP datagram goes; a TCP send goes down its connection: remove it".to_string(),
        "to" => "`to` picks where a UDP `send` goes".to_string(),
        "from" if tcp => "`from` checks who sent a UDP datagram; a TCP stream has one peer: remove it".to_string(),
        "from" => format!("`from` checks who sent the datagram of a UDP {}", one_of(&fitting)),
        "resend" if tcp => "`resend` retransmits a lost UDP datagram; TCP retransmits by itself: remove it".to_string(),
        "resend" => format!("`resend` retries a UDP {} by sending the last datagram again", one_of(&fitting)),
        "prefix" if tcp => "`prefix` checks the start of a UDP datagram; on a TCP stream `recv` already reads just the bytes it expects: remove it".to_string(),
        "prefix" => format!("`prefix` checks the start of a datagram received by {}", one_of(&fitting)),
        "match" => "`match` checks what `recv_until` or `recv_bytes` read; `recv_match` and `stdout_match` take the regex as their value".to_string(),
        "steps" => "`steps` belongs to `parallel`: `{ parallel = 10, steps = [ … ] }`".to_string(),
        _ => format!("remove `{m}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_as_declared() {
        assert!(fits("timeout", "recv_line", None).is_ok());
        assert!(fits("timeout", "send", None).is_err());
        assert!(fits("chunks", "send", Some(ActorKind::TcpClient)).is_ok());
        assert!(fits("chunks", "send", Some(ActorKind::Udp)).is_err());
        assert!(fits("to", "send", Some(ActorKind::Udp)).is_ok());
        assert!(fits("to", "send", Some(ActorKind::TcpClient)).is_err());
        assert!(fits("resend", "recv_match", Some(ActorKind::Udp)).is_ok());
        assert!(fits("resend", "recv_line", Some(ActorKind::TcpClient)).is_err());
        assert!(fits("steps", "parallel", None).is_ok());
    }

    #[test]
    fn help_names_what_fits() {
        let why = fits("from", "recv_line", Some(ActorKind::Udp)).unwrap_err();
        assert_eq!(
            why,
            "`from` checks who sent the datagram of a UDP `recv`, `recv_hex` or `recv_match`"
        );
        let why = fits("resend", "recv_line", Some(ActorKind::TcpClient)).unwrap_err();
        assert!(why.contains("TCP retransmits by itself"), "{why}");
    }
}
