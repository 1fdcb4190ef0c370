/*!
A spawned program and its process group ([`ChildGroup`]): spawn, stdin, stdout lines,
the stderr tail, exit, and a teardown of the whole group that reaps every member it can.
*/

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::orphans::{become_subreaper, kill_inherited_if_idle};
use super::output::{Kept, Tail, pump_stdout, read_capped_line};
use super::policy::{POLICY, in_child_before_exec};
use super::registry::registry;
use super::{ExitInfo, LINE_CAP, ProcessError, STDOUT_QUEUE};
use crate::interp::lock;

/// How long teardown waits for the group to die after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// A spawned program and its process group.
#[derive(Debug)]
pub struct ChildGroup {
    child: Child,
    pid: u32,
    pgid: i32,
    stdin: Option<ChildStdin>,
    stdout: mpsc::Receiver<String>,
    stdout_task: JoinHandle<()>,
    stdout_dropped: Arc<AtomicU64>,
    stderr: Arc<Mutex<Tail>>,
    stderr_task: Option<JoinHandle<()>>,
    exit: Option<ExitInfo>,
    /// True once the whole group was killed and swept (and deregistered).
    swept: bool,
    /// Its output (stdout and stderr lines, as they came) up to the spawn policy's
    /// `output` limit; nothing is kept without a policy.
    kept: Arc<Mutex<Kept>>,
}

impl ChildGroup {
    /// Runs `sh -c command_line` in `cwd` with `env` added, as the leader of a new
    /// process group. Must be called inside a tokio runtime.
    pub fn spawn(
        command_line: &str,
        cwd: &Path,
        env: &[(String, String)],
    ) -> Result<ChildGroup, ProcessError> {
        become_subreaper();
        let spawn_err = |source| ProcessError::Spawn {
            command: command_line.to_string(),
            source,
        };
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(exec_if_simple(command_line))
            .current_dir(cwd)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let policy = POLICY.get();
        // PR_SET_PDEATHSIG fires when the spawning *thread* exits: only safe to ask for
        // from the main thread, whose end is the process's end.
        let parent = nix::unistd::getpid();
        let pdeathsig = nix::unistd::gettid() == parent;
        // SAFETY: the closure runs between fork and exec and does only async-signal-safe
        // work: prctl, getppid, setrlimit, open/write/close; no allocation.
        let lifeline = crate::interp::pidns::lifeline();
        unsafe {
            cmd.pre_exec(move || in_child_before_exec(policy, pdeathsig, parent, lifeline));
        }
        // Holding the registry lock across the spawn: a Ctrl-C between fork and
        // registration cannot miss the new group.
        let mut registry = registry();
        let mut child = cmd.spawn().map_err(spawn_err)?;
        let Some(pid) = child.id() else {
            return Err(spawn_err(std::io::Error::other("exited before it started")));
        };
        let pgid = pid as i32;
        registry.insert(pgid);
        drop(registry);

        let stdin = child.stdin.take();
        let (tx, stdout) = mpsc::channel(STDOUT_QUEUE);
        let stdout_dropped = Arc::new(AtomicU64::new(0));
        let dropped = Arc::clone(&stdout_dropped);
        let kept = Arc::new(Mutex::new(Kept {
            cap: policy.map(|p| p.limits.output as usize).unwrap_or(0),
            ..Kept::default()
        }));
        let kept_out = Arc::clone(&kept);
        let stdout_task = match child.stdout.take() {
            Some(out) => tokio::spawn(pump_stdout(out, tx, dropped, kept_out)),
            None => tokio::spawn(async {}),
        };
        let stderr = Arc::new(Mutex::new(Tail::default()));
        let stderr_task = child.stderr.take().map(|err| {
            let tail = Arc::clone(&stderr);
            let kept_err = Arc::clone(&kept);
            tokio::spawn(async move {
                let mut reader = BufReader::new(err);
                while let Ok(Some(line)) = read_capped_line(&mut reader, LINE_CAP).await {
                    lock(&kept_err).push(&line);
                    lock(&tail).push(line);
                }
            })
        });
        Ok(ChildGroup {
            child,
            pid,
            pgid,
            stdin,
            stdout,
            stdout_task,
            stdout_dropped,
            stderr,
            stderr_task,
            exit: None,
            swept: false,
            kept,
        })
    }

    /// What it printed (stdout and stderr lines, in the order they were read) up to the
    /// spawn policy's `output` limit, and how many bytes past that were drained and
    /// not kept. Empty without a spawn policy.
    pub fn kept_output(&self) -> (String, u64) {
        let k = lock(&self.kept);
        (k.text.clone(), k.dropped)
    }

    /// The leader's pid (also the process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The process group id.
    pub fn pgid(&self) -> i32 {
        self.pgid
    }

    /// How many stdout lines were discarded because [`STDOUT_QUEUE`] lines were
    /// already waiting to be read.
    pub fn dropped_stdout_lines(&self) -> u64 {
        self.stdout_dropped.load(Ordering::Relaxed)
    }

    /// Writes `data` to its standard input (and flushes).
    pub async fn write_stdin(&mut self, data: &[u8]) -> Result<(), ProcessError> {
        let stdin = self.stdin.as_mut().ok_or(ProcessError::StdinClosed)?;
        let res = async {
            stdin.write_all(data).await?;
            stdin.flush().await
        }
        .await;
        match res {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.stdin = None;
                Err(ProcessError::StdinClosed)
            }
            Err(e) => Err(ProcessError::Stdin(e)),
        }
    }

    /// Closes its standard input (it reads EOF).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next line it printed on stdout (without `\n` or `\r\n`); `Ok(None)` once
    /// stdout is closed and every line was read; an error when none comes in `timeout`.
    pub async fn next_stdout_line(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<String>, ProcessError> {
        tokio::time::timeout(timeout, self.stdout.recv())
            .await
            .map_err(|_| ProcessError::Timeout {
                what: "a line on stdout",
                waited: timeout,
            })
    }

    /// Waits (at most `timeout`) for it to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<ExitInfo, ProcessError> {
        if let Some(exit) = self.exit {
            return Ok(exit);
        }
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => Ok(self.reaped(status)),
            Ok(Err(e)) => Err(ProcessError::Wait(e)),
            Err(_) => Err(ProcessError::Timeout {
                what: "exit",
                waited: timeout,
            }),
        }
    }

    /// Whether it has exited, without waiting.
    pub fn try_exit(&mut self) -> Option<ExitInfo> {
        if self.exit.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            self.reaped(status);
        }
        self.exit
    }

    fn reaped(&mut self, status: std::process::ExitStatus) -> ExitInfo {
        let exit = ExitInfo::from_status(status);
        self.exit = Some(exit);
        exit
    }

    /// `message`, followed by the end of its stderr when it wrote anything there: what a
    /// failure caused by this program says of it.
    pub fn with_stderr_tail(&self, message: &str) -> String {
        let tail = self.stderr_tail();
        if tail.trim().is_empty() {
            return message.to_string();
        }
        format!("{message}\nthe end of its stderr:\n{}", tail.trim_end())
    }

    /// The last lines it wrote on stderr, joined with `\n`.
    pub fn stderr_tail(&self) -> String {
        let tail = lock(&self.stderr);
        tail.lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits (at most `timeout`) until stderr is closed and read to its end, so that
    /// [`ChildGroup::stderr_tail`] holds its last words. Useful after an exit.
    pub async fn drain_stderr(&mut self, timeout: Duration) {
        if let Some(task) = self.stderr_task.as_mut()
            && tokio::time::timeout(timeout, task).await.is_ok()
        {
            self.stderr_task = None;
        }
    }

    /// Ends the whole group: SIGTERM to the group, up to `grace` for every member to
    /// exit, SIGKILL to the group, then reaps the leader and every other member it can
    /// (bounded). Idempotent: a second call returns the same [`ExitInfo`].
    pub async fn terminate(&mut self, grace: Duration) -> ExitInfo {
        if !self.swept {
            signal_group(self.pgid, Signal::SIGTERM);
            self.wait_group_gone(grace).await;
            signal_group(self.pgid, Signal::SIGKILL);
            if self.exit.is_none() && self.wait_exit(KILL_WAIT).await.is_err() {
                // Only an unkillable process gets here; Drop tries again.
                return ExitInfo::Signal(Signal::SIGKILL as i32);
            }
            // The leader is reaped; reap the other members killed above.
            let pgid = self.pgid;
            let _ = tokio::task::spawn_blocking(move || reap_group(pgid, KILL_WAIT)).await;
            self.swept = true;
            registry().remove(&self.pgid);
            let _ = tokio::task::spawn_blocking(kill_inherited_if_idle).await;
        }
        self.drain_stderr(Duration::from_millis(100)).await;
        self.exit
            .unwrap_or(ExitInfo::Signal(Signal::SIGKILL as i32))
    }

    /// Polls (2 ms doubling to 50 ms) until no member of the group is left, reaping the
    /// leader and then the others, or until `within` has passed.
    async fn wait_group_gone(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        let mut pause = Duration::from_millis(2);
        loop {
            // Reap the leader through tokio first, so its status is not lost to waitpid.
            if self.try_exit().is_some() {
                // WNOHANG only: this does not block.
                reap_group(self.pgid, Duration::ZERO);
                if kill(Pid::from_raw(-self.pgid), None) == Err(Errno::ESRCH) {
                    return;
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

impl Drop for ChildGroup {
    fn drop(&mut self) {
        self.stdout_task.abort();
        if let Some(task) = self.stderr_task.take() {
            task.abort();
        }
        if self.swept {
            return;
        }
        signal_group(self.pgid, Signal::SIGKILL);
        let pgid = self.pgid;
        let leader_reaped = self.try_exit().is_some();
        // Reap in the background. If the leader is not reaped yet, waitpid(-pgid) may
        // reap it before tokio does; tokio then drops it from its orphan queue.
        let reaper = std::thread::Builder::new()
            .name("netdrill-reaper".into())
            .spawn(move || {
                reap_group(pgid, KILL_WAIT);
                registry().remove(&pgid);
                kill_inherited_if_idle();
            });
        if reaper.is_err() && leader_reaped {
            registry().remove(&pgid);
        }
    }
}

/// `exec CMD` when `CMD` is one simple command (words of plain characters, no shell
/// syntax, not a shell builtin), else `CMD` unchanged. With `exec` the shell becomes the
/// program, so its death by a signal is reported as that signal (`sh` reports a signal
/// as an exit status of 128 + N: a SIGXCPU would read "exited with status 152").
pub fn exec_if_simple(command: &str) -> String {
    const BUILTINS: &[&str] = &[
        ".", ":", "alias", "bg", "break", "case", "cd", "command", "continue", "eval", "exec",
        "exit", "export", "fg", "for", "getopts", "hash", "if", "jobs", "kill", "local", "pwd",
        "read", "readonly", "return", "set", "shift", "source", "test", "times", "trap", "type",
        "ulimit", "umask", "unalias", "unset", "until", "wait", "while", "[", "{", "!",
    ];
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./:,+@%=-".contains(c) || c == ' ';
    let Some(first) = command.split_whitespace().next() else {
        return command.to_string();
    };
    if command.chars().all(plain) && !first.contains('=') && !BUILTINS.contains(&first) {
        format!("exec {command}")
    } else {
        command.to_string()
    }
}

/// Sends `signal` to every member of group `pgid`; a group already gone is fine.
pub(super) fn signal_group(pgid: i32, signal: Signal) {
    let _ = killpg(Pid::from_raw(pgid), signal);
}

/// Reaps every member of group `pgid` that is our child (the leader, and grandchildren
/// re-parented to us as subreaper), until none is left or `within` has passed.
pub(super) fn reap_group(pgid: i32, within: Duration) {
    let deadline = Instant::now() + within;
    let mut pause = Duration::from_millis(1);
    loop {
        match waitpid(Pid::from_raw(-pgid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {
                if Instant::now() >= deadline {
                    return;
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Ok(_) => {}
            Err(Errno::EINTR) => {}
            // ECHILD: no member of that group is our child any more.
            Err(_) => return,
        }
    }
}
