/*!
`netdrill explore`: property-based and differential runs of a scenario against a live
program, with shrinking.

- `case.rs`: what a case is, and its proptest value tree (generation and shrinking).
- `build.rs`: a case as an ordinary scenario file.
- this file: the loop. Cases are drawn from a proptest [`TestRunner`] seeded with
  `--seed`; each is written as a scenario, loaded like any file and run against the
  target (a fresh start per case). In property mode a case fails when the scenario
  fails; in differential mode, when the target's transcript differs from the
  reference's. The first failing case is shrunk as proptest shrinks (simplify while it
  fails, complicate when it passes), every candidate run against the target, within the
  time budget. The minimal case is run once more to confirm it (a live program may be
  nondeterministic), then saved.
*/

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::action::Action;
use crate::interp::engine::{self, RunOptions, TargetOverride, Wall};
use crate::interp::pool::RunPool;
use crate::outcome::Status;
use crate::scenario::{ActorKind, Payload, Scenario, VarGen, load_str};

pub mod build;
pub mod case;
mod words;

pub use words::{describe, explored};

use case::{Case, CaseTree, Plan};

/// The most shrink steps tried (each is a run against the target).
pub const MAX_SHRINK_ITERS: u32 = 4096;

/// The wall limit of one case.
pub const CASE_WALL: Duration = Duration::from_secs(300);

/// How to explore.
#[derive(Debug, Clone)]
pub struct Options {
    /// How many cases at most.
    pub cases: u32,
    /// How many cases run at once (shrinking runs one at a time).
    pub jobs: u32,
    /// The seed of the whole exploration.
    pub seed: u64,
    /// The time budget (generation and shrinking).
    pub time: Option<Duration>,
    /// Where the minimal case is saved.
    pub save: PathBuf,
    /// How the target is run (`--target-cmd`, `--target-addr`, `--timeout`).
    pub run: RunOptions,
    /// Differential mode: the reference.
    pub reference: Option<TargetOverride>,
}

/// A failing case.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Found {
    /// Which case it was (from 1), for the first failure.
    pub number: u32,
    /// The case.
    pub case: Case,
    /// The case in a few words: "line: 1024 bytes; 3 pieces; 5 clients".
    pub summary: String,
    /// Why it failed.
    pub failure: String,
    /// The scenario file of the case.
    #[serde(skip)]
    pub text: String,
}

/// What an exploration found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The scenario file.
    pub scenario: String,
    /// `property` or `differential`.
    pub mode: &'static str,
    /// The seed that reproduces the exploration.
    pub seed: u64,
    /// Cases run before the first failure (all of them when none failed).
    pub cases_run: u32,
    /// The first failing case.
    pub first: Option<Found>,
    /// The minimal failing case.
    pub shrunk: Option<Found>,
    /// Shrink candidates that still failed.
    pub shrink_steps: u32,
    /// Shrink candidates run in all.
    pub shrink_runs: u32,
    /// Whether the minimal case failed again when run once more (false: flaky).
    pub confirmed: Option<bool>,
    /// Where the minimal case was saved.
    pub saved: Option<PathBuf>,
    /// Whether the budget (`--time`) ran out first.
    pub out_of_time: bool,
    /// Wall time of the exploration.
    pub elapsed_ms: u64,
}

impl Report {
    fn new(file: &Path, opts: &Options) -> Report {
        Report {
            scenario: file.display().to_string(),
            mode: if opts.reference.is_some() {
                "differential"
            } else {
                "property"
            },
            seed: opts.seed,
            cases_run: 0,
            first: None,
            shrunk: None,
            shrink_steps: 0,
            shrink_runs: 0,
            confirmed: None,
            saved: None,
            out_of_time: false,
            elapsed_ms: 0,
        }
    }
}

/// A scenario that cannot be explored, or a case the reference fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unexplorable(pub String);

/// What the plan of `sc` varies, from its `[explore]`.
pub fn plan(sc: &Scenario) -> Result<Plan, Unexplorable> {
    let Some(spec) = &sc.explore else {
        return Err(Unexplorable(format!(
            "{} has no [explore] table: nothing to vary (docs/explore.md)",
            sc.path.display()
        )));
    };
    let tcp_actor = |actor: &str| {
        matches!(
            sc.actors.get(actor),
            Some(ActorKind::TcpClient | ActorKind::TcpAccepted)
        )
    };
    let mut sends = Vec::new();
    let mut text = Vec::new();
    for (i, step) in sc.steps.iter().enumerate() {
        if let Action::Send(s) = &step.action
            && tcp_actor(&step.actor)
            && matches!(s.chunking, crate::action::send::Chunking::Whole)
            && s.pause.is_none()
        {
            sends.push(i);
            text.push((step.actor.clone(), matches!(s.data, Payload::Text(_))));
        }
    }
    let pairs = if spec.coalesce {
        (0..sends.len().saturating_sub(1))
            .filter(|&k| {
                sends[k + 1] == sends[k] + 1
                    && text[k].0 == text[k + 1].0
                    && text[k].1
                    && text[k + 1].1
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Plan {
        sends,
        pairs,
        chunking: spec.chunking,
        pause_max_ms: spec.pause_max.as_millis() as u64,
        clients: spec.clients,
        loss: spec
            .loss
            .map(|(a, b)| ((a * 1000.0).round() as u64, (b * 1000.0).round() as u64)),
        compiled: spec
            .vars
            .iter()
            .map(|(name, g)| match g {
                VarGen::Regex(re) => case::Compiled::new(re)
                    .map(|c| Some(Arc::new(c)))
                    .map_err(|e| Unexplorable(format!("`{name}`: {e}"))),
                _ => Ok(None),
            })
            .collect::<Result<_, _>>()?,
        vars: spec.vars.clone(),
    })
}

/// How a case went.
enum Verdict {
    Pass,
    Fail(String),
    /// Stopped by the time budget: neither a pass nor a failure.
    OutOfTime,
}

/// Explores `sc` (loaded from `file`); `progress` hears of every case run.
pub async fn explore(
    file: &Path,
    sc: &Scenario,
    opts: &Options,
    pool: &RunPool,
    mut progress: impl FnMut(&str),
) -> Result<Report, Unexplorable> {
    let started = Instant::now();
    let deadline = opts.time.map(|t| started + t);
    let over = || deadline.is_some_and(|d| Instant::now() >= d);
    let plan = Arc::new(plan(sc)?);
    let base = build::base(sc).map_err(Unexplorable)?;
    let explorer = Explorer {
        file,
        sc,
        base,
        plan: &plan,
        opts,
        pool,
        deadline,
    };
    let mut runner = TestRunner::new_with_rng(Config::default(), seeded(opts.seed));
    let mut report = Report::new(file, opts);
    // Cases that need the same fixed port cannot overlap.
    let jobs = if engine::fixed_ports(sc, &opts.run).is_empty() {
        opts.jobs.max(1)
    } else {
        1
    };
    let mut failing = None;
    let mut n = 0;
    // Cases are drawn in order and run `jobs` at a time; the first failing one by
    // number (not by time) is the one shrunk, so a seed always finds the same case.
    'draw: while n < opts.cases {
        if over() {
            report.out_of_time = true;
            break;
        }
        let batch = (opts.cases - n).min(jobs);
        let mut trees = Vec::with_capacity(batch as usize);
        for _ in 0..batch {
            trees.push(CaseTree::draw(&plan, &mut runner).map_err(Unexplorable)?);
        }
        let cases: Vec<Case> = trees.iter().map(ValueTree::current).collect();
        progress(&format!(
            "cases {}-{} of {}: {}",
            n + 1,
            n + batch,
            opts.cases,
            describe(&plan, &cases[0])
        ));
        let verdicts = futures::future::join_all(cases.iter().map(|c| explorer.run(c))).await;
        for ((tree, case), verdict) in trees.into_iter().zip(cases).zip(verdicts) {
            match verdict? {
                Verdict::Pass => {}
                Verdict::OutOfTime => {
                    report.out_of_time = true;
                    break 'draw;
                }
                Verdict::Fail(why) => {
                    n += 1;
                    report.cases_run = n;
                    report.first = Some(explorer.found(n, case, why)?);
                    failing = Some(tree);
                    break 'draw;
                }
            }
            n += 1;
            report.cases_run = n;
        }
    }
    if let (Some(mut tree), Some(first)) = (failing, report.first.clone()) {
        let mut last = explorer
            .shrink(&mut tree, first, &mut report, &mut progress, &over)
            .await?;
        progress(&format!("confirming: {}", describe(&plan, &last.case)));
        report.confirmed = match explorer.run(&last.case).await? {
            Verdict::Fail(_) => Some(true),
            Verdict::Pass => Some(false),
            Verdict::OutOfTime => None,
        };
        explorer.save(&mut last, &mut report)?;
        report.shrunk = Some(last);
    }
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// A proptest RNG from a 64-bit seed.
fn seeded(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(
            &(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes(),
        );
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

struct Explorer<'a> {
    file: &'a Path,
    sc: &'a Scenario,
    /// The scenario's file as a TOML table.
    base: toml::Table,
    plan: &'a Arc<Plan>,
    opts: &'a Options,
    /// Where cases run: single-threaded runtimes, one per core (as for `run`).
    pool: &'a RunPool,
    deadline: Option<Instant>,
}

impl Explorer<'_> {
    /// Shrinks a failing case as proptest does: simplify while it fails, complicate
    /// when it passes, every candidate run against the target; the last failing one.
    async fn shrink(
        &self,
        tree: &mut CaseTree,
        first: Found,
        report: &mut Report,
        progress: &mut impl FnMut(&str),
        over: &impl Fn() -> bool,
    ) -> Result<Found, Unexplorable> {
        let mut last = first;
        if !tree.simplify() {
            return Ok(last);
        }
        loop {
            if over() || report.shrink_runs >= MAX_SHRINK_ITERS {
                report.out_of_time = over();
                return Ok(last);
            }
            report.shrink_runs += 1;
            let case = tree.current();
            progress(&format!(
                "shrinking ({} steps): {}",
                report.shrink_steps,
                describe(self.plan, &case)
            ));
            match self.run(&case).await? {
                Verdict::Fail(why) => {
                    report.shrink_steps += 1;
                    last = self.found(last.number, case, why)?;
                    if !tree.simplify() {
                        return Ok(last);
                    }
                }
                Verdict::Pass => {
                    if !tree.complicate() {
                        return Ok(last);
                    }
                }
                Verdict::OutOfTime => {
                    report.out_of_time = true;
                    return Ok(last);
                }
            }
        }
    }

    /// The case's scenario, loaded as `run` would load it.
    /// The case's scenario file.
    fn text(&self, case: &Case, header: &str) -> Result<String, Unexplorable> {
        build::scenario_text(self.sc, &self.base, self.plan, case, header).map_err(Unexplorable)
    }

    fn options(&self, target: Option<TargetOverride>) -> RunOptions {
        let mut o = self.opts.run.clone();
        if target.is_some() {
            o.target = target;
        }
        let at = std::time::Instant::now() + CASE_WALL;
        o.wall = Some(Wall {
            at: self.deadline.map_or(at, |d| d.min(at)),
            what: "the exploration's time budget (--time) or a case's wall limit (5m)".into(),
        });
        o
    }

    async fn run(&self, case: &Case) -> Result<Verdict, Unexplorable> {
        let verdict = self.run_case(case).await?;
        // A case the time budget cut short says nothing about the target.
        if matches!(verdict, Verdict::Fail(_)) && self.deadline.is_some_and(|d| Instant::now() >= d)
        {
            return Ok(Verdict::OutOfTime);
        }
        Ok(verdict)
    }

    /// One run of a case's scenario file, loaded as `run` would load it, on the pool.
    async fn run_on_pool(
        &self,
        text: &Arc<str>,
        opts: RunOptions,
    ) -> Result<crate::outcome::RunResult, Unexplorable> {
        let text = Arc::clone(text);
        let path = self.file.to_path_buf();
        let ran = self
            .pool
            .run(async move {
                match load_str(&text, &path) {
                    Ok(sc) => Ok(engine::run(&sc, &opts).await),
                    Err(e) => Err(format!(
                        "a generated case is not a valid scenario (a netdrill bug, or a value the steps cannot take):\n{}\n{text}",
                        crate::diagnostic::render(&e, false)
                    )),
                }
            })
            .await
            .map_err(|e| {
                Unexplorable(format!("netdrill failed inside a case (an internal error): {e}"))
            })?;
        ran.map_err(Unexplorable)
    }

    async fn run_case(&self, case: &Case) -> Result<Verdict, Unexplorable> {
        let text: Arc<str> = self.text(case, "")?.into();
        let Some(reference) = &self.opts.reference else {
            let r = self.run_on_pool(&text, self.options(None)).await?;
            return Ok(match r.status {
                Status::Passed => Verdict::Pass,
                _ => Verdict::Fail(headline(&r)),
            });
        };
        let expected = self
            .run_on_pool(&text, self.options(Some(reference.clone())))
            .await?;
        if expected.status != Status::Passed {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Verdict::OutOfTime);
            }
            return Err(Unexplorable(format!(
                "the reference fails this case, so the scenario expects something wrong (a scenario bug): {}\ncase: {}",
                headline(&expected),
                describe(self.plan, case)
            )));
        }
        let got = self.run_on_pool(&text, self.options(None)).await?;
        let (want, have) = (expected.transcript.render(), got.transcript.render());
        if want == have {
            return Ok(Verdict::Pass);
        }
        let at = want
            .lines()
            .zip(have.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| want.lines().count().min(have.lines().count()));
        Ok(Verdict::Fail(format!(
            "the transcript differs from the reference's at line {}: expected `{}`, got `{}`",
            at + 1,
            want.lines().nth(at).unwrap_or("(end)").trim(),
            have.lines().nth(at).unwrap_or("(end)").trim()
        )))
    }

    fn found(&self, number: u32, case: Case, failure: String) -> Result<Found, Unexplorable> {
        Ok(Found {
            number,
            summary: describe(self.plan, &case),
            case,
            failure,
            text: String::new(),
        })
    }

    /// Saves the minimal case as `<save>/<stem>.min.toml`.
    fn save(&self, last: &mut Found, report: &mut Report) -> Result<(), Unexplorable> {
        let text = self.header_and_text(last, report)?;
        // Named like a snapshot (the path with `/` as `__`), so that two scenarios of
        // one name in different folders do not overwrite each other's.
        let name = crate::report::snapshot::name_for(&self.opts.save, self.file);
        let path = self.opts.save.join(format!("{name}.min.toml"));
        crate::report::write_atomically(&path, &text)
            .map_err(|e| Unexplorable(format!("could not save {}: {e}", path.display())))?;
        last.text = text;
        report.saved = Some(path);
        Ok(())
    }

    /// The saved file: a comment on what was explored and how to rerun it, then the case.
    fn header_and_text(&self, last: &Found, report: &Report) -> Result<String, Unexplorable> {
        let mode = match &self.opts.reference {
            None => "property mode".to_string(),
            Some(TargetOverride::Builtin(b)) => format!("differential mode, against builtin:{b}"),
            Some(TargetOverride::Command(c)) => format!("differential mode, against `{c}`"),
            Some(TargetOverride::Address(a)) => format!("differential mode, against {a}"),
        };
        let header = format!(
            "The minimal failing case found by `netdrill explore` ({mode}) from\n\
             {}, seed {}: case {} failed, shrunk in {} steps.\n\
             Explored: {}.\n\
             This case: {}.\n\
             It failed with: {}\n\
             Explore again: netdrill explore {} --seed {}",
            self.file.display(),
            report.seed,
            last.number,
            report.shrink_steps,
            explored(self.plan),
            last.summary,
            last.failure.lines().next().unwrap_or(""),
            self.file.display(),
            report.seed,
        );
        self.text(&last.case, &header)
    }
}

/// Why a case failed, by step number (the line would be the generated file's, which
/// the saved file's opening comment shifts).
fn headline(r: &crate::outcome::RunResult) -> String {
    match &r.failure {
        Some(f) => format!(
            "step {} {} {}: {}",
            f.step,
            f.actor,
            f.action,
            f.failure.message.lines().next().unwrap_or("")
        ),
        None => "failed".into(),
    }
}
