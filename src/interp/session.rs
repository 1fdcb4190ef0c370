/*!
A session: the actors, variables and transcript of one run, or of one copy of a
`parallel` block, and the step loop over them.

What an action's `exec` may use of it (`crate::action`) is the narrow set of `pub(crate)`
methods here and in `peers`: render templates, reach an actor of the right kind, add or
remove one, set a variable, read the run's settings. Its fields stay private to the
interpreter.
*/

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::time::Instant;

use super::link::Link;
use super::lock;
use super::peers::not_a;
use super::process::ChildGroup;
use super::target::RunningTarget;
use super::tcp::TcpActor;
use super::udp::UdpActor;
use crate::outcome::StepFailure;
use crate::scenario::{Action, Pattern, Payload, Scenario, Step, Template};
use crate::transcript::{Detail, Entry, Failure, Outcome, Transcript, show_bytes, show_hex};

/// How long a process gets between SIGTERM and SIGKILL.
pub(crate) const KILL_GRACE: Duration = Duration::from_millis(500);

/// An actor of a session.
pub(crate) enum Actor {
    Tcp(TcpActor),
    Listener(TcpListener),
    Udp(UdpActor),
    Process(Box<ChildGroup>),
}

/// What every session of a run shares.
pub(crate) struct Shared<'a> {
    pub(super) scenario: &'a Scenario,
    pub(super) default_timeout: Duration,
    pub(super) wall: Option<super::engine::Wall>,
    pub(super) target_addr: Option<SocketAddr>,
    pub(super) target_command: Option<String>,
    pub(super) link: Option<Link>,
    pub(super) cwd: PathBuf,
    /// Large rendered templates, shared by every copy that renders them from the same
    /// values (see [`Session::render`]).
    pub(super) renders: std::sync::Mutex<HashMap<usize, Rendered>>,
    /// How large shared renders read in the transcript, by address (each entry keeps
    /// its text alive, so an address is never reused while it is here).
    pub(super) shown: std::sync::Mutex<HashMap<usize, (Arc<str>, String)>>,
}

/// A rendered template and the values it was rendered from (by address: the same
/// `Arc`s mean the same values).
pub(crate) struct Rendered {
    from: Vec<usize>,
    text: Arc<str>,
}

/// Renders at least this long are shared between copies instead of made again.
const SHARE_RENDERS_FROM: usize = 4096;

/// The actors, variables and transcript of one run, or of one `parallel` copy.
pub struct Session<'s, 'a> {
    pub(super) shared: &'s Shared<'a>,
    /// Prefix of link flow names, so copies of a `parallel` block never share a flow.
    pub(super) flow_prefix: String,
    /// Values of `{{…}}` placeholders; shared (not copied) by `parallel` copies.
    pub(super) vars: HashMap<String, Arc<str>>,
    /// The session's sockets and processes by actor name, looked up by every step (a
    /// fast hash of a short name).
    pub(super) actors: foldhash::HashMap<String, Actor>,
    /// Per actor: how many TCP connections it opened through the link.
    pub(super) flows: HashMap<String, usize>,
    pub(super) transcript: Transcript,
    /// The server target, in the top session only (for `target.*` process steps).
    pub(super) target: Option<&'s mut RunningTarget>,
    /// How many times the current step resent its datagram (`resend`).
    resent: u32,
    /// The port of the first listener or bound UDP socket: `{{port}}` for a target
    /// that is a client (`role = "client"`), which must be told where to connect.
    pub(super) first_port: Option<u16>,
}

/// What an action did: nothing, or the bytes a receive read (what `capture` stores).
pub type StepOutput = Result<Option<Vec<u8>>, Failure>;

impl<'s, 'a> Session<'s, 'a> {
    pub(crate) fn new(
        shared: &'s Shared<'a>,
        flow_prefix: String,
        vars: HashMap<String, Arc<str>>,
        target: Option<&'s mut RunningTarget>,
    ) -> Self {
        Session {
            shared,
            flow_prefix,
            vars,
            actors: foldhash::HashMap::default(),
            flows: HashMap::new(),
            transcript: Transcript::new(),
            target,
            resent: 0,
            first_port: None,
        }
    }

    /// Runs `steps` in order; the first failure ends the run. `outer` is the number of the
    /// enclosing `parallel` step, for steps of a copy.
    pub(crate) async fn run_steps(
        &mut self,
        steps: &[Step],
        outer: Option<usize>,
    ) -> Result<(), StepFailure> {
        let shared = self.shared;
        // One timer for the wall limit, registered once for the whole list rather than
        // once per step.
        let mut wall = shared
            .wall
            .as_ref()
            .map(|w| (w, Box::pin(tokio::time::sleep_until(w.at.into()))));
        for step in steps {
            let number = outer.unwrap_or(step.number);
            if let Action::Parallel(p) = &step.action {
                self.run_parallel(step, p.copies, &p.steps).await?;
                continue;
            }
            let mut detail = step.action.detail(self);
            self.resent = 0;
            let result = match wall.as_mut() {
                None => step.action.exec(self, step).await,
                Some((limit, at)) => tokio::select! {
                    // The step first, as a timeout would: a step that is done when the
                    // limit is reached still counts.
                    biased;
                    r = step.action.exec(self, step) => r,
                    () = at.as_mut() => Err(Failure::msg(format!(
                        "{} was reached during this step, so it was stopped",
                        limit.what
                    ))),
                },
            };
            match self.resent {
                0 => {}
                1 => detail.push_str(" (resent once)"),
                n => detail.push_str(&format!(" (resent {n} times)")),
            }
            let mut captured = None;
            let outcome = match result.and_then(|read| self.capture(step, read)) {
                Ok(c) => {
                    captured = c;
                    Outcome::Ok
                }
                Err(f) => Outcome::Failed(f),
            };
            self.transcript.push(Entry::Step {
                step: number,
                actor: step.actor.clone(),
                action: step.action_word().into(),
                detail,
                outcome: outcome.clone(),
            });
            if let Some((name, value)) = captured {
                self.transcript.note(format!(
                    "captured {name} = {}",
                    show_bytes(value.as_bytes())
                ));
            }
            if let Some(Actor::Udp(u)) = self.actors.get_mut(&step.actor) {
                for d in u.take_decisions() {
                    self.transcript.push(d.to_entry());
                }
            }
            if let Outcome::Failed(failure) = outcome {
                return Err(StepFailure {
                    step: number,
                    line: step.line,
                    span: Some(step.span),
                    actor: step.actor.clone(),
                    action: step.action_word().into(),
                    failure,
                });
            }
        }
        Ok(())
    }

    /// Stores what a step read under its `capture` name, decoded as `capture_as` says;
    /// the name and value, for the transcript.
    fn capture(
        &mut self,
        step: &Step,
        read: Option<Vec<u8>>,
    ) -> Result<Option<(String, Arc<str>)>, Failure> {
        let (Some(name), Some(bytes)) = (&step.capture, read) else {
            return Ok(None);
        };
        let value: Arc<str> = step.capture_as.decode(&bytes).map_err(Failure::msg)?.into();
        self.vars.insert(name.clone(), Arc::clone(&value));
        Ok(Some((name.clone(), value)))
    }

    /// Closes every socket and ends every process of this session.
    pub(crate) async fn teardown(&mut self) {
        for (_, actor) in self.actors.drain() {
            if let Actor::Process(mut child) = actor {
                child.terminate(KILL_GRACE).await;
            }
        }
    }

    /// The step's wait: its `timeout`, or the run's default.
    pub(crate) fn timeout(&self, step: &Step) -> Duration {
        step.timeout.unwrap_or(self.shared.default_timeout)
    }

    /// Renders `t` with this session's values. A large result rendered from the same
    /// values (the same `Arc`s: constants, not a copy's own captures) by another copy
    /// of a `parallel` block is shared, not made again: 1,000 copies sending a 3 MB
    /// `[vars]` value hold it once.
    pub(crate) fn render_shared(&self, t: &Template) -> Result<Arc<str>, Failure> {
        if t.is_literal() {
            return Ok(t.raw_arc());
        }
        let missing =
            |name: String| Failure::msg(format!("`{{{{{name}}}}}` has no value at this step"));
        let mut from = Vec::new();
        let mut size = t.raw().len();
        for name in t.vars() {
            match self.vars.get(name) {
                Some(v) => {
                    from.push(Arc::as_ptr(v) as *const u8 as usize);
                    size += v.len();
                }
                None => return Err(missing(name.to_string())),
            }
        }
        let key = t as *const Template as usize;
        let shareable = size >= SHARE_RENDERS_FROM;
        if shareable
            && let Some(r) = lock(&self.shared.renders).get(&key)
            && r.from == from
        {
            return Ok(Arc::clone(&r.text));
        }
        let text: Arc<str> = t
            .render(|name| self.vars.get(name).cloned())
            .map_err(Failure::msg)?
            .into();
        if shareable {
            lock(&self.shared.renders).insert(
                key,
                Rendered {
                    from,
                    text: Arc::clone(&text),
                },
            );
        }
        Ok(text)
    }

    /// How a large shared render reads in the transcript (its length and SHA-256),
    /// computed once for every copy that sends it.
    pub(crate) fn shown_once(&self, text: &Arc<str>) -> String {
        let key = Arc::as_ptr(text) as *const u8 as usize;
        if let Some((_, shown)) = lock(&self.shared.shown).get(&key) {
            return shown.clone();
        }
        let shown = show_bytes(text.as_bytes());
        lock(&self.shared.shown).insert(key, (Arc::clone(text), shown.clone()));
        shown
    }

    /// Renders `t` with this session's values.
    pub(crate) fn render(&self, t: &Template) -> Result<String, Failure> {
        t.render(|name| self.vars.get(name).cloned())
            .map_err(Failure::msg)
    }

    /// Renders a hex template (`"{{n | u16be}} {{body | hex}}"`) and decodes it: the
    /// bytes, and per byte whether it is `??` (with `wildcards`; empty when none is).
    pub(crate) fn hex(
        &self,
        t: &Template,
        wildcards: bool,
    ) -> Result<(Vec<u8>, Vec<bool>), Failure> {
        let text = self.render(t)?;
        crate::scenario::values::decode_hex(&text, wildcards).map_err(|why| {
            Failure::msg(format!(
                "`{t}` gives {}, which is not hex: {why}",
                show_bytes(text.as_bytes())
            ))
        })
    }

    pub(crate) fn bytes(&self, p: &Payload) -> Result<Arc<[u8]>, Failure> {
        match p {
            Payload::Text(t) => Ok(Arc::<[u8]>::from(self.render_shared(t)?)),
            Payload::Hex(b) => Ok(Arc::from(b.as_slice())),
            Payload::HexTemplate(t) => Ok(Arc::from(self.hex(t, false)?.0)),
        }
    }

    pub(crate) fn regex(&self, p: &Pattern) -> Result<regex::bytes::Regex, Failure> {
        if let Some(r) = &p.compiled {
            return Ok(r.clone());
        }
        let text = self.render(&p.template)?;
        crate::scenario::values::compile_regex(&text)
            .map_err(|e| Failure::msg(format!("the regex /{text}/ is invalid: {e}")))
    }

    /// The transcript's description of a step (no ports, times or PIDs).
    /// The next datagram of a UDP receive; with `resend = N`, each wait that runs out
    /// sends the actor's last datagram again, up to N times.
    pub(crate) async fn udp_recv(
        &mut self,
        name: &str,
        resend: Option<u32>,
        timeout: Duration,
    ) -> Result<(Vec<u8>, SocketAddr), Failure> {
        let most = resend.unwrap_or(0);
        loop {
            let deadline = Instant::now() + timeout;
            if let Some(got) = self.udp(name)?.recv_by(deadline).await? {
                return Ok(got);
            }
            if self.resent >= most || !self.udp(name)?.resend().await? {
                let wait = humantime::format_duration(timeout);
                return Err(Failure::msg(match self.resent {
                    0 => format!("no datagram arrived within {wait}"),
                    n => format!(
                        "no datagram arrived within {wait} after each of {} sends",
                        n + 1
                    ),
                }));
            }
            self.resent += 1;
        }
    }

    pub(crate) async fn stdout_line(
        &mut self,
        name: &str,
        timeout: Duration,
    ) -> Result<String, Failure> {
        match self.process(name)?.next_stdout_line(timeout).await {
            Ok(Some(line)) => Ok(line),
            Ok(None) => Err(Failure::msg(
                "its standard output ended (EOF) before a line",
            )),
            Err(e) => Err(Failure::msg(format!(
                "no line on its standard output within {}: {e}",
                humantime::format_duration(timeout)
            ))),
        }
    }

    pub(crate) fn is_udp(&self, name: &str) -> bool {
        matches!(self.actors.get(name), Some(Actor::Udp(_)))
            || matches!(
                self.shared.scenario.actors.get(name),
                Some(crate::scenario::ActorKind::Udp)
            )
    }

    pub(crate) fn tcp(&mut self, name: &str) -> Result<&mut TcpActor, Failure> {
        match self.actors.get_mut(name) {
            Some(Actor::Tcp(t)) => Ok(t),
            Some(_) => Err(not_a(name, "TCP connection")),
            None => Err(Failure::msg(format!(
                "`{name}` has no open connection (it never connected, or it was closed)"
            ))),
        }
    }

    pub(crate) fn udp(&mut self, name: &str) -> Result<&mut UdpActor, Failure> {
        match self.actors.get_mut(name) {
            Some(Actor::Udp(u)) => Ok(u),
            Some(_) => Err(not_a(name, "UDP socket")),
            None => Err(Failure::msg(format!(
                "`{name}` has no socket yet: it must bind or send first"
            ))),
        }
    }

    pub(crate) fn process(&mut self, name: &str) -> Result<&mut ChildGroup, Failure> {
        if name == "target" && !self.actors.contains_key(name) {
            return match self.target.as_deref_mut().and_then(|t| t.child_mut()) {
                Some(c) => Ok(c),
                None => Err(Failure::msg(
                    "the target is not a process started by this run (spawn it first, or use [target] command)",
                )),
            };
        }
        match self.actors.get_mut(name) {
            Some(Actor::Process(p)) => Ok(p),
            Some(_) => Err(not_a(name, "process")),
            None => Err(Failure::msg(format!("`{name}` was not spawned"))),
        }
    }

    /// How a payload reads in the transcript (a large shared render: computed once).
    pub(crate) fn shown(&self, p: &Payload) -> Detail {
        match p {
            Payload::Hex(b) => show_hex(b).into(),
            Payload::HexTemplate(t) => match self.hex(t, false) {
                Ok((b, _)) => show_hex(&b).into(),
                Err(_) => format!("\"{t}\"").into(),
            },
            Payload::Text(t) => self.shown_text(t),
        }
    }

    /// How a text reads in the transcript once rendered (as written when it cannot be).
    pub(crate) fn shown_text(&self, t: &Template) -> Detail {
        match self.render_shared(t) {
            Ok(s) if s.len() >= SHARE_RENDERS_FROM => self.shown_once(&s).into(),
            Ok(s) => Detail::quoted(&s),
            Err(_) => format!("\"{t}\"").into(),
        }
    }

    /// Sets the variable `name` (a port, a capture).
    pub(crate) fn set_var(&mut self, name: String, value: &str) {
        self.vars.insert(name, value.into());
    }

    /// The value of the variable `name`.
    pub(crate) fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|v| &**v)
    }

    /// Records the port of a listener or a bound UDP socket: `{{NAME.port}}`, and the
    /// first one is where a client target is told to connect.
    pub(crate) fn note_port(&mut self, name: &str, port: u16) {
        self.first_port.get_or_insert(port);
        self.set_var(format!("{name}.port"), &port.to_string());
    }

    /// The port a client target is started with: the target's, or the first listener's.
    pub(crate) fn port_for_client_target(&self) -> Option<String> {
        self.var("port")
            .map(str::to_string)
            .or_else(|| self.first_port.map(|p| p.to_string()))
    }

    /// The target's command (`[target] command` or `--target-cmd`), if it has one.
    pub(crate) fn target_command(&self) -> Option<&str> {
        self.shared.target_command.as_deref()
    }

    /// Where target and process commands run.
    pub(crate) fn cwd(&self) -> &Path {
        &self.shared.cwd
    }

    /// Makes `actor` the actor named `name` (replacing any).
    pub(crate) fn add_actor(&mut self, name: &str, actor: Actor) {
        self.actors.insert(name.to_string(), actor);
    }

    /// Removes the actor named `name`.
    pub(crate) fn remove_actor(&mut self, name: &str) -> Option<Actor> {
        self.actors.remove(name)
    }

    /// How a client target this session spawned (`target.spawn = true`) ended, with the
    /// end of its stderr, if it has exited.
    /// `what(how it ended)` is the failure's message, to which the end of its stderr is
    /// added.
    pub(crate) async fn client_target_exit(
        &mut self,
        what: impl FnOnce(&str) -> String,
    ) -> Option<Failure> {
        let Some(Actor::Process(child)) = self.actors.get_mut("target") else {
            return None;
        };
        let how = child.try_exit()?;
        child.drain_stderr(Duration::from_millis(200)).await;
        let mut failure = Failure::msg(child.with_stderr_tail(&what(&how.to_string())));
        failure.target_explained = true;
        Some(failure)
    }

    /// The listener named `name`.
    pub(crate) fn listener(&self, name: &str) -> Result<&TcpListener, Failure> {
        match self.actors.get(name) {
            Some(Actor::Listener(l)) => Ok(l),
            _ => Err(Failure::msg(format!("`{name}` is not listening"))),
        }
    }
}
