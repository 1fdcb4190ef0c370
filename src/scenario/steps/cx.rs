/*!
The parse context an action file sees: [`StepCx`]. It gives the action's value and its
modifiers, reads templates, payloads, regexes and peers with their placeholders checked
against what is known at the step, and lets the few actions that change what later steps
may do (`connect` with an expected failure, `accept`, `parallel`) say so. The checker's
own bookkeeping stays behind it.
*/

use std::collections::BTreeMap;

use miette::SourceSpan;

use super::actors::{ActorState, Origin, kind_phrase};
use super::{Checker, Entry, Scope};
use crate::diagnostic::Problem;
use crate::scenario::model::*;
use crate::scenario::raw::{self, RawValue, span};
use crate::scenario::suggest::closest;
use crate::scenario::values::{self, placeholders};

/// What an action's parse sees of its step.
pub struct StepCx<'c, 'a> {
    pub(super) checker: &'c mut Checker<'a>,
    pub(super) scope: &'c mut Scope,
    pub(super) act: &'c Entry<'c, 'c>,
    pub(super) mods: &'c BTreeMap<&'static str, Entry<'c, 'c>>,
    pub(super) actor: &'c str,
    pub(super) kind: Option<ActorKind>,
    pub(super) line: usize,
}

impl<'c, 'a> StepCx<'c, 'a> {
    /// The action's word as written.
    pub fn word(&self) -> &'static str {
        self.act.word.name
    }

    /// The action's value.
    pub fn value(&self) -> &'c RawValue<'c> {
        self.act.value
    }

    /// The span of the action's key.
    pub fn key(&self) -> SourceSpan {
        self.act.key
    }

    /// Who does it (`client` when the step names nobody).
    pub fn actor(&self) -> &'c str {
        self.actor
    }

    /// The actor's kind, when known.
    pub fn kind(&self) -> Option<ActorKind> {
        self.kind
    }

    /// The file's text.
    pub fn src(&self) -> &'a str {
        self.checker.env.src
    }

    /// `[target] role`.
    pub fn role(&self) -> Role {
        self.checker.env.role
    }

    /// The modifier `name` of this step: its value and the span of its key.
    pub fn modifier(&self, name: &str) -> Option<(&'c RawValue<'c>, SourceSpan)> {
        self.mods.get(name).map(|m| (m.value, m.key))
    }

    /// Reports a problem besides the one the parse returns.
    pub fn push(&mut self, p: Problem) {
        self.checker.push(p);
    }

    /// The action's value as a string.
    pub fn string(&self) -> Result<&'c str, Problem> {
        raw::expect_str(self.word(), self.value())
    }

    /// The action's string value as a template, its placeholders checked.
    pub fn own_text(&mut self) -> Result<Template, Problem> {
        let s = self.string()?;
        self.text(self.word(), self.value(), s)
    }

    /// A text value: parses the template and checks its placeholders.
    pub fn text(&mut self, key: &str, v: &RawValue<'_>, s: &str) -> Result<Template, Problem> {
        let t = values::template(self.checker.env.src, key, v, s)?;
        self.check_vars(v, s)?;
        Ok(t)
    }

    /// The action's value as bytes: hex for a `_hex` word, a template otherwise.
    pub fn payload(&mut self) -> Result<Payload, Problem> {
        let (word, v) = (self.word(), self.value());
        let s = raw::expect_str(word, v)?;
        if word.ends_with("_hex") {
            if let Some(t) = self.hex_text(word, v, s, false)? {
                return Ok(Payload::HexTemplate(t));
            }
            Ok(Payload::Hex(values::hex(self.checker.env.src, word, v, s)?))
        } else {
            Ok(Payload::Text(self.text(word, v, s)?))
        }
    }

    /// A hex value with placeholders (`"{{n | u16be}} 00"`) as a template, its
    /// placeholders checked and the hex around them too (`??` allowed with
    /// `wildcards`); `None` when it has no placeholder.
    pub fn hex_text(
        &mut self,
        key: &str,
        v: &RawValue<'_>,
        s: &str,
        wildcards: bool,
    ) -> Result<Option<Template>, Problem> {
        if !s.contains("{{") {
            return Ok(None);
        }
        let t = self.text(key, v, s)?;
        if t.is_literal() {
            return Ok(None);
        }
        values::hex_template(self.checker.env.src, key, v, s, wildcards)?;
        Ok(Some(t))
    }

    /// A regex value, compiled now when it has no placeholder.
    pub fn pattern(&mut self, key: &str, v: &RawValue<'_>) -> Result<Pattern, Problem> {
        let s = raw::expect_str(key, v)?;
        let p = values::pattern(self.checker.env.src, key, v, s, &mut self.checker.regexes)?;
        self.check_vars(v, s)?;
        Ok(p)
    }

    /// The `match` modifier, when the step has one.
    pub fn match_modifier(&mut self) -> Result<Option<Pattern>, Problem> {
        match self.modifier("match") {
            None => Ok(None),
            Some((v, _)) => self.pattern("match", v).map(Some),
        }
    }

    /// A UDP peer modifier (`to`, `from`), when the step has it: "target", a UDP actor
    /// with an address, or host:port.
    pub fn peer_modifier(&mut self, key: &str) -> Result<Option<Template>, Problem> {
        let Some((v, _)) = self.modifier(key) else {
            return Ok(None);
        };
        let s = raw::expect_str(key, v)?;
        let t = self.text(key, v, s)?;
        if t.is_literal() {
            self.check_peer(key, v, s, false)?;
        }
        Ok(Some(t))
    }

    /// An array of positive sizes (`chunks`).
    pub fn positives(&self, key: &str, v: &RawValue<'_>) -> Result<Vec<usize>, Problem> {
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

    /// After a `connect`: the actor is connected, or (when the connect is expected to
    /// fail) it is not, and later steps on it are told why.
    pub fn connect_expects(&mut self, expect: ConnectExpect) {
        let line = self.line;
        let Some(st) = self.scope.actors.get_mut(self.actor) else {
            return;
        };
        match expect {
            ConnectExpect::Connected => {
                st.connected = true;
                st.presumed = false;
            }
            ConnectExpect::Refused | ConnectExpect::Timeout => {
                st.connected = false;
                let word = if expect == ConnectExpect::Refused {
                    "refused"
                } else {
                    "timeout"
                };
                st.failed_connect = Some((word, line));
            }
        }
    }

    /// `accept = "name"`: the name must be new; from this step on it is an accepted
    /// TCP connection.
    pub fn accept_as(&mut self, name: &str) -> Result<(), Problem> {
        let v = self.value();
        if !values::is_name(name, false) {
            return Err(Problem::new(span(v), format!("`{name}` cannot be an actor name"), "bad name")
                .help("name the accepted connection with letters, digits, `_` and `-`: `accept = \"conn\"`"));
        }
        if crate::scenario::vocab::is_word(name) || name == "target" {
            return Err(Problem::new(
                span(v),
                format!("`{name}` is a reserved word and cannot name an actor"),
                "reserved",
            )
            .help("name the accepted connection something like `conn`"));
        }
        if self.scope.actors.contains_key(name) || self.checker.env.declared.contains_key(name) {
            return Err(Problem::new(
                span(v),
                format!("`accept = \"{name}\"`: the name `{name}` is already used"),
                "name taken",
            )
            .help("each accepted connection needs a new actor name, like `conn2`"));
        }
        let mut st = ActorState::new(
            ActorKind::TcpAccepted,
            Origin::Accepted(self.actor.to_string(), self.line),
        );
        st.connected = true;
        self.scope.actors.insert(name.to_string(), st);
        self.checker.register(name, ActorKind::TcpAccepted, span(v));
        Ok(())
    }

    /// The steps of a `parallel` block: checked with fresh actors and the variables
    /// known here.
    pub fn nested_steps(&mut self, v: &RawValue<'_>) -> Vec<Step> {
        let mut inner = Scope {
            actors: BTreeMap::new(),
            vars: self.scope.vars.clone(),
        };
        self.checker.steps(v, &mut inner)
    }

    /// Every placeholder of `s` must be known at this step; the first unknown one is
    /// the error, the others are reported too.
    fn check_vars(&mut self, v: &RawValue<'_>, s: &str) -> Result<(), Problem> {
        let mut problems = Vec::new();
        for ph in placeholders(s) {
            if self.scope.vars.contains(&ph.name) {
                continue;
            }
            let at = raw::string_span(self.checker.env.src, v, ph.at, ph.len);
            let here = self.checker.line(v.span().start);
            problems.push(
                Problem::new(
                    at,
                    format!(
                        "`{{{{{}}}}}` is never defined or captured before this step",
                        ph.name
                    ),
                    "unknown variable",
                )
                .help(self.unknown_var_help(&ph.name, here)),
            );
        }
        let mut it = problems.into_iter();
        match it.next() {
            None => Ok(()),
            Some(first) => {
                self.checker.problems.extend(it);
                Err(first)
            }
        }
    }

    /// Where an unknown variable is defined (after this step, or inside a `parallel`
    /// block before it), or what it may be a typo of.
    fn unknown_var_help(&self, name: &str, here: usize) -> String {
        // The first definition after this step, or else the last one before it.
        let defined = self.checker.later().get(name).and_then(|lines| {
            lines
                .iter()
                .copied()
                .find(|&l| l > here)
                .or(lines.last().copied())
        });
        if let Some(line) = defined {
            let (who, what) = match name.strip_suffix(".port") {
                Some(actor) => (actor.to_string(), "gets its port"),
                None => (name.to_string(), "is captured"),
            };
            return if line < here {
                format!(
                    "`{who}` {what} on line {line}, inside a `parallel` block: what happens there is visible only inside it"
                )
            } else {
                format!(
                    "`{who}` {what} only on line {line}, after this step: move this step after it"
                )
            };
        }
        match closest(name, self.scope.vars.iter().map(String::as_str)) {
            Some(near) => format!(
                "did you mean `{{{{{near}}}}}`? Otherwise define it in [vars], or capture it in an earlier step with `capture = \"{name}\"`"
            ),
            None => format!(
                "define it in [vars] (`{name} = \"…\"`), or capture it in an earlier step with `capture = \"{name}\"`"
            ),
        }
    }

    /// `connect`'s value (or a UDP `to` / `from`): "target", an actor of the right kind
    /// with an address at this step, or host:port.
    pub fn check_peer(
        &self,
        key: &str,
        v: &RawValue<'_>,
        s: &str,
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
        let takes = || {
            format!(
                "`{key}` takes \"target\", {} defined earlier, or \"host:port\"",
                kind_phrase(want)
            )
        };
        if let Some(st) = self.scope.actors.get(s) {
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
                .help(takes()));
            }
            let ready = if listener { st.listening } else { st.bound };
            if !ready {
                let open = if listener { "listen" } else { "bind" };
                return Err(Problem::new(
                    span(v),
                    format!("`{s}` has no address yet at this step"),
                    "no address yet",
                )
                .help(format!("add `{{ {s}.{open} = true }}` before this step")));
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
            self.scope
                .actors
                .iter()
                .filter(|(_, st)| st.kind == want)
                .map(|(n, _)| n.as_str()),
        );
        let help = match closest(s, known.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None if self.checker.later().contains_key(&format!("{s}.port")) => {
                format!(
                    "`{s}` gets its address only later: move this step after `{s}`'s first {}",
                    if listener {
                        "`listen`"
                    } else {
                        "`bind` or `send`"
                    }
                )
            }
            None => takes(),
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
}
