/*!
Actor state along the steps: each actor's kind (declared, or set by its first action),
and whether it is open (connected, listening, bound, spawned), has received a datagram,
or was closed. An action's declaration says what it needs and changes
([`crate::action::State`]); this file says what each kind of actor answers when a step
breaks the rule, and what an actor whose first action does not say its kind is taken to be.
*/

use miette::SourceSpan;

use super::{Checker, Entry, Scope};
use crate::action::{Decl, Makes, State, decl, words_for};
use crate::diagnostic::Problem;
use crate::scenario::model::*;
use crate::scenario::suggest::one_of;

/// How an actor got its kind, for messages.
#[derive(Debug, Clone)]
pub(super) enum Origin {
    Declared,
    FirstAction(&'static str, usize),
    Accepted(String, usize),
    Target,
}

#[derive(Debug, Clone)]
pub(super) struct ActorState {
    pub(super) kind: ActorKind,
    origin: Origin,
    pub(super) connected: bool,
    pub(super) failed_connect: Option<(&'static str, usize)>,
    pub(super) listening: bool,
    pub(super) bound: bool,
    received: bool,
    spawned: bool,
    closed: Option<usize>,
    /// Taken as ready after a problem, so the mistake is reported once.
    pub(super) presumed: bool,
}

impl ActorState {
    pub(super) fn new(kind: ActorKind, origin: Origin) -> ActorState {
        ActorState {
            kind,
            origin,
            connected: false,
            failed_connect: None,
            listening: false,
            bound: false,
            received: false,
            spawned: false,
            closed: None,
            presumed: false,
        }
    }

    /// Taken as ready for anything, after a problem, so the mistake is reported once.
    fn presumed(kind: ActorKind, origin: Origin) -> ActorState {
        let mut st = ActorState::new(kind, origin);
        st.connected = true;
        st.listening = true;
        st.bound = true;
        st.received = true;
        st.spawned = true;
        st.presumed = true;
        st
    }

    /// Open: connected (TCP), listening, bound (UDP) or spawned (process).
    fn open(&self) -> bool {
        match self.kind {
            ActorKind::TcpClient | ActorKind::TcpAccepted => self.connected,
            ActorKind::TcpListener => self.listening,
            ActorKind::Udp => self.bound,
            ActorKind::Process => self.spawned,
        }
    }

    fn set_open(&mut self) {
        match self.kind {
            ActorKind::TcpClient | ActorKind::TcpAccepted => self.connected = true,
            ActorKind::TcpListener => self.listening = true,
            ActorKind::Udp => self.bound = true,
            ActorKind::Process => self.spawned = true,
        }
    }

    /// "a TCP client (its first action, `connect` on line 3, made it one)".
    pub(super) fn describe(&self, name: &str) -> String {
        let what = kind_phrase(self.kind);
        match &self.origin {
            Origin::Declared => format!("`{name}` is {what} (declared in [actors])"),
            Origin::FirstAction(w, line) => {
                format!("`{name}` is {what} (its first action, `{w}` on line {line}, made it one)")
            }
            Origin::Accepted(by, line) => {
                format!("`{name}` is {what} (accepted by `{by}` on line {line})")
            }
            Origin::Target => format!("`{name}` is the program under test"),
        }
    }
}

/// "a TCP client", "a UDP socket", …
pub(super) fn kind_phrase(kind: ActorKind) -> &'static str {
    match kind {
        ActorKind::TcpClient => "a TCP client",
        ActorKind::TcpAccepted => "an accepted TCP connection",
        ActorKind::TcpListener => "a TCP listener",
        ActorKind::Udp => "a UDP socket",
        ActorKind::Process => "a process",
    }
}

/// Who does a step and how it was written, for messages.
pub(super) struct Doer<'s> {
    pub(super) name: &'s str,
    /// `alice.` when the step names its actor, empty otherwise.
    pub(super) prefix: String,
    pub(super) span: SourceSpan,
    pub(super) line: usize,
}

impl Checker<'_> {
    /// Resolves the actor's kind (creating the actor on first use) and checks that it
    /// can do `act` now. Returns the kind it has (or is taken to have, after a problem,
    /// so one mistake is reported once).
    pub(super) fn check_actor(
        &mut self,
        who: &Doer<'_>,
        act: &Entry,
        d: &'static Decl,
        scope: &mut Scope,
    ) -> Option<ActorKind> {
        if !scope.actors.contains_key(who.name) {
            let state = self.first_use(who, act, d)?;
            self.register(who.name, state.kind, who.span);
            let presumed = state.presumed;
            let kind = state.kind;
            scope.actors.insert(who.name.to_string(), state);
            if presumed {
                return Some(kind);
            }
        }
        let st = scope.actors.get(who.name).cloned()?;
        if !d.fits(st.kind) {
            let word = d.word.name;
            self.push(
                Problem::new(
                    act.key,
                    format!("{}: it cannot `{word}`", st.describe(who.name)),
                    format!("not for {}", kind_phrase(st.kind)),
                )
                .help(wrong_kind_help(st.kind, word, who)),
            );
            return Some(st.kind);
        }
        let (problem, next) = self.apply_rule(&st, d, who, act.key);
        if let Some(p) = problem {
            self.push(p);
        }
        // The actor is known (its state was read above): no new key per step.
        if let Some(slot) = scope.actors.get_mut(who.name) {
            *slot = next;
        }
        Some(st.kind)
    }

    /// The state of an actor first seen at this step, or `None` after a problem that
    /// ends the check of the step (an action on the target that is not a process action).
    fn first_use(&mut self, who: &Doer<'_>, act: &Entry, d: &Decl) -> Option<ActorState> {
        let word = d.word.name;
        if who.name == "target" {
            if !d.fits(ActorKind::Process) {
                self.push(
                    Problem::new(
                        act.key,
                        format!("`target.{word}`: the target is the program under test, and it only takes process actions"),
                        "not a process action",
                    )
                    .help(format!(
                        "talk to the target through a socket actor: `{{ connect = \"target\" }}`; the target itself takes {}",
                        one_of(&words_for(ActorKind::Process))
                    )),
                );
                return None;
            }
            let mut st = ActorState::new(ActorKind::Process, Origin::Target);
            st.spawned = self.env.role == Role::Server;
            return Some(st);
        }
        if let Some((kind, _)) = self.env.declared.get(who.name) {
            return Some(ActorState::new(*kind, Origin::Declared));
        }
        let origin = Origin::FirstAction(word, who.line);
        let made = match d.makes {
            Makes::Kind(k) => Some(k),
            Makes::UdpInUdpScenario if self.env.protocol == Protocol::Udp => Some(ActorKind::Udp),
            _ => None,
        };
        if let Some(kind) = made {
            return Some(ActorState::new(kind, origin));
        }
        let (kind, problem) = self.unknown_first_action(who, act.key, d);
        self.push(problem);
        Some(ActorState::presumed(kind, origin))
    }

    /// What `d` needs of the actor `st` and what it changes: the problem, if the rule
    /// is broken, and the state after the step.
    fn apply_rule(
        &self,
        st: &ActorState,
        d: &Decl,
        who: &Doer<'_>,
        key: SourceSpan,
    ) -> (Option<Problem>, ActorState) {
        let word = d.word.name;
        let mut next = st.clone();
        let udp = st.kind == ActorKind::Udp;
        let problem = if let Some(l) = st.closed {
            Some(
                Problem::new(
                    key,
                    format!(
                        "`{}` was closed on line {l}; it cannot `{word}` any more",
                        who.name
                    ),
                    "after close",
                )
                .help("use a new actor for a new connection or socket"),
            )
        } else {
            match d.state {
                State::Opens => {
                    // A server target's `spawn = true` is reported by the action itself.
                    let server_target = who.name == "target" && self.env.role == Role::Server;
                    let again = st.open() && !st.presumed && !server_target;
                    next.set_open();
                    next.presumed = false;
                    again.then(|| already_open(st.kind, who, key))
                }
                State::NeedsOrBinds if udp => {
                    next.bound = true;
                    None
                }
                State::Closes if udp => None,
                State::NeedsReceived if !st.received => {
                    next.received = true;
                    Some(
                        Problem::new(
                            key,
                            format!("`{word}` before `{}` received anything: there is no sender to reply to", who.name),
                            "nothing received yet",
                        )
                        .help(format!("add a `{p}recv` or `{p}recv_match` step before it, or use `{p}send` with `to = …`", p = who.prefix)),
                    )
                }
                State::NeedsReceived | State::NoActor => None,
                State::Needs | State::NeedsOrBinds | State::Closes => {
                    if st.open() {
                        None
                    } else {
                        next.set_open();
                        next.presumed = true;
                        Some(not_open(st, word, who, key))
                    }
                }
            }
        };
        if udp && d.captures {
            next.received = true;
        }
        if d.state == State::Closes {
            next.closed = Some(who.line);
        }
        (problem, next)
    }

    /// The problem for an actor whose first action does not say its kind, and the kind
    /// it is then taken to be.
    fn unknown_first_action(
        &self,
        who: &Doer<'_>,
        key: SourceSpan,
        d: &Decl,
    ) -> (ActorKind, Problem) {
        let (name, prefix, word) = (who.name, &who.prefix, d.word.name);
        let protocol = self.env.protocol;
        if d.fits(ActorKind::TcpAccepted) && protocol == Protocol::Tcp {
            let udp_hint = if word.starts_with("send") {
                "; for UDP, set `protocol = \"udp\"` in [target]"
            } else {
                ""
            };
            return (
                ActorKind::TcpClient,
                Problem::new(key, format!("`{word}` on a TCP client before any connect"), "not connected")
                    .help(format!("connect first: add `{{ {prefix}connect = \"target\" }}` before this step{udp_hint}")),
            );
        }
        if d.fits(ActorKind::Udp) && protocol == Protocol::Udp {
            return (
                ActorKind::Udp,
                Problem::new(
                    key,
                    format!("`{word}` on `{name}` before it has an address: nothing can reach it"),
                    "not bound",
                )
                .help(format!(
                    "bind it first (`{{ {prefix}bind = true }}`) or send something first"
                )),
            );
        }
        let (kind, help) = if word == "accept" {
            (
                ActorKind::TcpListener,
                format!("`accept` is done by a listener: add `{{ {prefix}listen = true }}` first"),
            )
        } else if d.state == State::NeedsReceived {
            (
                ActorKind::Udp,
                "`reply` answers a datagram a UDP socket received: `bind` it and `recv` first (and set `protocol = \"udp\"` for a UDP target)".to_string(),
            )
        } else if d.fits(ActorKind::Process) {
            (
                ActorKind::Process,
                format!("start a process first: `{{ {prefix}spawn = \"command\" }}`"),
            )
        } else {
            (
                ActorKind::TcpClient,
                format!(
                    "a UDP socket starts with `bind` or `send`; a TCP client with `connect`; declare kinds in [actors] (`{name} = \"udp\"`)"
                ),
            )
        };
        (
            kind,
            Problem::new(
                key,
                format!("`{name}` is first used with `{word}`, which does not say what kind of actor it is"),
                "first use",
            )
            .help(help),
        )
    }

    /// Records the kind of `name`; one name is one kind in the whole file.
    pub(super) fn register(&mut self, name: &str, kind: ActorKind, aspan: SourceSpan) {
        match self.actors.get(name) {
            Some(k) if *k != kind => self.problems.push(
                Problem::new(
                    aspan,
                    format!(
                        "`{name}` is {} here but {} elsewhere",
                        kind_phrase(kind),
                        kind_phrase(*k)
                    ),
                    "another kind",
                )
                .help("use a different actor name for each kind"),
            ),
            Some(_) => {}
            None => {
                self.actors.insert(name.to_string(), kind);
            }
        }
    }
}

/// The problem of a second `connect`, `listen`, `bind` or `spawn`.
fn already_open(kind: ActorKind, who: &Doer<'_>, key: SourceSpan) -> Problem {
    let name = who.name;
    match kind {
        ActorKind::TcpClient | ActorKind::TcpAccepted => {
            Problem::new(key, format!("`{name}` is already connected"), "second connect")
                .help("a TCP client connects once: use another actor name for a second connection, like `{ bob.connect = \"target\" }`")
        }
        ActorKind::TcpListener => Problem::new(
            key,
            format!("`{name}` is already listening"),
            "second listen",
        )
        .help("use another actor name for a second listener"),
        ActorKind::Udp => Problem::new(key, format!("`{name}` is already bound"), "second bind")
            .help("a UDP socket binds once, before (or instead of) its first send; use another actor for another socket"),
        ActorKind::Process => Problem::new(
            key,
            format!("`{name}` is already running"),
            "second spawn",
        )
        .help("use another actor name to start a second process"),
    }
}

/// The problem of an action on an actor that is not open yet.
fn not_open(st: &ActorState, word: &str, who: &Doer<'_>, key: SourceSpan) -> Problem {
    let (name, prefix) = (who.name, &who.prefix);
    match st.kind {
        ActorKind::TcpClient | ActorKind::TcpAccepted => match st.failed_connect {
            Some((exp, l)) => Problem::new(
                key,
                format!("`{word}` on `{name}`, whose connect on line {l} expects `{exp}`: there is no connection"),
                "no connection",
            )
            .help("use another actor for a connection that succeeds"),
            None => Problem::new(
                key,
                format!("`{word}` on a TCP client before any connect"),
                "not connected",
            )
            .help(format!("connect first: add `{{ {prefix}connect = \"target\" }}` before this step")),
        },
        ActorKind::TcpListener => Problem::new(
            key,
            format!("`{name}` must `listen` before it can `{word}`"),
            "not listening",
        )
        .help(format!("add `{{ {prefix}listen = true }}` before this step")),
        ActorKind::Udp => Problem::new(
            key,
            format!("`{word}` on `{name}` before it has an address: nothing can reach it"),
            "not bound",
        )
        .help(format!("bind it first (`{{ {prefix}bind = true }}`) or send something first")),
        ActorKind::Process => Problem::new(
            key,
            format!("`{word}` on `{name}` before it is spawned"),
            "not running",
        )
        .help(format!("start it first: `{{ {prefix}spawn = \"command\" }}`")),
    }
}

/// What an actor of `kind` is told when it is asked to do `word`, which it cannot.
fn wrong_kind_help(kind: ActorKind, word: &str, who: &Doer<'_>) -> String {
    let (name, prefix) = (who.name, &who.prefix);
    let can = one_of(&words_for(kind));
    let fits = |k: ActorKind| decl(word).is_some_and(|d| d.fits(k));
    match (kind, word) {
        (ActorKind::Udp, "recv_line" | "recv_until" | "recv_bytes") => format!(
            "`{word}` reads from a TCP stream; a UDP socket receives whole datagrams: use `recv` or `recv_match`"
        ),
        (ActorKind::Udp, "recv_eof" | "recv_reset" | "shutdown" | "abort" | "connect") => format!(
            "`{word}` is about a TCP connection; a UDP socket has none: use `close`, or set `protocol = \"tcp\"`"
        ),
        (ActorKind::TcpClient | ActorKind::TcpAccepted, "listen" | "accept") => format!(
            "`{word}` is done by a listener: `{{ srv.listen = true }}`, then `{{ srv.accept = \"conn\" }}`, then steps on `conn`; `{name}` can {can}"
        ),
        (ActorKind::TcpClient | ActorKind::TcpAccepted, "bind" | "reply" | "reply_hex") => format!(
            "`{word}` is for UDP sockets: set `protocol = \"udp\"` in [target] or declare `{name} = \"udp\"` in [actors]"
        ),
        (ActorKind::TcpListener, w) if fits(ActorKind::TcpAccepted) => format!(
            "a listener carries no data: accept a connection (`{{ {prefix}accept = \"conn\" }}`), then `conn.{w}`"
        ),
        (_, w) if fits(ActorKind::Process) => format!(
            "`{w}` is for a process: start one with `{{ proc.spawn = \"command\" }}` and use `proc.{w}`"
        ),
        (ActorKind::Process, _) => format!(
            "a process talks through its standard input and output: {can}; to talk to it over the network, use a socket actor"
        ),
        _ => format!(
            "{} can {can}; use another actor for `{word}`",
            kind_phrase(kind)
        ),
    }
}
