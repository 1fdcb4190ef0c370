/*!
Grading one submission in a worker process (`netdrill grade-worker`): start it, read
its events until it ends or its time is up, end it (and its namespace), and say what
was graded whatever happened.
*/

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::watch;

use super::{Ctx, Stop};
use crate::grade::outcome::{SubmissionResult, WorkerEvent};

/// How long a worker gets beyond the submission's time limit to report and end.
const WORKER_GRACE: Duration = Duration::from_secs(15);
/// How long a worker gets between SIGTERM and SIGKILL when grading is cut short.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Grades one submission in a worker process; never fails: whatever happens, the
/// result says what was graded.
pub(super) async fn grade_one(
    ctx: &Ctx<'_>,
    name: &str,
    dir: &Path,
    stop: watch::Receiver<Stop>,
) -> SubmissionResult {
    let started = Instant::now();
    let dir_shown = dir.display().to_string();
    let assemble = |events, why| {
        SubmissionResult::assemble(
            ctx.rubric,
            name,
            &dir_shown,
            events,
            why,
            started.elapsed().as_secs_f64(),
        )
    };
    let mut child = match spawn_worker(ctx, dir) {
        Ok(c) => c,
        Err(e) => {
            return assemble(
                Vec::new(),
                Some(format!("the grading worker could not be started ({e})")),
            );
        }
    };
    let (Some(pgid), Some(stdout)) = (child.id().map(|p| p as i32), child.stdout.take()) else {
        return assemble(Vec::new(), Some("the grading worker has no output".into()));
    };
    let stderr_task = child
        .stderr
        .take()
        .map(|err| tokio::spawn(stderr_tail(err)));
    let (events, done, mut cut_short) = read_events(ctx, stdout, stop).await;
    let status = end_worker(ctx, &mut child, pgid, done && cut_short.is_none()).await;
    if cut_short.is_none() && !done {
        let stderr = match stderr_task {
            Some(t) => tokio::time::timeout(Duration::from_secs(1), t)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default(),
            None => String::new(),
        };
        cut_short = Some(ended_early(&status, &stderr));
    }
    remove_cgroups(&events).await;
    assemble(events, cut_short)
}

/// Starts `netdrill grade-worker` for `dir`, in a process group of its own, killed
/// with the grader (PDEATHSIG).
fn spawn_worker(ctx: &Ctx<'_>, dir: &Path) -> std::io::Result<tokio::process::Child> {
    let dir_abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let rubric_abs =
        std::fs::canonicalize(ctx.rubric_path).unwrap_or_else(|_| ctx.rubric_path.to_path_buf());
    let mut cmd = tokio::process::Command::new(ctx.exe);
    cmd.arg("grade-worker")
        .arg("--rubric")
        .arg(&rubric_abs)
        .arg("--submission")
        .arg(&dir_abs)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if ctx.isolated {
        cmd.arg("--isolate");
    }
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            #[cfg(target_os = "linux")]
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    cmd.spawn()
}

/// The last 32 KiB or so of what the worker wrote on stderr (for an internal error).
async fn stderr_tail(mut err: tokio::process::ChildStderr) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    while let Ok(n) = err.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 64 * 1024 {
            buf.drain(..buf.len() - 32 * 1024);
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Reads the worker's events until it ends, the submission's time limit passes, or
/// grading is stopped: the events, whether the worker said it was done, and why
/// grading was cut short (if it was).
async fn read_events(
    ctx: &Ctx<'_>,
    stdout: tokio::process::ChildStdout,
    mut stop: watch::Receiver<Stop>,
) -> (Vec<WorkerEvent>, bool, Option<String>) {
    let mut lines = BufReader::new(stdout).lines();
    let mut events = Vec::new();
    let sleep = tokio::time::sleep(ctx.rubric.timeout + WORKER_GRACE);
    tokio::pin!(sleep);
    let mut done = false;
    let mut stop_alive = true;
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(l)) => {
                    if let Ok(e) = serde_json::from_str::<WorkerEvent>(&l) {
                        done |= e == WorkerEvent::Done;
                        events.push(e);
                    }
                }
                _ => return (events, done, None),
            },
            _ = &mut sleep => {
                let why = format!(
                    "the submission's time limit ({}) ran out",
                    humantime::format_duration(ctx.rubric.timeout)
                );
                return (events, done, Some(why));
            }
            changed = stop.changed(), if stop_alive => {
                if changed.is_err() {
                    stop_alive = false;
                } else if let Some(why) = stop.borrow().why() {
                    return (events, done, Some(why));
                }
            }
        }
    }
}

/// Ends the worker (and with it its namespace and every process in it) unless it
/// finished by itself (`finished`), and reaps it: how it ended.
async fn end_worker(
    ctx: &Ctx<'_>,
    child: &mut tokio::process::Child,
    pgid: i32,
    finished: bool,
) -> Option<std::process::ExitStatus> {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    if !finished {
        // An isolated worker's namespace ends everything in it when the worker dies:
        // no need to wait. Without namespaces, SIGTERM lets the worker end the
        // programs it started first.
        let first = if ctx.isolated {
            Signal::SIGKILL
        } else {
            Signal::SIGTERM
        };
        let _ = killpg(Pid::from_raw(pgid), first);
        if tokio::time::timeout(STOP_GRACE, child.wait())
            .await
            .is_err()
        {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    status.ok().and_then(Result::ok)
}

/// Why grading stopped when the worker ended before saying it was done.
fn ended_early(status: &Option<std::process::ExitStatus>, stderr: &str) -> String {
    let how = match status {
        Some(s) => s.to_string(),
        None => "did not end".into(),
    };
    let lines: Vec<&str> = stderr.lines().collect();
    let tail = lines[lines.len().saturating_sub(10)..].join("\n");
    if tail.trim().is_empty() {
        format!("netdrill's grading worker ended early ({how}): an internal error")
    } else {
        format!("netdrill's grading worker ended early ({how}): an internal error:\n{tail}")
    }
}

/// Removes the cgroups a worker reported: one killed before its own cleanup leaves its
/// (by now empty) cgroup behind.
async fn remove_cgroups(events: &[WorkerEvent]) {
    for e in events {
        if let WorkerEvent::Limits {
            cgroup: Some(cg), ..
        } = e
        {
            let cg = PathBuf::from(cg);
            let removed = tokio::task::spawn_blocking(move || {
                crate::grade::limits::remove_worker_cgroup(&cg)
            })
            .await;
            if let Ok(Err(e)) = removed {
                eprintln!("warning: {e}");
            }
        }
    }
}
