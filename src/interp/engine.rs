/*!
The run lifecycle: starts the target, runs the top session over the steps, stops the
target, and appends the link's decisions to the transcript.

A step runs to completion (or to its deadline) before the next one starts, so the
transcript is the sequence diagram the scenario describes, and the first failing step
ends the run. After the last step, every socket is closed, every process the run started
is ended and reaped. The step loop itself is in `session`, the copies of a `parallel`
block in `parallel`, and each action's `exec` in `crate::action`.
*/

pub use crate::outcome::{RunResult, Status, StepFailure};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::link::Link;
use super::process::{ChildGroup, ExitInfo};
use super::session::{Actor, Session, Shared};
use super::target::{RunningTarget, TargetError};
use crate::action::Action;
use crate::scenario::raw::line_of;
use crate::scenario::{Role, Scenario, Step, TargetSource};
use crate::transcript::{Detail, Entry, Failure, Outcome, Transcript};

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
    /// `--target-port`: the fixed port of a server target, replacing `[target] port`.
    pub port: Option<u16>,
    /// Where target and process commands run (default: the current directory).
    pub cwd: Option<PathBuf>,
    /// When the run must end, whatever its steps wait for (`sleep` and `silence`
    /// included): the step in progress then fails, and the run tears down as after any
    /// failure.
    pub wall: Option<Wall>,
}

/// A wall-clock limit on a run.
#[derive(Debug, Clone)]
pub struct Wall {
    /// The instant at which the step in progress fails.
    pub at: std::time::Instant,
    /// What the limit is, for the failure: "the scenario's wall limit of 10m
    /// (--scenario-timeout)".
    pub what: String,
}

/// A replacement for `[target]`'s source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetOverride {
    /// `--target-cmd "CMD {{port}}"`.
    Command(String),
    /// `--target-addr HOST:PORT`.
    Address(String),
    /// A built-in server (`explore --reference builtin:NAME`).
    Builtin(String),
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
    let dir = scenario_dir(scenario);
    let source = target_source(scenario, opts, &dir);
    // The seed matters (and is reported) only where the link draws random decisions.
    let link_seed = opts.seed.or(scenario.link.seed).unwrap_or(0);
    let seed = (scenario.link.to_target.impairs_datagrams()
        || scenario.link.from_target.impairs_datagrams())
    .then_some(link_seed);

    let port = opts.port.or(scenario.target.port);
    let mut target = match start_target(scenario, &source, port, &cwd, default_timeout).await {
        Ok(t) => t,
        Err(mut failure) => {
            let from_file = !name_cli_target(opts, &source, &mut failure);
            return target_failed(scenario, failure, from_file, started, seed);
        }
    };
    let shared = Shared {
        scenario,
        default_timeout,
        wall: opts.wall.clone(),
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
    let mut vars = initial_vars(scenario, shared.target_addr);
    vars.insert("scenario.dir".into(), dir.as_str().into());

    let mut failure = None;
    let mut transcript = {
        let mut session = Session::new(&shared, String::new(), vars, target.as_mut());
        if let Err(mut f) = session.run_steps(&scenario.steps, None).await {
            let child = match session.actors.get_mut("target") {
                Some(Actor::Process(child)) => Some(&mut **child),
                _ => session.target.as_deref_mut().and_then(|t| t.child_mut()),
            };
            if let Some(child) = child
                && !f.failure.target_explained
            {
                explain_exit(child, &mut f.failure).await;
            }
            failure = Some(f);
        }
        session.teardown().await;
        std::mem::take(&mut session.transcript)
    };
    let mut target_output = None;
    if let Some(t) = target.as_mut() {
        t.stop().await;
        target_output = t.kept_output();
    }
    if let Some(link) = &shared.link {
        record_link(link, &mut transcript);
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

/// Where this run's target comes from: the command line's override, or the file's
/// `[target]`; `{{scenario.dir}}` and `[vars]` in a command are filled in, since they
/// are known before the target starts.
fn target_source(scenario: &Scenario, opts: &RunOptions, dir: &str) -> TargetSource {
    let source = match &opts.target {
        // A scenario of scripted actors only (no [target], no step that talks to the
        // target) keeps running without one.
        Some(_) if !uses_target(scenario) => TargetSource::None,
        Some(TargetOverride::Command(c)) => TargetSource::Command(c.clone()),
        Some(TargetOverride::Address(a)) => TargetSource::Address(a.clone()),
        Some(TargetOverride::Builtin(b)) => TargetSource::Builtin(b.clone()),
        None => scenario.target.source.clone(),
    };
    match source {
        TargetSource::Command(c) => {
            // `[vars]` (and `[explore.vars]` defaults) are known before the target
            // starts, like the scenario's directory; `{{port}}` comes later.
            let mut values: Vec<(&str, &str)> = scenario
                .vars
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            values.push(("scenario.dir", dir));
            TargetSource::Command(super::target::substitute(&c, &values))
        }
        other => other,
    }
}

/// A target from the command line is not the file's `[target]`: its start-up failure
/// names the command (or address) that was used. True when it came from the CLI.
fn name_cli_target(opts: &RunOptions, source: &TargetSource, failure: &mut Failure) -> bool {
    let what = match (&opts.target, source) {
        (Some(TargetOverride::Command(c)), TargetSource::Command(_)) => {
            format!("the command given with --target-cmd, `{c}`")
        }
        (Some(TargetOverride::Address(a)), TargetSource::Address(_)) => {
            format!("the address given with --target-addr, {a}")
        }
        _ => return false,
    };
    let (first, rest) = match failure.message.split_once('\n') {
        Some((first, rest)) => (first.to_string(), format!("\n{rest}")),
        None => (failure.message.clone(), String::new()),
    };
    failure.message = format!("{first} ({what}){rest}");
    true
}

/// The result of a run whose target could not be started.
fn target_failed(
    scenario: &Scenario,
    failure: Failure,
    from_file: bool,
    started: Instant,
    seed: Option<u64>,
) -> RunResult {
    let span = scenario.target.span.filter(|_| from_file);
    let mut transcript = Transcript::new();
    transcript.push(Entry::Step {
        step: 0,
        actor: "target".into(),
        action: "start".into(),
        detail: Detail::none(),
        outcome: Outcome::Failed(failure.clone()),
    });
    RunResult {
        status: Status::Failed,
        transcript,
        failure: Some(StepFailure {
            step: 0,
            line: span.map_or(1, |s| line_of(&scenario.source, s.offset())),
            span,
            actor: "target".into(),
            action: "start".into(),
            failure,
        }),
        duration: started.elapsed(),
        seed,
        target_output: None,
    }
}

/// `{{scenario.dir}}`: the absolute directory of the scenario file (the current
/// directory for a scenario that has no file), so helper files can sit beside it.
fn scenario_dir(scenario: &Scenario) -> String {
    let parent = scenario
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::canonicalize(parent)
        .unwrap_or_else(|_| parent.to_path_buf())
        .display()
        .to_string()
}

/// The values every step starts with: `[vars]`, and where the target is.
fn initial_vars(
    scenario: &Scenario,
    target: Option<std::net::SocketAddr>,
) -> HashMap<String, Arc<str>> {
    let mut vars: HashMap<String, Arc<str>> = scenario
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), Arc::from(v.as_str())))
        .collect();
    if let Some(addr) = target {
        vars.insert("target.host".into(), addr.ip().to_string().into());
        vars.insert("target.port".into(), addr.port().to_string().into());
        vars.insert("port".into(), addr.port().to_string().into());
    }
    vars
}

/// Stops the link and appends its decisions to the transcript.
fn record_link(link: &Link, transcript: &mut Transcript) {
    link.shutdown();
    for warning in link.unmatched_rules() {
        transcript.note(warning);
    }
    for d in link.decisions() {
        transcript.push(Entry::Link {
            direction: d.direction.to_string(),
            flow: d.flow,
            seq: d.seq,
            decision: d.what,
        });
    }
}

/// Starts the server target (if any) and waits until it is ready.
async fn start_target(
    scenario: &Scenario,
    source: &TargetSource,
    port: Option<u16>,
    cwd: &std::path::Path,
    timeout: Duration,
) -> Result<Option<RunningTarget>, Failure> {
    let spec = &scenario.target;
    let started = match source {
        TargetSource::None => return Ok(None),
        TargetSource::Command(_) if spec.role == Role::Client => return Ok(None),
        TargetSource::Builtin(name) => {
            RunningTarget::start_builtin(name, spec.protocol, port).await
        }
        TargetSource::Command(cmd) => {
            RunningTarget::start_command(
                cmd,
                cwd,
                spec.protocol,
                port,
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
            && port.is_none()
        {
            message = message.replace(&addr.to_string(), &format!("{}:[PORT]", addr.ip()));
        }
        Failure::msg(format!("the target could not be started: {message}"))
    })
}

/// True when the scenario has a target, or a step talks to one.
pub fn uses_target(scenario: &Scenario) -> bool {
    scenario.target.source != TargetSource::None
        || scenario
            .steps
            .iter()
            .any(|s| s.action.uses_target(s, scenario))
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
        if child.try_exit().is_none() && super::target::stopped_in_group(child.pgid()) {
            // Alive, but it will not answer: a plain timeout would hide why.
            failure.message = format!(
                "{}; meanwhile the target is stopped (SIGSTOP, Ctrl-Z or a debugger): it cannot answer until it is continued (SIGCONT)",
                failure.message
            );
            return;
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
    failure.message =
        child.with_stderr_tail(&format!("{}; meanwhile the target {how}", failure.message));
}

/// The fixed ports a run of `sc` with `opts` binds: the target's (`[target] port`,
/// `--target-port`), and literal `listen`/`bind` addresses. Two runs that share one
/// must not overlap.
pub fn fixed_ports(sc: &Scenario, opts: &RunOptions) -> Vec<u16> {
    let mut ports = Vec::new();
    let started = !matches!(opts.target, Some(TargetOverride::Address(_)))
        && (opts.target.is_some() || !matches!(sc.target.source, TargetSource::None));
    if started && let Some(p) = opts.port.or(sc.target.port) {
        ports.push(p);
    }
    steps_ports(&sc.steps, &mut ports);
    ports
}

fn steps_ports(steps: &[Step], ports: &mut Vec<u16>) {
    for step in steps {
        let addr = match &step.action {
            Action::Listen(l) => &l.addr,
            Action::Bind(b) => &b.addr,
            Action::Parallel(p) => {
                steps_ports(&p.steps, ports);
                continue;
            }
            _ => continue,
        };
        if addr.is_literal()
            && let Some((_, port)) = addr.raw().rsplit_once(':')
            && let Ok(port) = port.trim_end_matches(']').parse::<u16>()
            && port != 0
        {
            ports.push(port);
        }
    }
}
