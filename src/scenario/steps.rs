/*!
Validating `steps`: the step grammar (contract §1.1–1.3).

Each step is an inline table with exactly one action, bare (done by `client`) or under
an actor name (`{ alice.send = "hi" }`), and modifiers at the top level or inside the
actor's table. The checker walks the steps in order, keeping what each actor has done so
far (connected, listening, bound, received, spawned, closed) and which variables are
known, so it can say "`send` on a TCP client before any connect" or "`{{token}}` is
never defined or captured before this step" at the exact place.
*/

use std::collections::{BTreeMap, BTreeSet};

use miette::SourceSpan;

use super::model::*;
use super::raw::{self, RawValue, span};
use super::suggest::{closest, did_you_mean, one_of};
use super::values::{self, placeholders};
use super::vocab::{self, Word};
use crate::diagnostic::Problem;

/// The most copies a `parallel` step may ask for.
pub const MAX_PARALLEL: i64 = 10_000;
/// The most bytes a `recv_bytes` step may ask for.
pub const MAX_RECV_BYTES: i64 = crate::limits::STEP_CAP as i64;

/// Variables every scenario knows.
pub const BUILTIN_VARS: &[&str] = &["target.host", "target.port", "port"];

const STREAM: &[&str] = &[
    "send",
    "send_hex",
    "recv",
    "recv_hex",
    "recv_line",
    "recv_match",
    "recv_until",
    "recv_bytes",
    "recv_eof",
    "recv_reset",
    "silence",
    "shutdown",
    "close",
    "abort",
];
const LISTENER: &[&str] = &["listen", "accept", "close"];
const UDP: &[&str] = &[
    "bind",
    "send",
    "send_hex",
    "reply",
    "reply_hex",
    "recv",
    "recv_hex",
    "recv_match",
    "silence",
    "close",
];
const PROCESS: &[&str] = &[
    "spawn",
    "stdin",
    "close_stdin",
    "stdout_line",
    "stdout_match",
    "exit",
    "kill",
];
/// Actions that wait, and so take `timeout` (the same set as [`Action::waits`]).
pub const WAITING: &[&str] = &[
    "connect",
    "recv",
    "recv_hex",
    "recv_line",
    "recv_match",
    "recv_until",
    "recv_bytes",
    "recv_eof",
    "recv_reset",
    "silence",
    "accept",
    "stdout_line",
    "stdout_match",
    "exit",
    "parallel",
];
const CAPTURING: &[&str] = &[
    "recv",
    "recv_hex",
    "recv_line",
    "recv_match",
    "recv_until",
    "recv_bytes",
    "stdout_line",
    "stdout_match",
];

/// Scenario-wide facts the steps are checked against.
pub struct Env<'a> {
    /// The file's text.
    pub src: &'a str,
    /// `[target] protocol`.
    pub protocol: Protocol,
    /// `[target] role`.
    pub role: Role,
    /// `[actors]`: declared kinds, with the span of the declaration.
    pub declared: &'a BTreeMap<String, (ActorKind, SourceSpan)>,
    /// `[vars]` names.
    pub vars: &'a BTreeMap<String, String>,
}

/// How an actor got its kind, for messages.
#[derive(Debug, Clone)]
enum Origin {
    Declared,
    FirstAction(&'static str, usize),
    Accepted(String, usize),
    Target,
}

#[derive(Debug, Clone)]
struct ActorState {
    kind: ActorKind,
    origin: Origin,
    connected: bool,
    failed_connect: Option<(&'static str, usize)>,
    listening: bool,
    bound: bool,
    received: bool,
    spawned: bool,
    closed: Option<usize>,
    /// Taken as ready after a problem, so the mistake is reported once.
    presumed: bool,
}

impl ActorState {
    fn new(kind: ActorKind, origin: Origin) -> ActorState {
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

    /// "a TCP client (its first action, `connect` on line 3, made it one)".
    fn describe(&self, name: &str) -> String {
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

fn kind_phrase(kind: ActorKind) -> &'static str {
    match kind {
        ActorKind::TcpClient => "a TCP client",
        ActorKind::TcpAccepted => "an accepted TCP connection",
        ActorKind::TcpListener => "a TCP listener",
        ActorKind::Udp => "a UDP socket",
        ActorKind::Process => "a process",
    }
}

fn kind_actions(kind: ActorKind) -> Vec<&'static str> {
    match kind {
        ActorKind::TcpClient => std::iter::once("connect")
            .chain(STREAM.iter().copied())
            .collect(),
        ActorKind::TcpAccepted => STREAM.to_vec(),
        ActorKind::TcpListener => LISTENER.to_vec(),
        ActorKind::Udp => UDP.to_vec(),
        ActorKind::Process => PROCESS.to_vec(),
    }
}

/// What is known at a point of a list of steps.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    actors: BTreeMap<String, ActorState>,
    vars: BTreeSet<String>,
}

impl Scope {
    /// The scope at the first step: built-in variables and `[vars]`.
    pub fn start(vars: &BTreeMap<String, String>) -> Scope {
        let mut s = Scope::default();
        s.vars.extend(BUILTIN_VARS.iter().map(|v| v.to_string()));
        s.vars.extend(vars.keys().cloned());
        s
    }
}

/// The step checker: collects problems and every actor's kind.
pub struct Checker<'a> {
    env: Env<'a>,
    /// Every problem found.
    pub problems: Vec<Problem>,
    /// Every actor used, with its kind (parallel ones too).
    pub actors: BTreeMap<String, ActorKind>,
    /// Variables defined somewhere in the file (captures, ports), with the line:
    /// for "it is captured only on line N" help.
    later: BTreeMap<String, Vec<usize>>,
    lines: raw::LineIndex,
    regexes: values::RegexCache,
}

/// One key found in a step table.
struct Entry<'v, 'i> {
    word: &'static Word,
    value: &'v RawValue<'i>,
    key: SourceSpan,
    actor: Option<(String, SourceSpan)>,
}

impl<'a> Checker<'a> {
    /// A checker for a file.
    pub fn new(env: Env<'a>) -> Checker<'a> {
        Checker {
            lines: raw::LineIndex::new(env.src),
            env,
            problems: Vec::new(),
            actors: BTreeMap::new(),
            later: BTreeMap::new(),
            regexes: values::RegexCache::new(),
        }
    }

    fn line(&self, offset: usize) -> usize {
        self.lines.line(offset)
    }

    fn push(&mut self, p: Problem) {
        self.problems.push(p);
    }

    /// Notes every capture and port defined anywhere in `steps`, for help messages.
    pub fn prescan(&mut self, steps: &RawValue<'_>) {
        let Some(list) = steps.get_ref().as_array() else {
            return;
        };
        for step in list.iter() {
            let Some(t) = step.get_ref().as_table() else {
                continue;
            };
            let line = self.line(step.span().start);
            self.prescan_table(t, None, line);
        }
    }

    fn prescan_table(&mut self, t: &raw::RawTable<'_>, actor: Option<&str>, line: usize) {
        for (k, v) in t.iter() {
            let key: &str = k.get_ref();
            match (key, v.get_ref()) {
                ("capture", raw::DeValue::String(s)) => {
                    self.later.entry(s.to_string()).or_default().push(line);
                }
                ("listen" | "bind" | "send" | "send_hex", _) => {
                    let name = actor.unwrap_or("client");
                    self.later
                        .entry(format!("{name}.port"))
                        .or_default()
                        .push(line);
                }
                ("steps", _) => self.prescan(v),
                (_, raw::DeValue::Table(inner)) if actor.is_none() => {
                    self.prescan_table(inner, Some(key), line)
                }
                _ => {}
            }
        }
    }

    /// Checks a list of steps (the top-level one, or a `parallel` block's).
    pub fn steps(&mut self, list: &RawValue<'_>, scope: &mut Scope) -> Vec<Step> {
        let arr = match raw::expect_array("steps", list) {
            Ok(a) => a,
            Err(p) => {
                self.push(p.help("`steps = [ { connect = \"target\" }, { send = \"hi\\n\" } ]`"));
                return Vec::new();
            }
        };
        if arr.is_empty() {
            self.push(
                Problem::new(span(list), "`steps` is empty", "no steps")
                    .help("add at least one step, like `{ connect = \"target\" }`"),
            );
        }
        let mut out = Vec::new();
        for (i, item) in arr.iter().enumerate() {
            if let Some(step) = self.step(i + 1, item, scope) {
                out.push(step);
            }
        }
        out
    }

    fn step(&mut self, number: usize, v: &RawValue<'_>, scope: &mut Scope) -> Option<Step> {
        let step_span = span(v);
        let line = self.line(v.span().start);
        let Some(table) = v.get_ref().as_table() else {
            self.push(
                Problem::new(
                    step_span,
                    format!(
                        "a step is an inline table, not {}",
                        raw::type_name(v.get_ref())
                    ),
                    "not a step",
                )
                .help("write each step as `{ action = value }`, like `{ send = \"hi\\n\" }`"),
            );
            return None;
        };

        // Sort the keys into actions and modifiers.
        let mut actions: Vec<Entry> = Vec::new();
        let mut mods: Vec<Entry> = Vec::new();
        let mut unknown = false;
        for (k, val) in table.iter() {
            let key: &str = k.get_ref();
            let kspan = span(k);
            if let Some(word) = vocab::action(key).or_else(|| vocab::modifier(key)) {
                if val.get_ref().is_table() {
                    self.push(
                        Problem::new(
                            kspan,
                            format!(
                                "`{key}` is an action or modifier word, so it cannot name an actor"
                            ),
                            "reserved word",
                        )
                        .help("give the actor another name, like `alice`"),
                    );
                    unknown = true;
                    continue;
                }
                let e = Entry {
                    word,
                    value: val,
                    key: kspan,
                    actor: None,
                };
                if vocab::action(key).is_some() {
                    actions.push(e);
                } else {
                    mods.push(e);
                }
            } else if let Some(inner) = val.get_ref().as_table() {
                // An actor's table: `{ alice.send = "x", alice.chunk = 1 }`.
                for (ik, iv) in inner.iter() {
                    let ikey: &str = ik.get_ref();
                    let ispan = span(ik);
                    match vocab::action(ikey).or_else(|| vocab::modifier(ikey)) {
                        Some(word) if !iv.get_ref().is_table() => {
                            let e = Entry {
                                word,
                                value: iv,
                                key: ispan,
                                actor: Some((key.to_string(), kspan)),
                            };
                            if vocab::action(ikey).is_some() {
                                actions.push(e);
                            } else {
                                mods.push(e);
                            }
                        }
                        _ => {
                            unknown = true;
                            let help = did_you_mean(ikey, vocab::all_words()).unwrap_or_else(|| {
                                format!("an actor takes one action: `{key}.send = \"…\"`, `{key}.recv_line = \"…\"`, …")
                            });
                            self.push(
                                Problem::new(
                                    ispan,
                                    format!(
                                        "`{key}.{ikey}`: `{ikey}` is not an action or a modifier"
                                    ),
                                    "unknown action",
                                )
                                .help(help),
                            );
                        }
                    }
                }
            } else {
                unknown = true;
                let (label, help) = match did_you_mean(key, vocab::all_words()) {
                    Some(h) => ("unknown key", h),
                    None => (
                        "unknown key",
                        format!(
                            "a step holds one action ({}…) and modifiers ({}); an actor's action is written `{key}.send = …`",
                            vocab::ACTIONS[..4]
                                .iter()
                                .map(|w| format!("`{}`", w.name))
                                .collect::<Vec<_>>()
                                .join(", "),
                            one_of(&vocab::MODIFIERS.iter().map(|w| w.name).collect::<Vec<_>>()),
                        ),
                    ),
                };
                self.push(
                    Problem::new(
                        kspan,
                        format!("`{key}` is not an action or a modifier"),
                        label,
                    )
                    .help(help),
                );
            }
        }

        // Exactly one action.
        if actions.len() > 1 {
            let first = &actions[0];
            let second = &actions[1];
            self.push(
                Problem::new(
                    second.key,
                    format!(
                        "this step has {} actions, `{}` and `{}`: a step does one thing",
                        actions.len(),
                        first.word.name,
                        second.word.name
                    ),
                    "second action",
                )
                .help(format!(
                    "split it into one step per action: `{{ {} = … }}, {{ {} = … }}`",
                    first.word.name, second.word.name
                )),
            );
            return None;
        }
        let Some(act) = actions.pop() else {
            if !unknown {
                self.push(
                    Problem::new(step_span, "this step has no action", "no action")
                        .help("a step needs exactly one action, like `send = \"hi\\n\"` or `recv_line = \"HI\"`"),
                );
            }
            return None;
        };

        // Modifiers given twice (top level and inside the actor's table).
        let mut seen: BTreeMap<&str, SourceSpan> = BTreeMap::new();
        let mut dup = false;
        for m in &mods {
            if seen.insert(m.word.name, m.key).is_some() {
                self.push(Problem::new(
                    m.key,
                    format!("`{}` is given twice in this step", m.word.name),
                    "again",
                ));
                dup = true;
            }
        }
        if dup {
            return None;
        }
        // Modifiers under another actor's name.
        for m in &mods {
            if let Some((other, _)) = &m.actor
                && act.actor.as_ref().map(|(a, _)| a) != Some(other)
            {
                self.push(
                        Problem::new(
                            m.key,
                            format!("`{other}.{}` is a modifier of `{other}`, who does nothing in this step", m.word.name),
                            "other actor",
                        )
                        .help(format!("write it as `{}` at the step's top level", m.word.name)),
                    );
            }
        }

        let word = act.word.name;
        let mut actor = act.actor.clone().map(|(a, _)| a);
        if matches!(word, "sleep" | "parallel")
            && let Some((a, aspan)) = &act.actor
        {
            self.push(
                Problem::new(
                    *aspan,
                    format!("`{word}` takes no actor, but this step says `{a}.{word}`"),
                    "no actor here",
                )
                .help(format!("write `{{ {word} = … }}`")),
            );
            actor = None;
        }
        let actor_name = actor.clone().unwrap_or_else(|| "client".to_string());
        let actor_span = act.actor.as_ref().map(|(_, s)| *s).unwrap_or(act.key);

        let mods: BTreeMap<&str, &Entry> = mods.iter().map(|m| (m.word.name, m)).collect();

        // The actor's kind, and whether this action fits it now.
        let kind = if matches!(word, "sleep" | "parallel") {
            None
        } else {
            self.check_actor(&actor_name, actor.is_some(), actor_span, &act, line, scope)
        };

        // Modifiers fit the action?
        for (name, m) in &mods {
            if let Err(why) = modifier_fits(name, word, kind) {
                self.push(
                    Problem::new(
                        m.key,
                        format!("`{name}` does not apply to `{word}`"),
                        format!("not for `{word}`"),
                    )
                    .help(why),
                );
            }
        }

        // Build the action from the value and the modifiers.
        let action = self.action(&act, &actor_name, kind, &mods, line, scope);

        let timeout = mods.get("timeout").and_then(|m| {
            raw::expect_duration("timeout", m.value, false)
                .map_err(|p| self.push(p))
                .ok()
        });
        let capture = mods.get("capture").and_then(|m| self.capture_name(m));
        let resend = mods.get("resend").and_then(|m| {
            raw::expect_int_in("resend", m.value, 1, 1000)
                .map(|n| n as u32)
                .map_err(|p| self.push(p))
                .ok()
        });

        // What this step makes known to later steps.
        if let Some(c) = &capture {
            scope.vars.insert(c.clone());
        }
        if matches!(word, "listen" | "bind" | "send" | "send_hex")
            && matches!(kind, Some(ActorKind::TcpListener | ActorKind::Udp))
        {
            scope.vars.insert(format!("{actor_name}.port"));
        }
        let action = action?;
        Some(Step {
            number,
            line,
            span: step_span,
            actor: actor_name,
            action,
            timeout,
            capture,
            resend,
        })
    }

    fn capture_name(&mut self, m: &Entry) -> Option<String> {
        let name = raw::expect_str("capture", m.value)
            .map_err(|p| self.push(p))
            .ok()?;
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !ok {
            self.push(
                Problem::new(span(m.value), format!("`{name}` cannot be a variable name"), "bad name")
                    .help("use letters, digits, `_`, `-` and `.`: `capture = \"token\"`, then `{{token}}`"),
            );
            return None;
        }
        if BUILTIN_VARS.contains(&name) || self.env.vars.contains_key(name) {
            self.push(
                Problem::new(
                    span(m.value),
                    format!("`capture = \"{name}\"` would hide the variable `{name}`"),
                    "already a variable",
                )
                .help("capture into another name"),
            );
            return None;
        }
        Some(name.to_string())
    }

    /// Resolves the actor's kind (creating the actor on first use) and checks that it
    /// can do `act` now. Returns the kind it has (or is taken to have, after a problem,
    /// so one mistake is reported once).
    fn check_actor(
        &mut self,
        name: &str,
        named: bool,
        aspan: SourceSpan,
        act: &Entry,
        line: usize,
        scope: &mut Scope,
    ) -> Option<ActorKind> {
        let word = act.word.name;
        let prefix = if named {
            format!("{name}.")
        } else {
            String::new()
        };
        let protocol = self.env.protocol;

        if !scope.actors.contains_key(name) {
            let state = if name == "target" {
                let mut st = ActorState::new(ActorKind::Process, Origin::Target);
                st.spawned = self.env.role == Role::Server;
                if !PROCESS.contains(&word) {
                    self.push(
                        Problem::new(
                            act.key,
                            format!("`target.{word}`: the target is the program under test, and it only takes process actions"),
                            "not a process action",
                        )
                        .help(format!(
                            "talk to the target through a socket actor: `{{ connect = \"target\" }}`; the target itself takes {}",
                            one_of(PROCESS)
                        )),
                    );
                    return None;
                }
                st
            } else if let Some((kind, _)) = self.env.declared.get(name) {
                ActorState::new(*kind, Origin::Declared)
            } else {
                let kind = match word {
                    "connect" => Some(ActorKind::TcpClient),
                    "listen" => Some(ActorKind::TcpListener),
                    "bind" => Some(ActorKind::Udp),
                    "send" | "send_hex" if protocol == Protocol::Udp => Some(ActorKind::Udp),
                    "spawn" => Some(ActorKind::Process),
                    _ => None,
                };
                match kind {
                    Some(k) => ActorState::new(k, Origin::FirstAction(word, line)),
                    None => {
                        let (kind, problem) =
                            self.unknown_first_action(name, &prefix, act, protocol);
                        self.push(problem);
                        let mut st = ActorState::new(kind, Origin::FirstAction(word, line));
                        // Take the actor as ready, so the mistake is reported once.
                        st.connected = true;
                        st.listening = true;
                        st.bound = true;
                        st.received = true;
                        st.spawned = true;
                        st.presumed = true;
                        self.register(name, kind, aspan);
                        scope.actors.insert(name.to_string(), st);
                        return Some(kind);
                    }
                }
            };
            self.register(name, state.kind, aspan);
            scope.actors.insert(name.to_string(), state);
        }
        let st = scope.actors.get(name).cloned()?;
        let kind = st.kind;

        if !kind_actions(kind).contains(&word) {
            let problem = Problem::new(
                act.key,
                format!("{}: it cannot `{word}`", st.describe(name)),
                format!("not for {}", kind_phrase(kind)),
            )
            .help(wrong_kind_help(kind, word, name, &prefix));
            self.push(problem);
            return Some(kind);
        }

        let mut problem: Option<Problem> = None;
        let closed_msg = |line: usize| {
            Problem::new(
                act.key,
                format!("`{name}` was closed on line {line}; it cannot `{word}` any more"),
                "after close",
            )
            .help("use a new actor for a new connection or socket")
        };
        let mut st2 = st.clone();
        match kind {
            ActorKind::TcpClient | ActorKind::TcpAccepted => {
                if let Some(l) = st.closed {
                    problem = Some(closed_msg(l));
                } else if word == "connect" {
                    if st.connected && !st.presumed {
                        problem = Some(
                            Problem::new(act.key, format!("`{name}` is already connected"), "second connect")
                                .help("a TCP client connects once: use another actor name for a second connection, like `{ bob.connect = \"target\" }`"),
                        );
                    }
                    st2.connected = true;
                } else if !st.connected {
                    problem = Some(match st.failed_connect {
                        Some((exp, l)) => Problem::new(
                            act.key,
                            format!("`{word}` on `{name}`, whose connect on line {l} expects `{exp}`: there is no connection"),
                            "no connection",
                        )
                        .help("use another actor for a connection that succeeds"),
                        None => Problem::new(
                            act.key,
                            format!("`{word}` on a TCP client before any connect"),
                            "not connected",
                        )
                        .help(format!("connect first: add `{{ {prefix}connect = \"target\" }}` before this step")),
                    });
                    st2.connected = true;
                    st2.presumed = true;
                }
                if matches!(word, "close" | "abort") {
                    st2.closed = Some(line);
                }
            }
            ActorKind::TcpListener => {
                if let Some(l) = st.closed {
                    problem = Some(closed_msg(l));
                } else if word == "listen" {
                    if st.listening && !st.presumed {
                        problem = Some(
                            Problem::new(
                                act.key,
                                format!("`{name}` is already listening"),
                                "second listen",
                            )
                            .help("use another actor name for a second listener"),
                        );
                    }
                    st2.listening = true;
                    st2.presumed = false;
                } else if !st.listening {
                    problem = Some(
                        Problem::new(
                            act.key,
                            format!("`{name}` must `listen` before it can `{word}`"),
                            "not listening",
                        )
                        .help(format!(
                            "add `{{ {prefix}listen = true }}` before this step"
                        )),
                    );
                    st2.listening = true;
                    st2.presumed = true;
                }
                if word == "close" {
                    st2.closed = Some(line);
                }
            }
            ActorKind::Udp => {
                if let Some(l) = st.closed {
                    problem = Some(closed_msg(l));
                } else {
                    match word {
                        "bind" => {
                            if st.bound && !st.presumed {
                                problem = Some(
                                    Problem::new(act.key, format!("`{name}` is already bound"), "second bind")
                                        .help("a UDP socket binds once, before (or instead of) its first send; use another actor for another socket"),
                                );
                            }
                            st2.bound = true;
                            st2.presumed = false;
                        }
                        "send" | "send_hex" => st2.bound = true,
                        "reply" | "reply_hex" if !st.received => {
                            problem = Some(
                                    Problem::new(
                                        act.key,
                                        format!("`{word}` before `{name}` received anything: there is no sender to reply to"),
                                        "nothing received yet",
                                    )
                                    .help(format!("add a `{prefix}recv` or `{prefix}recv_match` step before it, or use `{prefix}send` with `to = …`")),
                                );
                            st2.received = true;
                        }
                        "recv" | "recv_hex" | "recv_match" | "silence" => {
                            if !st.bound {
                                problem = Some(
                                    Problem::new(
                                        act.key,
                                        format!("`{word}` on `{name}` before it has an address: nothing can reach it"),
                                        "not bound",
                                    )
                                    .help(format!("bind it first (`{{ {prefix}bind = true }}`) or send something first")),
                                );
                                st2.bound = true;
                                st2.presumed = true;
                            }
                            if word != "silence" {
                                st2.received = true;
                            }
                        }
                        "close" => st2.closed = Some(line),
                        _ => {}
                    }
                }
            }
            ActorKind::Process => {
                if word == "spawn" {
                    // A server target's `spawn = true` is reported by the action itself.
                    let server_target = name == "target" && self.env.role == Role::Server;
                    if st.spawned && !st.presumed && !server_target {
                        let help = if name == "target" && self.env.role == Role::Server {
                            "the target is a server and is started before the first step; set `role = \"client\"` in [target] to start it with `target.spawn = true`".to_string()
                        } else {
                            "use another actor name to start a second process".to_string()
                        };
                        problem = Some(
                            Problem::new(
                                act.key,
                                format!("`{name}` is already running"),
                                "second spawn",
                            )
                            .help(help),
                        );
                    }
                    st2.spawned = true;
                    st2.presumed = false;
                } else if !st.spawned {
                    problem = Some(
                        Problem::new(
                            act.key,
                            format!("`{word}` on `{name}` before it is spawned"),
                            "not running",
                        )
                        .help(format!(
                            "start it first: `{{ {prefix}spawn = \"command\" }}`"
                        )),
                    );
                    st2.spawned = true;
                    st2.presumed = true;
                }
            }
        }
        if let Some(p) = problem {
            self.push(p);
        }
        scope.actors.insert(name.to_string(), st2);
        Some(kind)
    }

    /// The problem for an actor whose first action does not say its kind, and the kind
    /// it is then taken to be.
    fn unknown_first_action(
        &self,
        name: &str,
        prefix: &str,
        act: &Entry,
        protocol: Protocol,
    ) -> (ActorKind, Problem) {
        let word = act.word.name;
        if STREAM.contains(&word) && protocol == Protocol::Tcp {
            return (
                ActorKind::TcpClient,
                Problem::new(
                    act.key,
                    format!("`{word}` on a TCP client before any connect"),
                    "not connected",
                )
                .help(format!(
                    "connect first: add `{{ {prefix}connect = \"target\" }}` before this step{}",
                    if word.starts_with("send") {
                        "; for UDP, set `protocol = \"udp\"` in [target]"
                    } else {
                        ""
                    }
                )),
            );
        }
        if UDP.contains(&word) && protocol == Protocol::Udp {
            return (
                ActorKind::Udp,
                Problem::new(
                    act.key,
                    format!("`{word}` on `{name}` before it has an address: nothing can reach it"),
                    "not bound",
                )
                .help(format!(
                    "bind it first (`{{ {prefix}bind = true }}`) or send something first"
                )),
            );
        }
        let (kind, help) = match word {
            "accept" => (
                ActorKind::TcpListener,
                format!("`accept` is done by a listener: add `{{ {prefix}listen = true }}` first"),
            ),
            "reply" | "reply_hex" => (
                ActorKind::Udp,
                "`reply` answers a datagram a UDP socket received: `bind` it and `recv` first (and set `protocol = \"udp\"` for a UDP target)".to_string(),
            ),
            w if PROCESS.contains(&w) => (
                ActorKind::Process,
                format!("start a process first: `{{ {prefix}spawn = \"command\" }}`"),
            ),
            _ => (
                ActorKind::TcpClient,
                format!(
                    "a UDP socket starts with `bind` or `send`; a TCP client with `connect`; declare kinds in [actors] (`{name} = \"udp\"`)"
                ),
            ),
        };
        (
            kind,
            Problem::new(
                act.key,
                format!("`{name}` is first used with `{word}`, which does not say what kind of actor it is"),
                "first use",
            )
            .help(help),
        )
    }

    fn register(&mut self, name: &str, kind: ActorKind, aspan: SourceSpan) {
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

    /// Builds the typed action; `None` when its value (or a modifier's) is bad.
    fn action(
        &mut self,
        act: &Entry,
        actor: &str,
        kind: Option<ActorKind>,
        mods: &BTreeMap<&str, &Entry>,
        line: usize,
        scope: &mut Scope,
    ) -> Option<Action> {
        let word = act.word.name;
        let v = act.value;
        let src = self.env.src;
        let udp = kind == Some(ActorKind::Udp);
        macro_rules! tri {
            ($e:expr) => {
                match $e {
                    Ok(x) => x,
                    Err(p) => {
                        self.push(p);
                        return None;
                    }
                }
            };
        }
        let action = match word {
            "connect" => {
                let s = tri!(raw::expect_str(word, v));
                let to = tri!(self.text(word, v, s, scope));
                if to.is_literal() {
                    tri!(self.check_peer(word, v, s, scope, true));
                }
                let expect = match mods.get("expect") {
                    None => ConnectExpect::Connected,
                    Some(m) => match tri!(super::values::one_of_words(
                        "expect",
                        m.value,
                        &["connected", "refused", "timeout"]
                    )) {
                        "refused" => ConnectExpect::Refused,
                        "timeout" => ConnectExpect::Timeout,
                        _ => ConnectExpect::Connected,
                    },
                };
                if expect != ConnectExpect::Connected {
                    if let Some(st) = scope.actors.get_mut(actor) {
                        st.connected = false;
                        st.failed_connect = Some(if expect == ConnectExpect::Refused {
                            ("refused", line)
                        } else {
                            ("timeout", line)
                        });
                    }
                } else if let Some(st) = scope.actors.get_mut(actor) {
                    st.connected = true;
                    st.presumed = false;
                }
                Action::Connect { to, expect }
            }
            "send" | "send_hex" => {
                let data = tri!(self.payload(word, v, scope));
                let chunks = mods.get("chunks");
                let chunk = mods.get("chunk");
                let chunking = match (chunks, chunk) {
                    (Some(_), Some(c)) => {
                        self.push(
                            Problem::new(c.key, "`chunks` and `chunk` are both given", "pick one")
                                .help("`chunks = [3, 4]` gives the sizes; `chunk = 3` cuts every 3 bytes: keep one"),
                        );
                        return None;
                    }
                    (Some(m), None) => Chunking::Sizes(tri!(self.positives("chunks", m.value))),
                    (None, Some(m)) => Chunking::Every(tri!(raw::expect_int_in(
                        "chunk",
                        m.value,
                        1,
                        i64::from(u32::MAX)
                    )) as usize),
                    (None, None) => Chunking::Whole,
                };
                let pause = match mods.get("pause") {
                    None => None,
                    Some(m) => {
                        if chunking == Chunking::Whole && !udp {
                            self.push(
                                Problem::new(m.key, "`pause` without `chunks` or `chunk`: there is nothing to pause between", "nothing to pause")
                                    .help("add `chunks = [sizes]` or `chunk = N`, or remove `pause`"),
                            );
                            return None;
                        }
                        Some(tri!(raw::expect_duration("pause", m.value, true)))
                    }
                };
                let to = match mods.get("to") {
                    None => None,
                    Some(m) => Some(tri!(self.peer_modifier("to", m.value, scope))),
                };
                Action::Send {
                    data,
                    chunking,
                    pause,
                    to,
                }
            }
            "reply" | "reply_hex" => Action::Reply {
                data: tri!(self.payload(word, v, scope)),
            },
            "recv" | "recv_hex" => {
                let expect = tri!(self.payload(word, v, scope));
                let from = match mods.get("from") {
                    None => None,
                    Some(m) => Some(tri!(self.peer_modifier("from", m.value, scope))),
                };
                Action::Recv { expect, from }
            }
            "recv_line" => {
                let s = tri!(raw::expect_str(word, v));
                if let Some(i) = s.find('\n') {
                    tri!(Err(Problem::new(
                        raw::string_span(src, v, i, 1),
                        "`recv_line` compares one line, without its `\\n`",
                        "a newline",
                    )
                    .help("remove the `\\n` (it is read but not compared), or use `recv` for exact bytes")));
                }
                Action::RecvLine {
                    expect: tri!(self.text(word, v, s, scope)),
                }
            }
            "recv_match" => {
                let pattern = tri!(self.pattern(word, v, scope));
                let from = match mods.get("from") {
                    None => None,
                    Some(m) => Some(tri!(self.peer_modifier("from", m.value, scope))),
                };
                Action::RecvMatch { pattern, from }
            }
            "recv_until" => {
                let s = tri!(raw::expect_str(word, v));
                if s.is_empty() {
                    tri!(Err(Problem::new(span(v), "`recv_until` needs a delimiter", "empty")
                        .help("write the bytes that end what is read, like `recv_until = \"\\r\\n\\r\\n\"`")));
                }
                let delimiter = tri!(self.text(word, v, s, scope));
                let pattern = match mods.get("match") {
                    None => None,
                    Some(m) => Some(tri!(self.pattern("match", m.value, scope))),
                };
                Action::RecvUntil { delimiter, pattern }
            }
            "recv_bytes" => {
                let count = tri!(raw::expect_int_in(word, v, 1, MAX_RECV_BYTES)) as usize;
                let pattern = match mods.get("match") {
                    None => None,
                    Some(m) => Some(tri!(self.pattern("match", m.value, scope))),
                };
                Action::RecvBytes { count, pattern }
            }
            "recv_eof" => {
                tri!(raw::expect_true(word, v));
                Action::RecvEof
            }
            "recv_reset" => {
                tri!(raw::expect_true(word, v));
                Action::RecvReset
            }
            "silence" => Action::Silence(tri!(raw::expect_duration(word, v, false))),
            "shutdown" => match tri!(super::values::one_of_words(
                word,
                v,
                &["write", "read", "both"]
            )) {
                "write" => Action::Shutdown(ShutdownHow::Write),
                "read" => Action::Shutdown(ShutdownHow::Read),
                _ => Action::Shutdown(ShutdownHow::Both),
            },
            "close" => {
                tri!(raw::expect_true(word, v));
                Action::Close
            }
            "abort" => {
                tri!(raw::expect_true(word, v));
                Action::Abort
            }
            "listen" | "bind" => {
                let addr = match v.get_ref() {
                    raw::DeValue::Boolean(true) => Template::literal("127.0.0.1:0"),
                    raw::DeValue::String(s) => {
                        let t = tri!(self.text(word, v, s, scope));
                        if t.is_literal()
                            && let Err(why) = values::bind_addr(s)
                        {
                            tri!(Err(Problem::new(span(v), format!("`{word}`: {why}"), "bad address")
                                    .help(format!("`{word} = true` takes any free port on 127.0.0.1; its port is `{{{{{actor}.port}}}}`"))));
                        }
                        t
                    }
                    _ => tri!(Err(Problem::new(
                        span(v),
                        format!(
                            "`{word}` takes `true` or an address like \"127.0.0.1:0\", not {}",
                            raw::type_name(v.get_ref())
                        ),
                        "bad value",
                    ))),
                };
                if word == "listen" {
                    Action::Listen { addr }
                } else {
                    Action::Bind { addr }
                }
            }
            "accept" => {
                let name = tri!(raw::expect_str(word, v));
                tri!(self.accept_name(name, v, actor, line, scope));
                Action::Accept {
                    name: name.to_string(),
                }
            }
            "spawn" => {
                let command = match v.get_ref() {
                    raw::DeValue::Boolean(true) => {
                        if self.env.role != Role::Client {
                            tri!(Err(Problem::new(
                                span(v),
                                "`spawn = true` starts the target's own command, but the target is a server",
                                "target is a server",
                            )
                            .help("set `role = \"client\"` in [target] (then the target is started by this step), or give a command: `spawn = \"python3 client.py\"`")));
                        }
                        None
                    }
                    raw::DeValue::String(s) => {
                        if actor == "target" {
                            tri!(Err(Problem::new(
                                span(v),
                                "the target's command comes from [target] `command` (or the CLI)",
                                "not a command here",
                            )
                            .help("write `{ target.spawn = true }`")));
                        }
                        if s.trim().is_empty() {
                            tri!(Err(Problem::new(
                                span(v),
                                "`spawn` needs a command",
                                "empty"
                            )));
                        }
                        Some(tri!(self.text(word, v, s, scope)))
                    }
                    _ => tri!(Err(Problem::new(
                        span(v),
                        format!(
                            "`spawn` takes a command string or `true`, not {}",
                            raw::type_name(v.get_ref())
                        ),
                        "bad value",
                    ))),
                };
                Action::Spawn { command }
            }
            "stdin" => {
                let s = tri!(raw::expect_str(word, v));
                Action::Stdin(tri!(self.text(word, v, s, scope)))
            }
            "close_stdin" => {
                tri!(raw::expect_true(word, v));
                Action::CloseStdin
            }
            "stdout_line" => {
                let s = tri!(raw::expect_str(word, v));
                Action::StdoutLine(tri!(self.text(word, v, s, scope)))
            }
            "stdout_match" => Action::StdoutMatch(tri!(self.pattern(word, v, scope))),
            "exit" => Action::Exit(tri!(raw::expect_int_in(
                word,
                v,
                i64::from(i32::MIN),
                i64::from(i32::MAX)
            )) as i32),
            "kill" => {
                tri!(raw::expect_true(word, v));
                Action::Kill
            }
            "sleep" => Action::Sleep(tri!(raw::expect_duration(word, v, true))),
            "parallel" => {
                let copies = raw::expect_int_in(word, v, 1, MAX_PARALLEL)
                    .map_err(|p| self.push(p))
                    .ok();
                let Some(m) = mods.get("steps") else {
                    self.push(
                        Problem::new(act.key, "`parallel` without `steps`", "no steps")
                            .help("give the steps each copy runs: `{ parallel = 10, steps = [ { connect = \"target\" }, … ] }`"),
                    );
                    return None;
                };
                let mut inner = Scope {
                    actors: BTreeMap::new(),
                    vars: scope.vars.clone(),
                };
                let steps = self.steps(m.value, &mut inner);
                Action::Parallel {
                    copies: copies? as usize,
                    steps,
                }
            }
            other => {
                // Every word of the vocabulary has an arm above; a word without one must
                // never drop its step silently.
                self.push(
                    Problem::new(
                        raw::span(v),
                        format!("netdrill knows the action `{other}` but cannot read it yet"),
                        "not readable",
                    )
                    .help("this is a bug in netdrill: please report it with this file"),
                );
                return None;
            }
        };
        Some(action)
    }

    /// A text value: parses the template and checks its placeholders.
    fn text(
        &mut self,
        key: &str,
        v: &RawValue<'_>,
        s: &str,
        scope: &Scope,
    ) -> Result<Template, Problem> {
        let t = values::template(self.env.src, key, v, s)?;
        self.check_vars(v, s, scope)?;
        Ok(t)
    }

    fn payload(&mut self, word: &str, v: &RawValue<'_>, scope: &Scope) -> Result<Payload, Problem> {
        let s = raw::expect_str(word, v)?;
        if word.ends_with("_hex") {
            Ok(Payload::Hex(values::hex(self.env.src, word, v, s)?))
        } else {
            Ok(Payload::Text(self.text(word, v, s, scope)?))
        }
    }

    fn pattern(&mut self, key: &str, v: &RawValue<'_>, scope: &Scope) -> Result<Pattern, Problem> {
        let s = raw::expect_str(key, v)?;
        let p = values::pattern(self.env.src, key, v, s, &mut self.regexes)?;
        self.check_vars(v, s, scope)?;
        Ok(p)
    }

    /// Every placeholder of `s` must be known in `scope`; the first unknown one is the
    /// error, the others are reported too.
    fn check_vars(&mut self, v: &RawValue<'_>, s: &str, scope: &Scope) -> Result<(), Problem> {
        let mut problems = Vec::new();
        for ph in placeholders(s) {
            if scope.vars.contains(&ph.name) {
                continue;
            }
            let at = raw::string_span(self.env.src, v, ph.at, ph.len);
            let here = self.line(v.span().start);
            // The first definition after this step, or else the last one before it.
            let defined = self.later.get(&ph.name).and_then(|lines| {
                lines
                    .iter()
                    .copied()
                    .find(|&l| l > here)
                    .or(lines.last().copied())
            });
            let help = if let Some(line) = defined {
                let (who, what) = match ph.name.strip_suffix(".port") {
                    Some(actor) => (actor.to_string(), "gets its port"),
                    None => (ph.name.clone(), "is captured"),
                };
                if line < here {
                    format!(
                        "`{who}` {what} on line {line}, inside a `parallel` block: what happens there is visible only inside it"
                    )
                } else {
                    format!(
                        "`{who}` {what} only on line {line}, after this step: move this step after it"
                    )
                }
            } else if let Some(near) = closest(&ph.name, scope.vars.iter().map(String::as_str)) {
                format!(
                    "did you mean `{{{{{near}}}}}`? Otherwise define it in [vars], or capture it in an earlier step with `capture = \"{}\"`",
                    ph.name
                )
            } else {
                format!(
                    "define it in [vars] (`{} = \"…\"`), or capture it in an earlier step with `capture = \"{}\"`",
                    ph.name, ph.name
                )
            };
            problems.push(
                Problem::new(
                    at,
                    format!(
                        "`{{{{{}}}}}` is never defined or captured before this step",
                        ph.name
                    ),
                    "unknown variable",
                )
                .help(help),
            );
        }
        let mut it = problems.into_iter();
        match it.next() {
            None => Ok(()),
            Some(first) => {
                self.problems.extend(it);
                Err(first)
            }
        }
    }

    fn positives(&self, key: &str, v: &RawValue<'_>) -> Result<Vec<usize>, Problem> {
        let arr = raw::expect_array(key, v)?;
        if arr.is_empty() {
            return Err(
                Problem::new(span(v), format!("`{key}` is empty"), "no sizes")
                    .help("give the sizes of the writes, like `chunks = [3, 4, 5]`"),
            );
        }
        arr.iter()
            .map(|x| raw::expect_int_in(key, x, 1, i64::from(u32::MAX)).map(|n| n as usize))
            .collect()
    }

    /// `connect`'s value (or a UDP `to` / `from`): "target", an actor, or host:port.
    fn check_peer(
        &self,
        key: &str,
        v: &RawValue<'_>,
        s: &str,
        scope: &Scope,
        listener: bool,
    ) -> Result<(), Problem> {
        if s == "target" {
            return Ok(());
        }
        let want = if listener {
            ActorKind::TcpListener
        } else {
            ActorKind::Udp
        };
        if let Some(st) = scope.actors.get(s) {
            let ready = if listener { st.listening } else { st.bound };
            if st.kind != want {
                return Err(Problem::new(
                    span(v),
                    format!(
                        "`{key} = \"{s}\"`: {}, not {}",
                        st.describe(s),
                        kind_phrase(want)
                    ),
                    "wrong kind",
                )
                .help(format!(
                    "`{key}` takes \"target\", {} defined earlier, or \"host:port\"",
                    kind_phrase(want)
                )));
            }
            if !ready {
                return Err(Problem::new(
                    span(v),
                    format!("`{s}` has no address yet at this step"),
                    "no address yet",
                )
                .help(if listener {
                    format!("add `{{ {s}.listen = true }}` before this step")
                } else {
                    format!("add `{{ {s}.bind = true }}` before this step")
                }));
            }
            return Ok(());
        }
        if s.contains(':') {
            return values::host_port(s).map_err(|why| {
                Problem::new(span(v), format!("`{key} = \"{s}\"`: {why}"), "bad address")
                    .help(format!("`{key}` takes \"target\", {} defined earlier, or \"host:port\" with a port from 1 to 65535", kind_phrase(want)))
            });
        }
        let mut known: Vec<&str> = vec!["target"];
        known.extend(
            scope
                .actors
                .iter()
                .filter(|(_, st)| st.kind == want)
                .map(|(n, _)| n.as_str()),
        );
        let help = match closest(s, known.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None if self.later.contains_key(&format!("{s}.port")) => {
                format!(
                    "`{s}` gets its address only later: move this step after `{s}`'s first {}",
                    if listener {
                        "`listen`"
                    } else {
                        "`bind` or `send`"
                    }
                )
            }
            None => format!(
                "`{key}` takes \"target\", {} defined earlier, or \"host:port\"",
                kind_phrase(want)
            ),
        };
        Err(Problem::new(
            span(v),
            format!(
                "`{key} = \"{s}\"` is not \"target\", {} defined earlier, or host:port",
                kind_phrase(want)
            ),
            "unknown peer",
        )
        .help(help))
    }

    fn peer_modifier(
        &mut self,
        key: &str,
        v: &RawValue<'_>,
        scope: &Scope,
    ) -> Result<Template, Problem> {
        let s = raw::expect_str(key, v)?;
        let t = self.text(key, v, s, scope)?;
        if t.is_literal() {
            self.check_peer(key, v, s, scope, false)?;
        }
        Ok(t)
    }

    fn accept_name(
        &mut self,
        name: &str,
        v: &RawValue<'_>,
        by: &str,
        line: usize,
        scope: &mut Scope,
    ) -> Result<(), Problem> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
        if !valid {
            return Err(Problem::new(span(v), format!("`{name}` cannot be an actor name"), "bad name")
                .help("name the accepted connection with letters, digits, `_` and `-`: `accept = \"conn\"`"));
        }
        if vocab::action(name).is_some() || vocab::modifier(name).is_some() || name == "target" {
            return Err(Problem::new(
                span(v),
                format!("`{name}` is a reserved word and cannot name an actor"),
                "reserved",
            )
            .help("name the accepted connection something like `conn`"));
        }
        if scope.actors.contains_key(name) || self.env.declared.contains_key(name) {
            return Err(Problem::new(
                span(v),
                format!("`accept = \"{name}\"`: the name `{name}` is already used"),
                "name taken",
            )
            .help("each accepted connection needs a new actor name, like `conn2`"));
        }
        let mut st = ActorState::new(
            ActorKind::TcpAccepted,
            Origin::Accepted(by.to_string(), line),
        );
        st.connected = true;
        scope.actors.insert(name.to_string(), st);
        self.register(name, ActorKind::TcpAccepted, span(v));
        Ok(())
    }
}

/// Whether modifier `m` fits action `word` done by an actor of `kind`; if not, why.
fn modifier_fits(m: &str, word: &str, kind: Option<ActorKind>) -> Result<(), String> {
    let tcp = kind.is_some_and(ActorKind::is_tcp_stream);
    let udp = kind == Some(ActorKind::Udp);
    let send = matches!(word, "send" | "send_hex");
    let ok = match m {
        "timeout" => WAITING.contains(&word),
        "capture" => CAPTURING.contains(&word),
        "chunks" | "chunk" | "pause" => send && !udp,
        "expect" => word == "connect",
        "to" => send && !tcp,
        "from" => matches!(word, "recv" | "recv_hex" | "recv_match") && !tcp,
        "match" => matches!(word, "recv_until" | "recv_bytes"),
        "resend" => matches!(word, "recv" | "recv_hex" | "recv_match") && !tcp,
        "steps" => word == "parallel",
        _ => true,
    };
    if ok {
        return Ok(());
    }
    Err(match m {
        "timeout" => format!("`timeout` bounds a step that waits ({}…); `{word}` does not wait: remove it", one_of(&WAITING[..4])),
        "capture" => format!("`capture` stores what a receive read ({}); `{word}` reads nothing", one_of(CAPTURING)),
        "chunks" | "chunk" | "pause" if send && udp => format!("`{m}` splits a TCP write; a UDP send is one datagram and is never split"),
        "chunks" | "chunk" | "pause" => format!("`{m}` splits a TCP `send` into several writes; move it to a `send` step"),
        "expect" => "`expect` gives the expected outcome of a `connect` (\"connected\", \"refused\" or \"timeout\")".to_string(),
        "to" if tcp => "`to` picks where a UDP datagram goes; a TCP send goes down its connection: remove it".to_string(),
        "to" => "`to` picks where a UDP `send` goes".to_string(),
        "from" if tcp => "`from` checks who sent a UDP datagram; a TCP stream has one peer: remove it".to_string(),
        "from" => "`from` checks who sent the datagram of a UDP `recv`, `recv_hex` or `recv_match`".to_string(),
        "match" => "`match` checks what `recv_until` or `recv_bytes` read; `recv_match` and `stdout_match` take the regex as their value".to_string(),
        "resend" if tcp => "`resend` retransmits a lost UDP datagram; TCP retransmits by itself: remove it".to_string(),
        "resend" => "`resend` retries a UDP `recv`, `recv_hex` or `recv_match` by sending the last datagram again".to_string(),
        "steps" => "`steps` belongs to `parallel`: `{ parallel = 10, steps = [ … ] }`".to_string(),
        _ => format!("remove `{m}`"),
    })
}

fn wrong_kind_help(kind: ActorKind, word: &str, name: &str, prefix: &str) -> String {
    let can = one_of(&kind_actions(kind));
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
        (ActorKind::TcpListener, w) if STREAM.contains(&w) => format!(
            "a listener carries no data: accept a connection (`{{ {prefix}accept = \"conn\" }}`), then `conn.{w}`"
        ),
        (_, w) if PROCESS.contains(&w) => format!(
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn waiting_words_agree_with_the_model() {
        let t = Template::literal("x");
        let samples = [
            Action::Connect {
                to: t.clone(),
                expect: ConnectExpect::Connected,
            },
            Action::Send {
                data: Payload::Text(t.clone()),
                chunking: Chunking::Whole,
                pause: None,
                to: None,
            },
            Action::RecvLine { expect: t.clone() },
            Action::RecvEof,
            Action::Close,
            Action::Accept { name: "c".into() },
            Action::Sleep(Duration::ZERO),
            Action::Exit(0),
            Action::Kill,
            Action::Stdin(t.clone()),
        ];
        for a in samples {
            assert_eq!(WAITING.contains(&a.word()), a.waits(), "{}", a.word());
        }
        for w in WAITING
            .iter()
            .chain(CAPTURING)
            .chain(STREAM)
            .chain(UDP)
            .chain(PROCESS)
            .chain(LISTENER)
        {
            assert!(vocab::action(w).is_some(), "{w}");
        }
    }
}
