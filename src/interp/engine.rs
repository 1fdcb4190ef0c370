/*!
The engine: starts the target, walks the steps in order, and records the transcript.

One [`Session`] owns the actors of one run (or of one copy of a `parallel` block); the
parts every copy shares — the target's address, the link, the options — live in
[`Shared`]. A step runs to completion (or to its deadline) before the next one starts,
so the transcript is the sequence diagram the scenario describes, and the first failing
step ends the run. After the last step, every socket is closed, every process the run
started is ended and reaped, and the link's decisions are appended to the transcript.
*/

pub use crate::outcome::{RunResult, Status, StepFailure};
pub use crate::scenario::raw::line_of;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::link::Link;
use super::lock;
use super::process::{ChildGroup, ExitInfo};
use super::target::{RunningTarget, TargetError};
use super::tcp::TcpActor;
use super::udp::UdpActor;
use crate::scenario::{
    Action, Chunking, ConnectExpect, Pattern, Payload, Role, Scenario, Step, TargetSource, Template,
};
use crate::transcript::{Entry, Failure, Outcome, Transcript, show_bytes, show_hex};

/// How long a process gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_millis(500);

/// The shortest wait for a server target to become ready.
const MIN_READY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the command line may change about a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--target-cmd` / `--target-addr`: replaces `[target]`'s source.
    pub target: Option<TargetOverride>,
    /// `--timeout`: replaces the scenario's default wait.
    pub timeout: Option<Duration>,
    /// `--seed`: replaces the link's seed.
    pub seed: Option<u64>,
    /// Where target and process commands run (default: the current directory).
    pub cwd: Option<PathBuf>,
}

/// A replacement for `[target]`'s source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetOverride {
    /// `--target-cmd "CMD {{port}}"`.
    Command(String),
    /// `--target-addr HOST:PORT`.
    Address(String),
}

/// An actor of a session.
enum Actor {
    Tcp(TcpActor),
    Listener(TcpListener),
    Udp(UdpActor),
    Process(Box<ChildGroup>),
}

/// What every session of a run shares.
struct Shared<'a> {
    scenario: &'a Scenario,
    default_timeout: Duration,
    target_addr: Option<SocketAddr>,
    target_command: Option<String>,
    link: Option<Link>,
    cwd: PathBuf,
    /// Large rendered templates, shared by every copy that renders them from the same
    /// values (see [`Session::render`]).
    renders: std::sync::Mutex<HashMap<usize, Rendered>>,
    /// How large shared renders read in the transcript, by address (each entry keeps
    /// its text alive, so an address is never reused while it is here).
    shown: std::sync::Mutex<HashMap<usize, (Arc<str>, String)>>,
}

/// A rendered template and the values it was rendered from (by address: the same
/// `Arc`s mean the same values).
struct Rendered {
    from: Vec<usize>,
    text: Arc<str>,
}

/// Renders at least this long are shared between copies instead of made again.
const SHARE_RENDERS_FROM: usize = 4096;

/// The actors, variables and transcript of one run, or of one `parallel` copy.
struct Session<'s, 'a> {
    shared: &'s Shared<'a>,
    /// Prefix of link flow names, so copies of a `parallel` block never share a flow.
    flow_prefix: String,
    /// Values of `{{…}}` placeholders; shared (not copied) by `parallel` copies.
    vars: HashMap<String, Arc<str>>,
    actors: HashMap<String, Actor>,
    /// Per actor: how many TCP connections it opened through the link.
    flows: HashMap<String, usize>,
    transcript: Transcript,
    /// The server target, in the top session only (for `target.*` process steps).
    target: Option<&'s mut RunningTarget>,
    /// How many times the current step resent its datagram (`resend`).
    resent: u32,
    /// The port of the first listener or bound UDP socket: `{{port}}` for a target
    /// that is a client (`role = "client"`), which must be told where to connect.
    first_port: Option<u16>,
}

/// Runs `scenario` and returns its result; never panics on a peer's behaviour, and
/// leaves no process or socket behind.
pub async fn run(scenario: &Scenario, opts: &RunOptions) -> RunResult {
    let started = Instant::now();
    let default_timeout = opts.timeout.unwrap_or(scenario.timeout);
    let cwd = opts
        .cwd
        .clone()
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    let source = match &opts.target {
        // A scenario of scripted actors only (no [target], no step that talks to the
        // target) keeps running without one.
        Some(_) if !uses_target(scenario) => TargetSource::None,
        Some(TargetOverride::Command(c)) => TargetSource::Command(c.clone()),
        Some(TargetOverride::Address(a)) => TargetSource::Address(a.clone()),
        None => scenario.target.source.clone(),
    };
    // The seed matters (and is reported) only where the link draws random decisions.
    let link_seed = opts.seed.or(scenario.link.seed).unwrap_or(0);
    let seed = (scenario.link.to_target.impairs_datagrams()
        || scenario.link.from_target.impairs_datagrams())
    .then_some(link_seed);

    let mut transcript = Transcript::new();
    let mut target = match start_target(scenario, &source, &cwd, default_timeout).await {
        Ok(t) => t,
        Err(failure) => {
            transcript.push(Entry::Step {
                step: 0,
                actor: "target".into(),
                action: "start".into(),
                detail: String::new(),
                outcome: Outcome::Failed(failure.clone()),
            });
            return RunResult {
                status: Status::Failed,
                transcript,
                failure: Some(StepFailure {
                    step: 0,
                    line: scenario
                        .target
                        .span
                        .map(|s| line_of(&scenario.source, s.offset()))
                        .unwrap_or(1),
                    span: scenario.target.span,
                    actor: "target".into(),
                    action: "start".into(),
                    failure,
                }),
                duration: started.elapsed(),
                seed,
                target_output: None,
            };
        }
    };
    let shared = Shared {
        scenario,
        default_timeout,
        target_addr: target.as_ref().map(|t| t.addr),
        target_command: match &source {
            TargetSource::Command(c) => Some(c.clone()),
            _ => None,
        },
        link: scenario
            .link
            .is_active()
            .then(|| Link::new(&scenario.link, link_seed)),
        cwd,
        renders: std::sync::Mutex::new(HashMap::new()),
        shown: std::sync::Mutex::new(HashMap::new()),
    };
    let mut vars: HashMap<String, Arc<str>> = scenario
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), Arc::from(v.as_str())))
        .collect();
    if let Some(addr) = shared.target_addr {
        vars.insert("target.host".into(), addr.ip().to_string().into());
        vars.insert("target.port".into(), addr.port().to_string().into());
        vars.insert("port".into(), addr.port().to_string().into());
    }

    let mut failure = None;
    {
        let mut session = Session::new(&shared, String::new(), vars, target.as_mut());
        session.transcript = transcript;
        if let Err(mut f) = session.run_steps(&scenario.steps, None).await {
            let child = match session.actors.get_mut("target") {
                Some(Actor::Process(child)) => Some(&mut **child),
                _ => session.target.as_deref_mut().and_then(|t| t.child_mut()),
            };
            if let Some(child) = child {
                explain_exit(child, &mut f.failure).await;
            }
            failure = Some(f);
        }
        session.teardown().await;
        transcript = std::mem::take(&mut session.transcript);
    }
    let mut target_output = None;
    if let Some(t) = target.as_mut() {
        t.stop().await;
        target_output = t.kept_output();
    }
    if let Some(link) = &shared.link {
        link.shutdown();
        for d in link.decisions() {
            transcript.push(Entry::Link {
                direction: d.direction.to_string(),
                flow: d.flow,
                seq: d.seq,
                decision: d.what,
            });
        }
    }
    if let (Some(f), Some(seed)) = (failure.as_mut(), seed) {
        f.failure.message = format!(
            "{} (link seed {seed}: rerun with --seed {seed} to reproduce)",
            f.failure.message
        );
    }
    RunResult {
        status: if failure.is_some() {
            Status::Failed
        } else {
            Status::Passed
        },
        transcript,
        failure,
        duration: started.elapsed(),
        seed,
        target_output,
    }
}

/// Starts the server target (if any) and waits until it is ready.
async fn start_target(
    scenario: &Scenario,
    source: &TargetSource,
    cwd: &std::path::Path,
    timeout: Duration,
) -> Result<Option<RunningTarget>, Failure> {
    let spec = &scenario.target;
    let started = match source {
        TargetSource::None => return Ok(None),
        TargetSource::Command(_) if spec.role == Role::Client => return Ok(None),
        TargetSource::Builtin(name) => {
            RunningTarget::start_builtin(name, spec.protocol, spec.port).await
        }
        TargetSource::Command(cmd) => {
            RunningTarget::start_command(
                cmd,
                cwd,
                spec.protocol,
                spec.port,
                timeout.max(MIN_READY_TIMEOUT),
            )
            .await
        }
        TargetSource::Address(addr) => RunningTarget::at_address(addr),
    };
    started.map(Some).map_err(|e| {
        let mut message = e.to_string();
        // An ephemeral port changes from run to run; keep it out of the transcript.
        if let TargetError::NeverReady { addr, .. } = &e
            && spec.port.is_none()
        {
            message = message.replace(&addr.to_string(), &format!("{}:[PORT]", addr.ip()));
        }
        Failure::msg(format!("the target could not be started: {message}"))
    })
}

/// True when the scenario has a target, or a step talks to one.
pub fn uses_target(scenario: &Scenario) -> bool {
    fn step_uses(sc: &Scenario, step: &Step) -> bool {
        step.actor == "target"
            || match &step.action {
                Action::Connect { to, .. } => to.raw() == "target",
                Action::Send { to, .. } => match to {
                    Some(t) => t.raw() == "target",
                    None => sc.actors.get(&step.actor) == Some(&crate::scenario::ActorKind::Udp),
                },
                Action::Recv { from, .. } | Action::RecvMatch { from, .. } => {
                    from.as_ref().is_some_and(|f| f.raw() == "target")
                }
                Action::Parallel { steps, .. } => steps.iter().any(|s| step_uses(sc, s)),
                _ => false,
            }
    }
    scenario.target.source != TargetSource::None
        || scenario.steps.iter().any(|s| step_uses(scenario, s))
}

/// How long a failure waits for a dying target to finish exiting (its sockets close a
/// moment before the process can be reaped), so the report can say it crashed.
const EXIT_GRACE: Duration = Duration::from_millis(150);

/// Adds to a failure that the target process has exited, how, and the end of its
/// stderr: a crashed student program explains most failures.
async fn explain_exit(child: &mut ChildGroup, failure: &mut Failure) {
    let until = Instant::now() + EXIT_GRACE;
    let how = loop {
        if let Some(how) = child.try_exit() {
            break how;
        }
        if Instant::now() >= until {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    child.drain_stderr(Duration::from_millis(200)).await;
    let how = match how {
        ExitInfo::Signal(_) => format!("was {how}"),
        ExitInfo::Code(_) => how.to_string(),
    };
    failure.message = format!("{}; meanwhile the target {how}", failure.message);
    let tail = child.stderr_tail();
    if !tail.trim().is_empty() {
        failure.message = format!(
            "{}\nthe end of its stderr:\n{}",
            failure.message,
            tail.trim_end()
        );
    }
}

/// What an action did, for the transcript, and what a receive captured.
type StepOutput = Result<Option<String>, Failure>;

impl<'s, 'a> Session<'s, 'a> {
    fn new(
        shared: &'s Shared<'a>,
        flow_prefix: String,
        vars: HashMap<String, Arc<str>>,
        target: Option<&'s mut RunningTarget>,
    ) -> Self {
        Session {
            shared,
            flow_prefix,
            vars,
            actors: HashMap::new(),
            flows: HashMap::new(),
            transcript: Transcript::new(),
            target,
            resent: 0,
            first_port: None,
        }
    }

    /// Runs `steps` in order; the first failure ends the run. `outer` is the number of the
    /// enclosing `parallel` step, for steps of a copy.
    async fn run_steps(&mut self, steps: &[Step], outer: Option<usize>) -> Result<(), StepFailure> {
        for step in steps {
            let number = outer.unwrap_or(step.number);
            if let Action::Parallel { copies, steps } = &step.action {
                self.run_parallel(step, *copies, steps).await?;
                continue;
            }
            let mut detail = self.detail(step);
            self.resent = 0;
            let result = self.exec(step).await;
            match self.resent {
                0 => {}
                1 => detail.push_str(" (resent once)"),
                n => detail.push_str(&format!(" (resent {n} times)")),
            }
            let outcome = match result {
                Ok(captured) => {
                    if let (Some(name), Some(value)) = (&step.capture, captured) {
                        self.vars.insert(name.clone(), value.into());
                    }
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

    /// `parallel = N`: N copies of `steps`, concurrently, each with fresh actors.
    async fn run_parallel(
        &mut self,
        step: &Step,
        copies: usize,
        steps: &[Step],
    ) -> Result<(), StepFailure> {
        let shared = self.shared;
        let runs = (0..copies).map(|i| {
            let vars = self.vars.clone();
            let prefix = format!("{}copy{}/", self.flow_prefix, i + 1);
            async move {
                let mut copy = Session::new(shared, prefix, vars, None);
                let result = copy.run_steps(steps, Some(step.number)).await;
                copy.teardown().await;
                (result, copy.transcript)
            }
        });
        let all = futures::future::join_all(runs);
        let results = match step.timeout {
            None => all.await,
            Some(limit) => match tokio::time::timeout(limit, all).await {
                Ok(r) => r,
                Err(_) => {
                    let failure = Failure::msg(format!(
                        "the {copies} copies did not all finish within {}",
                        humantime::format_duration(limit)
                    ));
                    self.transcript.push(Entry::Step {
                        step: step.number,
                        actor: "-".into(),
                        action: "parallel".into(),
                        detail: format!("{copies} copies"),
                        outcome: Outcome::Failed(failure.clone()),
                    });
                    return Err(StepFailure {
                        step: step.number,
                        line: step.line,
                        span: Some(step.span),
                        actor: "-".into(),
                        action: "parallel".into(),
                        failure,
                    });
                }
            },
        };
        let failed = results.iter().filter(|(r, _)| r.is_err()).count();
        let first = results
            .iter()
            .enumerate()
            .find_map(|(i, (r, t))| r.as_ref().err().map(|f| (i, f, t)));
        let detail = format!("{copies} copies");
        match first {
            None => {
                self.transcript.push(Entry::Step {
                    step: step.number,
                    actor: "-".into(),
                    action: "parallel".into(),
                    detail: format!("{detail}: all {copies} passed"),
                    outcome: Outcome::Ok,
                });
                Ok(())
            }
            Some((index, inner, copy_transcript)) => {
                let failure = Failure {
                    message: format!(
                        "{failed} of {copies} copies failed; the first, copy {}, failed at `{}` by {}: {}",
                        index + 1,
                        inner.action,
                        inner.actor,
                        inner.failure.message
                    ),
                    expected: inner.failure.expected.clone(),
                    actual: inner.failure.actual.clone(),
                };
                self.transcript.push(Entry::Step {
                    step: step.number,
                    actor: "-".into(),
                    action: "parallel".into(),
                    detail: format!("{detail}: {} passed, {failed} failed", copies - failed),
                    outcome: Outcome::Failed(failure.clone()),
                });
                self.transcript.note(format!("copy {} in full:", index + 1));
                for line in copy_transcript.render().lines() {
                    self.transcript.note(format!("  {line}"));
                }
                Err(StepFailure {
                    step: step.number,
                    line: inner.line,
                    span: inner.span,
                    actor: inner.actor.clone(),
                    action: inner.action.clone(),
                    failure,
                })
            }
        }
    }

    /// Closes every socket and ends every process of this session.
    async fn teardown(&mut self) {
        for (_, actor) in self.actors.drain() {
            if let Actor::Process(mut child) = actor {
                child.terminate(KILL_GRACE).await;
            }
        }
    }

    fn timeout(&self, step: &Step) -> Duration {
        step.timeout.unwrap_or(self.shared.default_timeout)
    }

    /// Renders `t` with this session's values. A large result rendered from the same
    /// values (the same `Arc`s: constants, not a copy's own captures) by another copy
    /// of a `parallel` block is shared, not made again: 1,000 copies sending a 3 MB
    /// `[vars]` value hold it once.
    fn render_shared(&self, t: &Template) -> Result<Arc<str>, Failure> {
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
            .map_err(missing)?
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
    fn shown_once(&self, text: &Arc<str>) -> String {
        let key = Arc::as_ptr(text) as *const u8 as usize;
        if let Some((_, shown)) = lock(&self.shared.shown).get(&key) {
            return shown.clone();
        }
        let shown = show_bytes(text.as_bytes());
        lock(&self.shared.shown).insert(key, (Arc::clone(text), shown.clone()));
        shown
    }

    /// Renders `t` with this session's values.
    fn render(&self, t: &Template) -> Result<String, Failure> {
        t.render(|name| self.vars.get(name).cloned())
            .map_err(|name| Failure::msg(format!("`{{{{{name}}}}}` has no value at this step")))
    }

    fn bytes(&self, p: &Payload) -> Result<Arc<[u8]>, Failure> {
        match p {
            Payload::Text(t) => Ok(Arc::<[u8]>::from(self.render_shared(t)?)),
            Payload::Hex(b) => Ok(Arc::from(b.as_slice())),
        }
    }

    fn regex(&self, p: &Pattern) -> Result<regex::Regex, Failure> {
        if let Some(r) = &p.compiled {
            return Ok(r.clone());
        }
        let text = self.render(&p.template)?;
        regex::Regex::new(&text)
            .map_err(|e| Failure::msg(format!("the regex /{text}/ is invalid: {e}")))
    }

    /// The transcript's description of a step (no ports, times or PIDs).
    fn detail(&self, step: &Step) -> String {
        let shown = |p: &Payload| match p {
            Payload::Hex(b) => show_hex(b),
            Payload::Text(t) => match self.render_shared(t) {
                Ok(s) if s.len() >= SHARE_RENDERS_FROM => self.shown_once(&s),
                Ok(s) => show_bytes(s.as_bytes()),
                Err(_) => format!("\"{t}\""),
            },
        };
        match &step.action {
            Action::Connect { to, expect } => match expect {
                ConnectExpect::Connected => format!("\"{to}\""),
                ConnectExpect::Refused => format!("\"{to}\" (expect refused)"),
                ConnectExpect::Timeout => format!("\"{to}\" (expect timeout)"),
            },
            // The chunking is not shown: a byte stream has no boundaries, so the same
            // bytes in any number of writes make the same transcript.
            Action::Send { data, to, .. } => {
                let mut d = shown(data);
                if let Some(to) = to {
                    d.push_str(&format!(" to \"{to}\""));
                }
                d
            }
            Action::Reply { data } => shown(data),
            Action::Recv { expect, from } => match from {
                Some(f) => format!("{} from \"{f}\"", shown(expect)),
                None => shown(expect),
            },
            Action::RecvLine { expect } => match self.render(expect) {
                Ok(s) => show_bytes(s.as_bytes()),
                Err(_) => format!("\"{expect}\""),
            },
            Action::RecvMatch { pattern, from } => match from {
                Some(f) => format!("/{}/ from \"{f}\"", pattern.template),
                None => format!("/{}/", pattern.template),
            },
            Action::RecvUntil { delimiter, pattern } => {
                let mut d = show_bytes(delimiter.raw().as_bytes());
                if let Some(p) = pattern {
                    d.push_str(&format!(" match /{}/", p.template));
                }
                d
            }
            Action::RecvBytes { count, pattern } => {
                let mut d = count.to_string();
                if let Some(p) = pattern {
                    d.push_str(&format!(" match /{}/", p.template));
                }
                d
            }
            Action::RecvEof | Action::RecvReset | Action::Close | Action::Abort => String::new(),
            Action::CloseStdin | Action::Kill => String::new(),
            Action::Silence(d) | Action::Sleep(d) => humantime::format_duration(*d).to_string(),
            Action::Shutdown(how) => format!("{how:?}").to_lowercase(),
            Action::Listen { addr } | Action::Bind { addr } => format!("\"{addr}\""),
            Action::Accept { name } => format!("as {name}"),
            Action::Spawn { command } => match command {
                Some(c) => format!("\"{c}\""),
                None => "the target's command".into(),
            },
            Action::Stdin(t) => match self.render(t) {
                Ok(s) => show_bytes(s.as_bytes()),
                Err(_) => format!("\"{t}\""),
            },
            Action::StdoutLine(t) => format!("\"{t}\""),
            Action::StdoutMatch(p) => format!("/{}/", p.template),
            Action::Exit(code) => code.to_string(),
            Action::Parallel { copies, .. } => format!("{copies} copies"),
        }
    }

    /// Runs one step.
    async fn exec(&mut self, step: &Step) -> StepOutput {
        let timeout = self.timeout(step);
        let deadline = Instant::now() + timeout;
        let name = step.actor.as_str();
        match &step.action {
            Action::Sleep(d) => {
                tokio::time::sleep(*d).await;
                Ok(None)
            }
            Action::Parallel { .. } => Ok(None),
            Action::Connect { to, expect } => self.connect(name, to, *expect, timeout).await,
            Action::Listen { addr } => {
                let addr = self.local_addr(&self.render(addr)?)?;
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|e| Failure::msg(format!("could not listen on {addr}: {e}")))?;
                let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
                self.first_port.get_or_insert(port);
                self.vars
                    .insert(format!("{name}.port"), port.to_string().into());
                self.actors.insert(name.into(), Actor::Listener(listener));
                Ok(None)
            }
            Action::Accept { name: conn } => {
                let Some(Actor::Listener(l)) = self.actors.get(name) else {
                    return Err(Failure::msg(format!("`{name}` is not listening")));
                };
                match tokio::time::timeout_at(deadline, l.accept()).await {
                    Err(_) => Err(Failure::msg(format!(
                        "no connection arrived within {}",
                        humantime::format_duration(timeout)
                    ))),
                    Ok(Err(e)) => Err(Failure::msg(format!("accept failed: {e}"))),
                    Ok(Ok((stream, _))) => {
                        self.actors
                            .insert(conn.clone(), Actor::Tcp(TcpActor::new(stream)));
                        Ok(None)
                    }
                }
            }
            Action::Bind { addr } => {
                let addr = self.local_addr(&self.render(addr)?)?;
                self.bind_udp(name, addr).await?;
                Ok(None)
            }
            Action::Send {
                data,
                chunking,
                pause,
                to,
            } => {
                let bytes = self.bytes(data)?;
                if self.is_udp(name) {
                    let dest = match to {
                        Some(t) => self.resolve_peer(t)?,
                        None => self.target_addr()?,
                    };
                    self.ensure_udp(name, dest).await?;
                    self.udp(name)?.send_to(&bytes, dest).await?;
                    return Ok(None);
                }
                let pieces = split(&bytes, chunking);
                self.tcp(name)?.send(&pieces, *pause, deadline).await?;
                Ok(None)
            }
            Action::Reply { data } => {
                let bytes = self.bytes(data)?;
                self.udp(name)?.reply(&bytes).await?;
                Ok(None)
            }
            Action::Recv { expect, from } => {
                let want = self.bytes(expect)?;
                let hex = matches!(expect, Payload::Hex(_));
                let show = if hex { show_hex } else { show_bytes };
                if self.is_udp(name) {
                    let (got, sender) = self.udp_recv(name, step.resend, timeout).await?;
                    self.check_from(from, sender)?;
                    if *got != *want {
                        return Err(Failure::diff(
                            "the datagram differs from the expected one",
                            show(&want),
                            show(&got),
                        ));
                    }
                    return Ok(Some(String::from_utf8_lossy(&got).into_owned()));
                }
                let got = self.tcp(name)?.recv_exact(&want, hex, deadline).await?;
                Ok(Some(String::from_utf8_lossy(&got).into_owned()))
            }
            Action::RecvLine { expect } => {
                let want = self.render(expect)?;
                let line = self.tcp(name)?.recv_line(&want, deadline).await?;
                Ok(Some(line))
            }
            Action::RecvMatch { pattern, from } => {
                let re = self.regex(pattern)?;
                let text = if self.is_udp(name) {
                    let (got, sender) = self.udp_recv(name, step.resend, timeout).await?;
                    self.check_from(from, sender)?;
                    String::from_utf8_lossy(&got).into_owned()
                } else {
                    let raw = self
                        .tcp(name)?
                        .recv_through(b"\n", "a line (through \\n)", deadline)
                        .await?;
                    let line = raw.strip_suffix(b"\n").unwrap_or(&raw);
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    String::from_utf8_lossy(line).into_owned()
                };
                matched(&re, &text).map(Some)
            }
            Action::RecvUntil { delimiter, pattern } => {
                let delim = self.render(delimiter)?;
                let what = format!("the delimiter {}", show_bytes(delim.as_bytes()));
                let got = self
                    .tcp(name)?
                    .recv_through(delim.as_bytes(), &what, deadline)
                    .await?;
                let text = String::from_utf8_lossy(&got[..got.len() - delim.len()]).into_owned();
                match pattern {
                    Some(p) => matched(&self.regex(p)?, &text).map(Some),
                    None => Ok(Some(text)),
                }
            }
            Action::RecvBytes { count, pattern } => {
                let got = self.tcp(name)?.recv_count(*count, deadline).await?;
                let text = String::from_utf8_lossy(&got).into_owned();
                match pattern {
                    Some(p) => matched(&self.regex(p)?, &text).map(Some),
                    None => Ok(Some(text)),
                }
            }
            Action::RecvEof => {
                self.tcp(name)?.recv_eof(deadline, timeout).await?;
                Ok(None)
            }
            Action::RecvReset => {
                self.tcp(name)?.recv_reset(deadline, timeout).await?;
                Ok(None)
            }
            Action::Silence(span) => {
                if self.is_udp(name) {
                    self.udp(name)?.silence(*span).await?;
                } else {
                    self.tcp(name)?.silence(*span).await?;
                }
                Ok(None)
            }
            Action::Shutdown(how) => {
                self.tcp(name)?.shutdown(*how)?;
                Ok(None)
            }
            Action::Close => {
                if let Some(Actor::Tcp(mut t)) = self.actors.remove(name) {
                    t.close();
                }
                Ok(None)
            }
            Action::Abort => {
                self.tcp(name)?.abort()?;
                self.actors.remove(name);
                Ok(None)
            }
            Action::Spawn { command } => {
                let mut env = Vec::new();
                let line = match command {
                    Some(c) => self.render(c)?,
                    None => {
                        let Some(cmd) = &self.shared.target_command else {
                            return Err(Failure::msg(
                                "the target has no command to spawn (set [target] command or --target-cmd)",
                            ));
                        };
                        let port = self
                            .vars
                            .get("port")
                            .map(|p| p.to_string())
                            .or_else(|| self.first_port.map(|p| p.to_string()));
                        if let Some(p) = &port {
                            env.push(("NETDRILL_PORT".to_string(), p.clone()));
                        }
                        Template::parse(cmd)
                            .map_err(|e| Failure::msg(format!("bad target command: {}", e.message)))?
                            .render(|name| match name {
                                "port" => port.clone(),
                                _ => self.vars.get(name).map(|v| v.to_string()),
                            })
                            .map_err(|name| {
                                Failure::msg(format!(
                                    "`{{{{{name}}}}}` in the target's command has no value: listen or bind first"
                                ))
                            })?
                    }
                };
                let child = ChildGroup::spawn(&line, &self.shared.cwd, &env)
                    .map_err(|e| Failure::msg(format!("could not start `{line}`: {e}")))?;
                self.actors
                    .insert(name.into(), Actor::Process(Box::new(child)));
                Ok(None)
            }
            Action::Stdin(text) => {
                let data = self.render(text)?;
                self.process(name)?
                    .write_stdin(data.as_bytes())
                    .await
                    .map_err(|e| Failure::msg(format!("could not write to its stdin: {e}")))?;
                Ok(None)
            }
            Action::CloseStdin => {
                self.process(name)?.close_stdin();
                Ok(None)
            }
            Action::StdoutLine(expect) => {
                let want = self.render(expect)?;
                let line = self.stdout_line(name, timeout).await?;
                if line != want {
                    return Err(Failure::diff(
                        "the printed line differs from the expected one",
                        show_bytes(want.as_bytes()),
                        show_bytes(line.as_bytes()),
                    ));
                }
                Ok(Some(line))
            }
            Action::StdoutMatch(pattern) => {
                let re = self.regex(pattern)?;
                let line = self.stdout_line(name, timeout).await?;
                matched(&re, &line).map(Some)
            }
            Action::Exit(code) => {
                let child = self.process(name)?;
                let info = child.wait_exit(timeout).await.map_err(|e| {
                    Failure::msg(format!(
                        "it did not exit within {}: {e}",
                        humantime::format_duration(timeout)
                    ))
                })?;
                if info.code() != Some(*code) {
                    let tail = child.stderr_tail();
                    let mut f = Failure::diff(
                        "it exited with another status",
                        format!("exit {code}"),
                        info.to_string(),
                    );
                    if !tail.trim().is_empty() {
                        f.message =
                            format!("{}\nthe end of its stderr:\n{}", f.message, tail.trim_end());
                    }
                    return Err(f);
                }
                Ok(None)
            }
            Action::Kill => {
                self.process(name)?.terminate(KILL_GRACE).await;
                Ok(None)
            }
        }
    }

    /// The next datagram of a UDP receive; with `resend = N`, each wait that runs out
    /// sends the actor's last datagram again, up to N times.
    async fn udp_recv(
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

    async fn stdout_line(&mut self, name: &str, timeout: Duration) -> Result<String, Failure> {
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

    async fn connect(
        &mut self,
        name: &str,
        to: &Template,
        expect: ConnectExpect,
        timeout: Duration,
    ) -> StepOutput {
        let to_text = self.render(to)?;
        let is_target = to_text == "target";
        let mut addr = self.resolve_stream_peer(&to_text)?;
        if is_target
            && expect == ConnectExpect::Connected
            && let Some(link) = &self.shared.link
        {
            let n = self.flows.entry(name.to_string()).or_insert(0);
            *n += 1;
            let flow = if *n == 1 {
                format!("{}{name}", self.flow_prefix)
            } else {
                format!("{}{name}.{n}", self.flow_prefix)
            };
            addr = link.tcp_flow(&flow, addr).await.map_err(|e| {
                Failure::msg(format!("the link could not relay this connection: {e}"))
            })?;
        }
        let attempt = tokio::time::timeout(timeout, TcpStream::connect(addr)).await;
        let shown = if is_target {
            "the target".to_string()
        } else {
            format!("`{}`", to.raw())
        };
        match (attempt, expect) {
            (Ok(Ok(stream)), ConnectExpect::Connected) => {
                self.actors
                    .insert(name.into(), Actor::Tcp(TcpActor::new(stream)));
                Ok(None)
            }
            (Ok(Ok(_)), ConnectExpect::Refused) => Err(Failure::diff(
                format!("the connection to {shown} was accepted"),
                "connection refused",
                "connected",
            )),
            (Ok(Ok(_)), ConnectExpect::Timeout) => Err(Failure::diff(
                format!("the connection to {shown} was accepted"),
                "no answer (timeout)",
                "connected",
            )),
            (Ok(Err(e)), ConnectExpect::Refused)
                if e.kind() == std::io::ErrorKind::ConnectionRefused =>
            {
                Ok(None)
            }
            (Ok(Err(e)), _) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                Err(Failure::diff(
                    format!("the connection to {shown} was refused: nothing listens there"),
                    expect_word(expect),
                    "connection refused",
                ))
            }
            (Ok(Err(e)), _) => Err(Failure::diff(
                format!("connecting to {shown} failed: {e}"),
                expect_word(expect),
                e.to_string(),
            )),
            (Err(_), ConnectExpect::Timeout) => Ok(None),
            (Err(_), _) => Err(Failure::diff(
                format!(
                    "connecting to {shown} got no answer within {}",
                    humantime::format_duration(timeout)
                ),
                expect_word(expect),
                "no answer (timeout)",
            )),
        }
    }

    /// `"target"`, a listener actor, or `host:port`.
    fn resolve_stream_peer(&self, to: &str) -> Result<SocketAddr, Failure> {
        if to == "target" {
            return self.shared.target_addr.ok_or_else(no_target);
        }
        if let Some(actor) = self.actors.get(to) {
            return match actor {
                Actor::Listener(l) => l
                    .local_addr()
                    .map(loopback_if_unspecified)
                    .map_err(|e| Failure::msg(format!("`{to}` has no address: {e}"))),
                _ => Err(not_a(to, "listener")),
            };
        }
        resolve(to)
    }

    /// Where a datagram `to = …` goes: the target, an actor, or `host:port`.
    fn resolve_peer(&self, to: &Template) -> Result<SocketAddr, Failure> {
        let text = self.render(to)?;
        if text == "target" {
            return self.target_addr();
        }
        if let Some(actor) = self.actors.get(&text) {
            return match actor {
                Actor::Udp(u) => u
                    .local_addr()
                    .map(loopback_if_unspecified)
                    .map_err(|e| Failure::msg(format!("`{text}` has no address: {e}"))),
                Actor::Listener(l) => l
                    .local_addr()
                    .map(loopback_if_unspecified)
                    .map_err(|e| Failure::msg(format!("`{text}` has no address: {e}"))),
                _ => Err(not_a(&text, "UDP socket")),
            };
        }
        if self.shared.scenario.actors.contains_key(&text) {
            return Err(Failure::msg(format!(
                "`{text}` has no address yet: it must bind (or send) first"
            )));
        }
        resolve(&text)
    }

    /// Where the target is.
    fn target_addr(&self) -> Result<SocketAddr, Failure> {
        self.shared.target_addr.ok_or_else(no_target)
    }

    /// Checks `from` against a datagram's sender.
    fn check_from(&self, from: &Option<Template>, sender: SocketAddr) -> Result<(), Failure> {
        let Some(from) = from else { return Ok(()) };
        let want = self.resolve_peer(from)?;
        if same_endpoint(want, sender) {
            return Ok(());
        }
        let shown = self.describe_endpoint(sender);
        Err(Failure::diff(
            "the datagram came from someone else",
            format!("from {}", from.raw()),
            format!("from {shown}"),
        ))
    }

    /// Names an endpoint without its port when it is an actor or the target.
    fn describe_endpoint(&self, addr: SocketAddr) -> String {
        if self
            .shared
            .target_addr
            .is_some_and(|t| same_endpoint(t, addr))
        {
            return "target".into();
        }
        for (actor, a) in &self.actors {
            if let Actor::Udp(u) = a
                && u.local_addr()
                    .is_ok_and(|l| same_endpoint(loopback_if_unspecified(l), addr))
            {
                return actor.clone();
            }
        }
        "an unknown address (neither the target nor an actor)".into()
    }

    fn local_addr(&self, text: &str) -> Result<SocketAddr, Failure> {
        let text = if text == "true" { "127.0.0.1:0" } else { text };
        text.parse()
            .map_err(|_| Failure::msg(format!("`{text}` is not an IP:port address")))
    }

    async fn bind_udp(&mut self, name: &str, addr: SocketAddr) -> Result<(), Failure> {
        let sock = UdpActor::bind(addr)
            .await
            .map_err(|e| Failure::msg(format!("could not bind {addr}: {e}")))?;
        let mut sock = sock;
        let port = sock.local_addr().map(|a| a.port()).unwrap_or(0);
        self.first_port.get_or_insert(port);
        if let (Some(link), Some(target)) = (&self.shared.link, self.shared.target_addr)
            && let Some(dl) = link.datagram(&format!("{}{name}", self.flow_prefix), target)
        {
            sock.attach_link(dl);
        }
        self.vars
            .insert(format!("{name}.port"), port.to_string().into());
        self.actors.insert(name.into(), Actor::Udp(sock));
        Ok(())
    }

    /// Binds a UDP actor on first send (to the loopback of `dest`'s family).
    async fn ensure_udp(&mut self, name: &str, dest: SocketAddr) -> Result<(), Failure> {
        if self.actors.contains_key(name) {
            return Ok(());
        }
        let local = if dest.is_ipv6() {
            SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), 0)
        } else {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)
        };
        self.bind_udp(name, local).await
    }

    fn is_udp(&self, name: &str) -> bool {
        matches!(self.actors.get(name), Some(Actor::Udp(_)))
            || matches!(
                self.shared.scenario.actors.get(name),
                Some(crate::scenario::ActorKind::Udp)
            )
    }

    fn tcp(&mut self, name: &str) -> Result<&mut TcpActor, Failure> {
        match self.actors.get_mut(name) {
            Some(Actor::Tcp(t)) => Ok(t),
            Some(_) => Err(not_a(name, "TCP connection")),
            None => Err(Failure::msg(format!(
                "`{name}` has no open connection (it never connected, or it was closed)"
            ))),
        }
    }

    fn udp(&mut self, name: &str) -> Result<&mut UdpActor, Failure> {
        match self.actors.get_mut(name) {
            Some(Actor::Udp(u)) => Ok(u),
            Some(_) => Err(not_a(name, "UDP socket")),
            None => Err(Failure::msg(format!(
                "`{name}` has no socket yet: it must bind or send first"
            ))),
        }
    }

    fn process(&mut self, name: &str) -> Result<&mut ChildGroup, Failure> {
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
}

fn split<'d>(data: &'d [u8], chunking: &Chunking) -> Vec<&'d [u8]> {
    match chunking {
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

/// Matches `text`; the capture is the first group, or the whole match.
fn matched(re: &regex::Regex, text: &str) -> Result<String, Failure> {
    match re.captures(text) {
        Some(c) => Ok(c
            .get(1)
            .or_else(|| c.get(0))
            .map(|m| m.as_str().to_string())
            .unwrap_or_default()),
        None => Err(Failure::diff(
            "what arrived does not match the pattern",
            format!("/{}/", re.as_str()),
            show_bytes(text.as_bytes()),
        )),
    }
}

fn expect_word(e: ConnectExpect) -> &'static str {
    match e {
        ConnectExpect::Connected => "connected",
        ConnectExpect::Refused => "connection refused",
        ConnectExpect::Timeout => "no answer (timeout)",
    }
}

fn not_a(name: &str, what: &str) -> Failure {
    Failure::msg(format!("`{name}` is not a {what}"))
}

fn no_target() -> Failure {
    Failure::msg(
        "this scenario has no target: set [target] in the file, or pass --target-cmd or --target-addr",
    )
}

fn resolve(text: &str) -> Result<SocketAddr, Failure> {
    text.to_socket_addrs()
        .map_err(|e| Failure::msg(format!("`{text}` is not a reachable host:port ({e})")))?
        .next()
        .ok_or_else(|| Failure::msg(format!("`{text}` resolves to no address")))
}

fn loopback_if_unspecified(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), a.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), a.port())
        }
        _ => a,
    }
}

fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    let norm = |s: SocketAddr| match s.ip() {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        ip => ip,
    };
    a.port() == b.port() && norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_splits_as_written() {
        let d = b"hello world\n";
        assert_eq!(
            split(d, &Chunking::Sizes(vec![3, 4, 5])),
            vec![&b"hel"[..], b"lo w", b"orld\n"]
        );
        assert_eq!(
            split(d, &Chunking::Sizes(vec![5])),
            vec![&b"hello"[..], b" world\n"]
        );
        assert_eq!(split(d, &Chunking::Every(5)).len(), 3);
        assert_eq!(split(d, &Chunking::Whole), vec![&d[..]]);
    }

    #[test]
    fn line_numbers() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }
}
