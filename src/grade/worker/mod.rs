/*!
Grading one submission: the body of a grading worker process.

The grader starts one worker per submission (`netdrill grade-worker`, hidden). The
worker first enters namespaces of its own ([`super::isolate`]): a network namespace
with only loopback up, so that every submission may listen on port 12000 at the same
time and none reaches any network; a PID namespace of which the worker is PID 1, so
that when it ends every process a student started ends with it, daemons included.
netdrill's scripted actors for the submission run inside the same namespace, in the
worker.

Then, in the submission's directory: the rubric's `build` (once), and every test with a
fresh start of the student's program, under the rubric's `[limits]`. Each finished piece
of work is sent to the grader at once as a JSON line ([`WorkerEvent`]) on stdout, so
nothing graded is lost when the worker is killed for a time limit or an interrupt.
*/

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::isolate::{self, Isolation};
use super::limits::PidsCgroup;
use super::model::Rubric;
use super::outcome::{CUT_SHORT, TestResult, TestStatus, WorkerEvent};
use crate::interp::process;

mod build;
mod diagnose;
mod markdown;
mod test;

pub use diagnose::{diagnose, human_size};

use build::run_build;
use markdown::build_failed_markdown;
use test::run_test;

/// Runs a worker: namespaces (when `isolate`), then grades `submission` by `rubric`,
/// writing [`WorkerEvent`]s to stdout. Returns the process exit status.
pub fn main(rubric_path: &Path, submission: &Path, isolate: bool) -> u8 {
    // First, while single-threaded: the namespaces (the caller's process forks here).
    let isolation = if isolate {
        isolate::enter_namespaces()
    } else {
        Isolation::None {
            why: "isolation was not asked for".into(),
        }
    };
    let rubric = match super::rubric::load_rubric(rubric_path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}", crate::diagnostic::render(&e, false));
            return 2;
        }
    };
    let (name, why) = match &isolation {
        Isolation::Namespaces { user_ns: false } => ("namespaces".to_string(), None),
        Isolation::Namespaces { user_ns: true } => ("user namespaces".to_string(), None),
        Isolation::None { why } => ("none".to_string(), Some(why.clone())),
    };
    emit(&WorkerEvent::Started {
        isolation: name,
        why,
    });
    // One thread, as for `run` (see `interp::pool`): a test's steps, sockets and
    // built-in servers share it, and no step waits for a hand-off between threads.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the runtime: {e}");
            return 1;
        }
    };
    let dir = submission.to_path_buf();
    runtime.block_on(grade(&rubric, &dir));
    emit(&WorkerEvent::Done);
    runtime.shutdown_timeout(Duration::from_secs(1));
    process::cleanup_at_exit();
    0
}

/// Writes one event as a JSON line on stdout.
fn emit(event: &WorkerEvent) {
    let mut out = std::io::stdout().lock();
    if let Ok(line) = serde_json::to_string(event) {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Builds, then runs every test, emitting each result as it comes.
async fn grade(rubric: &Rubric, dir: &Path) {
    // Told to stop (the grader cut grading short): end every program started, then
    // exit. Without namespaces this is what keeps student programs from outliving us.
    let _ = process::install_interrupt_handler();
    let deadline = Instant::now() + rubric.timeout;
    let cgroup = set_up_limits(rubric, dir);
    if let Some(build) = &rubric.target.build {
        let result = run_build(build, dir, rubric.timeout).await;
        let ok = result.ok;
        let why = format!(
            "the build (`{}`) failed: it {}",
            result.command, result.status
        );
        let output = result.output.clone();
        emit(&WorkerEvent::Build(result));
        if !ok {
            for (i, _) in rubric.tests.iter().enumerate() {
                let mut t = TestResult::not_run(rubric, i, &why);
                t.status = TestStatus::Failed;
                t.output = build_failed_markdown(&why, &output);
                emit(&WorkerEvent::Test(t));
            }
            return;
        }
    }
    for test in &rubric.tests {
        let left = deadline.saturating_duration_since(Instant::now());
        let result = if left.is_zero() {
            TestResult::not_run(
                rubric,
                test.number - 1,
                &format!(
                    "{CUT_SHORT}the submission's time limit ({}) ran out",
                    humantime::format_duration(rubric.timeout)
                ),
            )
        } else {
            run_test(rubric, test, dir, left, cgroup.as_ref()).await
        };
        emit(&WorkerEvent::Test(result));
    }
}

/// Makes every process spawned from now on run under the rubric's limits; returns the
/// pids cgroup that counts the submission's processes, when one could be made.
fn set_up_limits(rubric: &Rubric, dir: &Path) -> Option<PidsCgroup> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "submission".into());
    let cgroup = PidsCgroup::create(&name, rubric.limits.processes);
    emit(&WorkerEvent::Limits {
        cgroup: cgroup.as_ref().ok().map(|c| c.dir().display().to_string()),
        why: cgroup.as_ref().err().cloned(),
    });
    let cgroup = cgroup.ok();
    process::set_spawn_limits(
        rubric.limits,
        cgroup.as_ref().map(|c| c.procs_path().to_owned()),
    );
    cgroup
}

#[cfg(test)]
mod tests;
