/*!
The actions of a step: one file per action, or per small family of actions.

Each file holds everything about its action:
- its declaration ([`Decl`]): its word, the type of its value, which actor kinds may do
  it, whether it waits (and so takes `timeout`) or captures, which modifiers fit, what it
  needs of its actor's state and what it changes;
- its parse from the spanned TOML, through the narrow [`StepCx`];
- its transcript detail and its `exec`, through the narrow [`Session`];
- its unit tests.

[`Action`] is a closed enum with one variant per action struct, and the dispatch below is
a thin exhaustive match. [`ACTIONS`] is the registry: the vocabulary, "did you mean", the
JSON Schema, the actor-kind rules and the modifier-fit checks are all derived from it (see
[`crate::scenario::vocab`] and [`modifiers`]).

Adding an action: a file here with its struct, declaration, parse, detail and exec; a
variant in [`Action`] and an arm in each dispatch below (the compiler asks for them); a
line in [`ACTIONS`]; its entry in `docs/scenarios.md`, a valid and an invalid example
(`tests/it/vocab.rs` checks all four).
*/

pub mod bind;
pub mod close;
pub mod connect;
pub mod ends;
pub mod exit;
pub mod listen;
pub mod modifiers;
pub mod parallel;
pub mod recv;
pub mod recv_bytes;
pub mod recv_line;
pub mod recv_match;
pub mod recv_until;
pub mod reply;
pub mod send;
pub mod sleep;
pub mod spawn;
pub mod stdio;

use crate::diagnostic::Problem;
pub use crate::interp::session::{Session, StepOutput};
use crate::scenario::model::{ActorKind, Scenario, Step};
pub use crate::scenario::steps::StepCx;
use crate::transcript::Detail;

/// The type of a step key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// A string (TOML escapes; `{{var}}` templating).
    Text,
    /// Bytes in hex, whitespace ignored.
    Hex,
    /// A regular expression.
    Regex,
    /// A duration string like `"250ms"` or `"2s"`.
    Duration,
    /// Only `true`.
    True,
    /// A string, or `true`.
    TextOrTrue,
    /// An integer.
    Integer,
    /// A positive integer.
    Positive,
    /// An array of positive integers.
    Positives,
    /// A positive integer, or a string holding one `{{variable}}`.
    Count,
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// An array of steps.
    Steps,
}

/// A step key: its word, its value type, and what it does.
#[derive(Debug, Clone, Copy)]
pub struct Word {
    /// The key as written.
    pub name: &'static str,
    /// The type of its value.
    pub value: ValueType,
    /// One line for the schema and for messages.
    pub about: &'static str,
}

/// What an action needs of its actor's state, and what it changes (contract §1.2).
///
/// An actor is *open* once connected (TCP), listening (listener), bound (UDP) or spawned
/// (process); what each kind says when the rule is broken lives with the actor kinds
/// (`scenario/steps/actors.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Opens the actor (`connect`, `listen`, `bind`, `spawn`); refused when it is open.
    Opens,
    /// Needs the actor open.
    Needs,
    /// Needs the actor open; a UDP socket is bound by it when it is not (`send`).
    NeedsOrBinds,
    /// Needs a datagram received before, to answer its sender (`reply`).
    NeedsReceived,
    /// Ends the actor: needs an open stream or listener; any UDP socket may close.
    Closes,
    /// Takes no actor (`sleep`, `parallel`).
    NoActor,
}

/// Which kind an actor that no `[actors]` entry declares becomes by its first action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Makes {
    /// It does not say.
    Nothing,
    /// Always this kind.
    Kind(ActorKind),
    /// A UDP socket in a UDP scenario (`send`); it does not say otherwise.
    UdpInUdpScenario,
}

/// The declaration of one action word.
#[derive(Debug, Clone, Copy)]
pub struct Decl {
    /// The word, its value type and its one-line description.
    pub word: Word,
    /// The actor kinds that may do it (in the order messages list them).
    pub kinds: &'static [ActorKind],
    /// The kind it gives an undeclared actor that it is the first action of.
    pub makes: Makes,
    /// What it needs of its actor's state and what it changes.
    pub state: State,
    /// True when it waits for something, and so obeys `timeout`.
    pub waits: bool,
    /// True when what it reads can be stored with `capture`.
    pub captures: bool,
    /// True when a UDP socket or listener that does it gets its `{{NAME.port}}`.
    pub gives_port: bool,
    /// The action-specific modifiers that fit it (`timeout` and `capture` follow from
    /// `waits` and `captures`).
    pub modifiers: &'static [&'static str],
    /// Builds the action from the step.
    pub parse: fn(&mut StepCx<'_, '_>) -> Result<Action, Problem>,
}

impl Decl {
    /// True when an actor of `kind` may do it.
    pub fn fits(&self, kind: ActorKind) -> bool {
        self.kinds.contains(&kind)
    }
}

/// A declaration with every flag off; each file overrides what its action needs.
pub(crate) const BASE: Decl = Decl {
    word: Word {
        name: "",
        value: ValueType::True,
        about: "",
    },
    kinds: &[],
    makes: Makes::Nothing,
    state: State::Needs,
    waits: false,
    captures: false,
    gives_port: false,
    modifiers: &[],
    parse: |_| unreachable!("BASE is never registered"),
};

/// The kinds of actor that carry a TCP byte stream.
pub(crate) const STREAM: &[ActorKind] = &[ActorKind::TcpClient, ActorKind::TcpAccepted];
/// A TCP stream or a UDP socket.
pub(crate) const STREAM_OR_UDP: &[ActorKind] =
    &[ActorKind::TcpClient, ActorKind::TcpAccepted, ActorKind::Udp];
/// A process.
pub(crate) const PROCESS: &[ActorKind] = &[ActorKind::Process];

/// Every action, in the order the reference lists them (set up, send, receive, end,
/// processes, flow). Per kind, this is also the order messages list what it can do.
pub static ACTIONS: &[Decl] = &[
    connect::CONNECT,
    listen::LISTEN,
    listen::ACCEPT,
    bind::BIND,
    send::SEND,
    send::SEND_HEX,
    reply::REPLY,
    reply::REPLY_HEX,
    recv::RECV,
    recv::RECV_HEX,
    recv_line::RECV_LINE,
    recv_match::RECV_MATCH,
    recv_until::RECV_UNTIL,
    recv_bytes::RECV_BYTES,
    ends::RECV_EOF,
    ends::RECV_RESET,
    ends::SILENCE,
    close::SHUTDOWN,
    close::CLOSE,
    close::ABORT,
    spawn::SPAWN,
    stdio::STDIN,
    stdio::CLOSE_STDIN,
    stdio::STDOUT_LINE,
    stdio::STDOUT_MATCH,
    exit::EXIT,
    exit::KILL,
    sleep::SLEEP,
    parallel::PARALLEL,
];

/// The declaration of the action word `name`.
pub fn decl(name: &str) -> Option<&'static Decl> {
    // The loader asks several times per step: a fast hash of a short word, not SipHash.
    static BY_NAME: std::sync::LazyLock<foldhash::HashMap<&'static str, &'static Decl>> =
        std::sync::LazyLock::new(|| ACTIONS.iter().map(|d| (d.word.name, d)).collect());
    BY_NAME.get(name).copied()
}

/// The words an actor of `kind` can do, in registry order.
pub fn words_for(kind: ActorKind) -> Vec<&'static str> {
    ACTIONS
        .iter()
        .filter(|d| d.fits(kind))
        .map(|d| d.word.name)
        .collect()
}

/// Every action of the format (contract §1.2): one variant per action struct.
#[derive(Debug, Clone)]
pub enum Action {
    /// `connect`.
    Connect(connect::Connect),
    /// `listen`.
    Listen(listen::Listen),
    /// `accept`.
    Accept(listen::Accept),
    /// `bind`.
    Bind(bind::Bind),
    /// `send` / `send_hex`.
    Send(send::Send),
    /// `reply` / `reply_hex`.
    Reply(reply::Reply),
    /// `recv` / `recv_hex`.
    Recv(recv::Recv),
    /// `recv_line`.
    RecvLine(recv_line::RecvLine),
    /// `recv_match`.
    RecvMatch(recv_match::RecvMatch),
    /// `recv_until`.
    RecvUntil(recv_until::RecvUntil),
    /// `recv_bytes`.
    RecvBytes(recv_bytes::RecvBytes),
    /// `recv_eof`.
    RecvEof(ends::RecvEof),
    /// `recv_reset`.
    RecvReset(ends::RecvReset),
    /// `silence`.
    Silence(ends::Silence),
    /// `shutdown`.
    Shutdown(close::Shutdown),
    /// `close`.
    Close(close::Close),
    /// `abort`.
    Abort(close::Abort),
    /// `spawn`.
    Spawn(spawn::Spawn),
    /// `stdin`.
    Stdin(stdio::Stdin),
    /// `close_stdin`.
    CloseStdin(stdio::CloseStdin),
    /// `stdout_line`.
    StdoutLine(stdio::StdoutLine),
    /// `stdout_match`.
    StdoutMatch(stdio::StdoutMatch),
    /// `exit`.
    Exit(exit::Exit),
    /// `kill`.
    Kill(exit::Kill),
    /// `sleep`.
    Sleep(sleep::Sleep),
    /// `parallel`.
    Parallel(parallel::Parallel),
}

/// Calls `$call` on the action struct inside any variant.
macro_rules! each {
    ($self:expr, $a:ident => $call:expr) => {
        match $self {
            Action::Connect($a) => $call,
            Action::Listen($a) => $call,
            Action::Accept($a) => $call,
            Action::Bind($a) => $call,
            Action::Send($a) => $call,
            Action::Reply($a) => $call,
            Action::Recv($a) => $call,
            Action::RecvLine($a) => $call,
            Action::RecvMatch($a) => $call,
            Action::RecvUntil($a) => $call,
            Action::RecvBytes($a) => $call,
            Action::RecvEof($a) => $call,
            Action::RecvReset($a) => $call,
            Action::Silence($a) => $call,
            Action::Shutdown($a) => $call,
            Action::Close($a) => $call,
            Action::Abort($a) => $call,
            Action::Spawn($a) => $call,
            Action::Stdin($a) => $call,
            Action::CloseStdin($a) => $call,
            Action::StdoutLine($a) => $call,
            Action::StdoutMatch($a) => $call,
            Action::Exit($a) => $call,
            Action::Kill($a) => $call,
            Action::Sleep($a) => $call,
            Action::Parallel($a) => $call,
        }
    };
}

impl Action {
    /// The action's word as written in scenario files.
    pub fn word(&self) -> &'static str {
        each!(self, a => a.word())
    }

    /// Its declaration.
    pub fn decl(&self) -> &'static Decl {
        decl(self.word()).expect("every action's word is registered")
    }

    /// True for steps that wait for something and so obey `timeout`.
    pub fn waits(&self) -> bool {
        self.decl().waits
    }

    /// True when the step talks to the target (so a CLI target is started for it).
    pub fn uses_target(&self, step: &Step, scenario: &Scenario) -> bool {
        step.actor == "target" || each!(self, a => a.uses_target(step, scenario))
    }

    /// The transcript's description of the step (no ports, times or PIDs).
    // Most actions describe themselves with a String; those that show a sent or read
    // text give a Detail already, which `into` leaves as it is.
    #[allow(clippy::useless_conversion)]
    pub fn detail(&self, cx: &Session<'_, '_>) -> Detail {
        each!(self, a => a.detail(cx).into())
    }

    /// Runs the step.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        each!(self, a => a.exec(cx, step).await)
    }
}

/// The default `uses_target` (an action that never names the target) and a detail that
/// says nothing more than the word, for actions whose word says it all.
macro_rules! plain_action {
    ($t:ty, $word:literal) => {
        impl $t {
            /// The action's word.
            pub fn word(&self) -> &'static str {
                $word
            }

            /// It never names the target.
            pub fn uses_target(
                &self,
                _: &crate::scenario::model::Step,
                _: &crate::scenario::model::Scenario,
            ) -> bool {
                false
            }
        }
    };
}
pub(crate) use plain_action;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_unique_and_modifiers_are_declared() {
        let mut seen = std::collections::BTreeSet::new();
        for d in ACTIONS {
            assert!(seen.insert(d.word.name), "{} twice", d.word.name);
            for m in d.modifiers {
                assert!(modifiers::modifier(m).is_some(), "{}: {m}", d.word.name);
            }
            assert_eq!(
                d.kinds.is_empty(),
                d.state == State::NoActor,
                "{}",
                d.word.name
            );
        }
    }

    #[test]
    fn kinds_list_what_they_can_do_in_reading_order() {
        assert_eq!(
            words_for(ActorKind::Udp),
            [
                "bind",
                "send",
                "send_hex",
                "reply",
                "reply_hex",
                "recv",
                "recv_hex",
                "recv_match",
                "silence",
                "close"
            ]
        );
        assert_eq!(
            words_for(ActorKind::TcpListener),
            ["listen", "accept", "close"]
        );
        assert_eq!(
            &words_for(ActorKind::TcpClient)[..4],
            ["connect", "send", "send_hex", "recv"]
        );
    }
}
