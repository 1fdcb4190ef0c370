/*!
The scheduler of `run`: up to `-j` scenarios at once, results reported in input order as
soon as each one and all before it are done.

- **Fixed ports.** Scenarios that use the same fixed port (`[target] port`,
  `--target-port`, a `listen`/`bind` on a literal port) never overlap; the others do.
- **Retries and wall limits**: see `outcome.rs`.
- **Ctrl-C / SIGTERM.** The run stops at once: every process group started is killed,
  finished scenarios keep their outcomes, running and waiting ones are marked
  interrupted, and the reports are written before netdrill exits with 130.
*/

use std::cell::Cell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::OwnedMutexGuard;

use super::outcome::{self, Limits, Retries};
use super::progress::Progress;
use super::select::Item;
use super::{DEFAULT_SCENARIO_TIMEOUT, Format, RunArgs};
use crate::interp::engine::{RunOptions, TargetOverride, fixed_ports};
use crate::interp::pool::RunPool;
use crate::outcome::{Status, StepFailure};
use crate::report::ScenarioOutcome;
use crate::report::human::{self, HumanOptions};
use crate::report::snapshot::{self, Compared, UpdateMode};
use crate::scenario::Scenario;
use crate::transcript::Failure;

/// What the suite is run with.
pub(super) struct Plan<'a> {
    pub(super) args: &'a RunArgs,
    pub(super) jobs: usize,
    pub(super) snapshot_mode: UpdateMode,
}

/// The outcomes, in input order, and whether the run was interrupted.
pub(super) struct Ran {
    pub(super) outcomes: Vec<ScenarioOutcome>,
    pub(super) interrupted: bool,
    /// The loaded scenarios, kept to the end of the process with the outcomes (freeing
    /// a long one's steps one by one would only delay the exit).
    pub(super) _scenarios: Vec<(PathBuf, Result<Arc<Scenario>, ScenarioOutcome>)>,
}

/// Runs every item; prints each outcome (human and github formats) as it is known.
pub(super) async fn run_all(plan: &Plan<'_>, items: Vec<Item>, pool: &RunPool) -> Ran {
    let args = plan.args;
    let mut interrupt = match interrupt_signal() {
        Ok(f) => Some(Box::pin(f)),
        Err(e) => {
            eprintln!("warning: Ctrl-C will not clean up: {e}");
            None
        }
    };
    let opts = run_options(args);
    let limits = Limits {
        scenario: args.scenario_timeout.unwrap_or(DEFAULT_SCENARIO_TIMEOUT),
        deadline: args.deadline.map(|d| (Instant::now() + d, d)),
    };
    let retries = Retries {
        more: args.retries,
        reseed: args.reseed_retries,
    };
    let ports = PortLocks::default();
    let started: Vec<Cell<bool>> = items.iter().map(|_| Cell::new(false)).collect();
    let kept: Vec<(PathBuf, Result<Arc<Scenario>, ScenarioOutcome>)> = items
        .iter()
        .map(|i| (i.file.clone(), i.loaded.clone()))
        .collect();
    let (opts, ports, started) = (&opts, &ports, &started);
    let mut results = futures::stream::iter(items.into_iter().enumerate())
        .map(|(i, item)| async move {
            let sc = match item.loaded {
                Ok(sc) => sc,
                Err(invalid) => return (i, invalid),
            };
            let _held = ports.lock(fixed_ports(&sc, opts)).await;
            if let Some((_, length)) = limits.deadline.filter(|_| limits.past_deadline()) {
                return (i, outcome::not_started(&item.file, &sc, length));
            }
            started[i].set(true);
            let o = outcome::run_scenario(&item.file, sc, opts, pool, limits, retries).await;
            (i, o)
        })
        .buffer_unordered(plan.jobs);
    let mut progress = Progress::new(kept.len());
    let mut ticks = tokio::time::interval(Duration::from_millis(200));
    // Outcomes are kept as they finish and printed in input order; on Ctrl-C a scenario
    // that finished behind a slower one keeps its outcome.
    let mut done: Vec<Option<(ScenarioOutcome, String)>> = kept.iter().map(|_| None).collect();
    let mut outcomes = Vec::with_capacity(kept.len());
    let mut interrupted = false;
    let human = matches!(args.format, Format::Human | Format::Github);
    loop {
        tokio::select! {
            biased;
            () = async { interrupt.as_mut().expect("checked").await }, if interrupt.is_some() => {
                interrupted = true;
                break;
            }
            next = results.next() => match next {
                Some((i, mut o)) => {
                    let extra = compare_snapshot(plan, &mut o);
                    done[i] = Some((o, extra));
                    while let Some((o, extra)) = done.get_mut(outcomes.len()).and_then(Option::take) {
                        if human {
                            progress.print(&shown(args, &o, &extra), &o.name);
                        }
                        outcomes.push(o);
                    }
                }
                None => break,
            },
            _ = ticks.tick() => progress.tick(),
        }
    }
    progress.finish();
    if interrupted {
        crate::interp::process::kill_all_registered();
        for (i, (file, loaded)) in kept.iter().enumerate().skip(outcomes.len()) {
            let (o, extra) = match (done[i].take(), loaded) {
                (Some(finished), _) => finished,
                (None, Ok(sc)) => (
                    outcome::interrupted(file, sc, started[i].get()),
                    String::new(),
                ),
                (None, Err(invalid)) => (invalid.clone(), String::new()),
            };
            if human {
                progress.print(&shown(args, &o, &extra), &o.name);
            }
            outcomes.push(o);
        }
    }
    Ran {
        outcomes,
        interrupted,
        _scenarios: kept,
    }
}

/// The human lines of an outcome (for `--format github` too: its annotations come
/// after the summary).
fn shown(args: &RunArgs, o: &ScenarioOutcome, extra: &str) -> String {
    let opts = HumanOptions {
        verbose: args.verbose,
        color: crate::cli::color::stdout(),
    };
    format!("{}\n{}{extra}", human::line(o), human::details(o, opts))
}

fn run_options(args: &RunArgs) -> RunOptions {
    RunOptions {
        target: match (&args.target_cmd, &args.target_addr) {
            (Some(c), _) => Some(TargetOverride::Command(c.clone())),
            (None, Some(a)) => Some(TargetOverride::Address(a.clone())),
            (None, None) => None,
        },
        timeout: args.timeout,
        seed: args.seed,
        port: args.target_port,
        cwd: None,
        wall: None,
    }
}

/// Resolves on the first SIGINT or SIGTERM.
fn interrupt_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

/// One lock per fixed port, so scenarios that need the same port run one at a time.
#[derive(Default)]
struct PortLocks(Mutex<HashMap<u16, Arc<tokio::sync::Mutex<()>>>>);

impl PortLocks {
    /// Holds every port of `ports` (taken in ascending order, so two scenarios never
    /// wait for each other).
    async fn lock(&self, mut ports: Vec<u16>) -> Vec<OwnedMutexGuard<()>> {
        ports.sort_unstable();
        ports.dedup();
        let mut held = Vec::with_capacity(ports.len());
        for p in ports {
            let lock = {
                let mut map = crate::interp::lock(&self.0);
                Arc::clone(map.entry(p).or_default())
            };
            held.push(lock.lock_owned().await);
        }
        held
    }
}

/// Compares (or writes) the outcome's transcript snapshot; a mismatch fails the
/// scenario. Returns text to print under it.
fn compare_snapshot(plan: &Plan<'_>, outcome: &mut ScenarioOutcome) -> String {
    let Some(dir) = &plan.args.snapshots else {
        return String::new();
    };
    // Only a passing run's transcript is compared or stored: a failed one (cut short by
    // a deadline, or never started) already fails, and must not become the reference.
    if outcome.status != Status::Passed {
        return String::new();
    }
    let file = PathBuf::from(&outcome.file);
    let text = outcome.transcript.render();
    let color = crate::cli::color::stdout();
    // What was written, and what to do next.
    let next = |pending: &Option<PathBuf>| {
        match (pending, plan.snapshot_mode) {
        (Some(p), _) => format!(
            "this run's is in {}: review it with `netdrill snapshots review {}`, or store every transcript with --update-snapshots",
            p.display(),
            dir.display()
        ),
        (None, UpdateMode::No) => "nothing was written (CI is set, or NETDRILL_UPDATE_SNAPSHOTS=no): run it locally to review it, or store every transcript with --update-snapshots".into(),
        (None, _) => "store every transcript with --update-snapshots".into(),
    }
    };
    let (message, shown) = match snapshot::compare(dir, &file, &text, plan.snapshot_mode, color) {
        Ok(Compared::Same) => return String::new(),
        Ok(Compared::Written(path)) => {
            return format!("  snapshot written: {}\n", path.display());
        }
        Ok(Compared::Missing { path, pending }) => (
            format!(
                "no stored transcript at {}; {}",
                path.display(),
                next(&pending)
            ),
            String::new(),
        ),
        Ok(Compared::Differs { diff, pending }) => (
            format!(
                "the transcript differs from the stored snapshot; {}",
                next(&pending)
            ),
            diff,
        ),
        Err(e) => (
            format!("could not read or write the snapshot: {e}"),
            String::new(),
        ),
    };
    snapshot_failed(outcome, message, &shown)
}

/// Fails a passing outcome with a snapshot message; the diff, to print under it.
fn snapshot_failed(outcome: &mut ScenarioOutcome, message: String, diff: &str) -> String {
    outcome.status = Status::Failed;
    outcome.failure = Some(StepFailure {
        step: 0,
        line: 1,
        span: None,
        actor: String::new(),
        action: "snapshot".into(),
        failure: Failure::msg(message),
    });
    diff.lines().map(|l| format!("    {l}\n")).collect()
}
