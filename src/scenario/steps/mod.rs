/*!
Validating `steps`: the step grammar (contract §1.1–1.3).

Each step is an inline table with exactly one action, bare (done by `client`) or under
an actor name (`{ alice.send = "hi" }`), and modifiers at the top level or inside the
actor's table. The checker walks the steps in order, keeping what each actor has done so
far (connected, listening, bound, received, spawned, closed) and which variables are
known, so it can say "`send` on a TCP client before any connect" or "`{{token}}` is
never defined or captured before this step" at the exact place.

- this file: the grammar of a step (one action, its modifiers, who does it);
- `actors`: actor kinds and state, and what breaking an action's state rule is told;
- `cx`: [`StepCx`], what an action's parse (`crate::action`) sees of its step.
*/

mod actors;
mod cx;

use std::collections::{BTreeMap, BTreeSet};

use miette::SourceSpan;

use super::model::*;
use super::raw::{self, RawValue, span};
use super::suggest::{did_you_mean, one_of};
use super::values;
use super::vocab::{self, Word};
use crate::action::{State, decl, modifiers};
use crate::diagnostic::Problem;
use actors::{ActorState, Doer};
pub use cx::StepCx;

/// Variables every scenario knows.
pub const BUILTIN_VARS: &[&str] = &["target.host", "target.port", "port", "scenario.dir"];

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
    /// The file's `steps`, scanned for where variables are defined when a help
    /// message needs it.
    pub steps: Option<&'a RawValue<'a>>,
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
    later: std::cell::OnceCell<BTreeMap<String, Vec<usize>>>,
    lines: raw::LineIndex,
    regexes: values::RegexCache,
}

/// Notes every capture and port defined anywhere in `steps`, for help messages.
fn prescan(steps: &RawValue<'_>, lines: &raw::LineIndex, found: &mut BTreeMap<String, Vec<usize>>) {
    let Some(list) = steps.get_ref().as_array() else {
        return;
    };
    for step in list.iter() {
        let Some(t) = step.get_ref().as_table() else {
            continue;
        };
        let line = lines.line(step.span().start);
        prescan_table(t, None, line, lines, found);
    }
}

fn prescan_table(
    t: &raw::RawTable<'_>,
    actor: Option<&str>,
    line: usize,
    lines: &raw::LineIndex,
    found: &mut BTreeMap<String, Vec<usize>>,
) {
    for (k, v) in t.iter() {
        let key: &str = k.get_ref();
        match (key, v.get_ref()) {
            ("capture", raw::DeValue::String(s)) => {
                found.entry(s.to_string()).or_default().push(line);
            }
            (word, _) if decl(word).is_some_and(|d| d.gives_port) => {
                let name = actor.unwrap_or("client");
                found.entry(format!("{name}.port")).or_default().push(line);
            }
            ("steps", _) => prescan(v, lines, found),
            (_, raw::DeValue::Table(inner)) if actor.is_none() => {
                prescan_table(inner, Some(key), line, lines, found)
            }
            _ => {}
        }
    }
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
            later: std::cell::OnceCell::new(),
            regexes: values::RegexCache::new(),
        }
    }

    fn line(&self, offset: usize) -> usize {
        self.lines.line(offset)
    }

    fn push(&mut self, p: Problem) {
        self.problems.push(p);
    }

    /// Every capture and port defined anywhere in the file's steps, with their lines:
    /// found on the first help message that needs them, not for every file.
    pub(super) fn later(&self) -> &BTreeMap<String, Vec<usize>> {
        self.later.get_or_init(|| {
            let mut found = BTreeMap::new();
            if let Some(steps) = self.env.steps {
                prescan(steps, &self.lines, &mut found);
            }
            found
        })
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
        let mut out = Vec::with_capacity(arr.len());
        for (i, item) in arr.iter().enumerate() {
            if let Some(step) = self.step(i + 1, item, scope) {
                out.push(step);
            }
        }
        out
    }

    /// Checks one step and builds it; `None` when it is too wrong to run.
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
        let keys = self.sort_keys(table);
        let act = self.one_action(keys.actions, keys.unknown, step_span)?;
        let mods = self.modifiers_of(&act, keys.modifiers)?;

        let d = decl(act.word.name)?;
        let word = d.word.name;
        let mut actor = act.actor.as_ref().map(|(a, _)| a.as_str());
        if d.state == State::NoActor
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
        let who = Doer {
            name: actor.unwrap_or("client"),
            prefix: actor.map(|a| format!("{a}.")).unwrap_or_default(),
            span: act.actor.as_ref().map(|(_, s)| *s).unwrap_or(act.key),
            line,
        };

        // The actor's kind, and whether this action fits it now.
        let kind = if d.state == State::NoActor {
            None
        } else {
            self.check_actor(&who, &act, d, scope)
        };
        self.check_fit(&mods, word, kind);

        // Build the action from the value and the modifiers.
        let action = {
            let mut cx = StepCx {
                checker: self,
                scope,
                act: &act,
                mods: &mods,
                actor: who.name,
                kind,
                line,
            };
            (d.parse)(&mut cx).map_err(|p| self.push(p)).ok()
        };
        let (timeout, capture, resend) = self.common_modifiers(&mods);
        let capture_as = self.capture_as(&mods, capture.is_some());

        // What this step makes known to later steps.
        if let Some(c) = &capture {
            scope.vars.insert(c.clone());
        }
        if d.gives_port && matches!(kind, Some(ActorKind::TcpListener | ActorKind::Udp)) {
            scope.vars.insert(format!("{}.port", who.name));
        }
        Some(Step {
            number,
            line,
            span: step_span,
            actor: who.name.to_string(),
            action: action?,
            timeout,
            capture,
            capture_as,
            resend,
        })
    }

    /// `capture_as`, which needs a `capture` beside it.
    fn capture_as(&mut self, mods: &BTreeMap<&str, Entry>, captures: bool) -> CaptureAs {
        let Some(m) = mods.get("capture_as") else {
            return CaptureAs::Text;
        };
        match values::one_of_words("capture_as", m.value, CaptureAs::WORDS) {
            Ok(word) if captures || mods.contains_key("capture") => CaptureAs::from_word(word),
            Ok(_) => {
                self.push(
                    Problem::new(m.key, "`capture_as` without `capture`", "nothing captured")
                        .help("name the variable: `capture = \"len\", capture_as = \"u16be\"`"),
                );
                CaptureAs::Text
            }
            Err(p) => {
                self.push(p);
                CaptureAs::Text
            }
        }
    }

    /// Every modifier of the step must fit its action and its actor's kind.
    fn check_fit(&mut self, mods: &BTreeMap<&str, Entry>, word: &str, kind: Option<ActorKind>) {
        for (name, m) in mods {
            if let Err(why) = modifiers::fits(name, word, kind) {
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
    }

    /// The modifiers every step reads the same way: `timeout`, `capture`, `resend`.
    fn common_modifiers(
        &mut self,
        mods: &BTreeMap<&str, Entry>,
    ) -> (Option<std::time::Duration>, Option<String>, Option<u32>) {
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
        (timeout, capture, resend)
    }

    /// Sorts the keys of a step table into actions and modifiers (an actor's table
    /// included), reporting every key that is neither.
    fn sort_keys<'v, 'i>(&mut self, table: &'v raw::RawTable<'i>) -> Keys<'v, 'i> {
        let mut keys = Keys {
            actions: Vec::new(),
            modifiers: Vec::new(),
            unknown: false,
        };
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
                    keys.unknown = true;
                    continue;
                }
                keys.push(word, val, kspan, None);
            } else if let Some(inner) = val.get_ref().as_table() {
                // An actor's table: `{ alice.send = "x", alice.chunk = 1 }`.
                for (ik, iv) in inner.iter() {
                    let ikey: &str = ik.get_ref();
                    match vocab::action(ikey).or_else(|| vocab::modifier(ikey)) {
                        Some(word) if !iv.get_ref().is_table() => {
                            keys.push(word, iv, span(ik), Some((key.to_string(), kspan)));
                        }
                        _ => {
                            keys.unknown = true;
                            self.push(unknown_in_actor(key, ikey, span(ik)));
                        }
                    }
                }
            } else {
                keys.unknown = true;
                self.push(unknown_key(key, kspan));
            }
        }
        keys
    }

    /// The one action of a step; a step with none or several is reported.
    fn one_action<'v, 'i>(
        &mut self,
        mut actions: Vec<Entry<'v, 'i>>,
        unknown: bool,
        step_span: SourceSpan,
    ) -> Option<Entry<'v, 'i>> {
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
        let act = actions.pop();
        if act.is_none() && !unknown {
            self.push(
                Problem::new(step_span, "this step has no action", "no action")
                    .help("a step needs exactly one action, like `send = \"hi\\n\"` or `recv_line = \"HI\"`"),
            );
        }
        act
    }

    /// The step's modifiers by name; `None` when one is given twice. A modifier under
    /// another actor's name is reported.
    fn modifiers_of<'v, 'i>(
        &mut self,
        act: &Entry<'v, 'i>,
        mods: Vec<Entry<'v, 'i>>,
    ) -> Option<BTreeMap<&'static str, Entry<'v, 'i>>> {
        let mut by_name: BTreeMap<&'static str, Entry<'v, 'i>> = BTreeMap::new();
        let mut dup = false;
        for m in mods {
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
            if by_name.contains_key(m.word.name) {
                self.push(Problem::new(
                    m.key,
                    format!("`{}` is given twice in this step", m.word.name),
                    "again",
                ));
                dup = true;
                continue;
            }
            by_name.insert(m.word.name, m);
        }
        (!dup).then_some(by_name)
    }

    fn capture_name(&mut self, m: &Entry) -> Option<String> {
        let name = raw::expect_str("capture", m.value)
            .map_err(|p| self.push(p))
            .ok()?;
        if !values::is_name(name, true) {
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
}

/// The keys of a step table, sorted.
struct Keys<'v, 'i> {
    actions: Vec<Entry<'v, 'i>>,
    modifiers: Vec<Entry<'v, 'i>>,
    /// A key that is neither was found (and reported).
    unknown: bool,
}

impl<'v, 'i> Keys<'v, 'i> {
    fn push(
        &mut self,
        word: &'static Word,
        value: &'v RawValue<'i>,
        key: SourceSpan,
        actor: Option<(String, SourceSpan)>,
    ) {
        let e = Entry {
            word,
            value,
            key,
            actor,
        };
        if vocab::action(word.name).is_some() {
            self.actions.push(e);
        } else {
            self.modifiers.push(e);
        }
    }
}

/// `{ alice.sned = … }`.
fn unknown_in_actor(actor: &str, key: &str, at: SourceSpan) -> Problem {
    let help = did_you_mean(key, vocab::all_words()).unwrap_or_else(|| {
        format!("an actor takes one action: `{actor}.send = \"…\"`, `{actor}.recv_line = \"…\"`, …")
    });
    Problem::new(
        at,
        format!("`{actor}.{key}`: `{key}` is not an action or a modifier"),
        "unknown action",
    )
    .help(help)
}

/// A key of a step that is no action, no modifier and no actor's table.
fn unknown_key(key: &str, at: SourceSpan) -> Problem {
    let help = did_you_mean(key, vocab::all_words()).unwrap_or_else(|| {
        let tcp = crate::action::words_for(ActorKind::TcpClient);
        format!(
            "a step holds one action ({}…) and modifiers ({}); an actor's action is written `{key}.send = …`",
            tcp[..4]
                .iter()
                .map(|w| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(", "),
            one_of(&vocab::modifier_words()),
        )
    });
    Problem::new(
        at,
        format!("`{key}` is not an action or a modifier"),
        "unknown key",
    )
    .help(help)
}
