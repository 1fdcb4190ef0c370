/*!
Spawned programs: each in its own process group, with piped stdin, stdout read line by
line, a bounded tail of stderr, bounded waits, and a teardown that leaves nothing behind.

A [`ChildGroup`] runs `sh -c "<command line>"` as the leader of a new process group
(pgid = its pid), so everything it starts (a forked worker, a shell pipeline) can be
signalled at once. Teardown ([`ChildGroup::terminate`]) sends SIGTERM to the group,
waits a grace period, sends SIGKILL to the group, reaps the leader and then reaps any
other member it can.

# Reaping grandchildren
On Linux the process becomes a *child subreaper* the first time it spawns a group
(`prctl(PR_SET_CHILD_SUBREAPER)`): a grandchild orphaned by its parent is re-parented to
netdrill rather than to PID 1 (which, inside a container, often never reaps it), and
teardown reaps it with `waitpid(-pgid)`. So after teardown, `kill(-pgid, 0)` fails with
ESRCH: the group is really gone.

# Escapees: orphans that left their group
A program that daemonizes (double fork and `setsid`) or moves a child into another group
(`setpgid`) escapes the group kill. Such an orphan is re-parented to netdrill (a child
subreaper, or PID 1 of a grading namespace, see [`crate::grade::isolate`]); so:
- a background thread started with the subreaper calls [`reap_orphans`] every 200 ms:
  orphans that exited are reaped, not left as zombies;
- [`kill_inherited`] kills every *inherited* process that is not in a registered group
  (a member of a live group whose parent died belongs to that group's teardown), and all
  of its descendants. It runs when the last registered group is swept (no group is live
  then, so every inherited process is an escapee of a finished run: a daemon does not
  keep its port until the next scenario), from [`kill_all_registered`], and from
  [`cleanup_at_exit`], which is also registered with `atexit` the first time a group
  is spawned.

An *inherited* process is a child of ours that is not a registered group leader and is
not in our own process group and session. A program netdrill starts directly (with
`std::process::Command`, not through [`ChildGroup`]) stays in both, and is never touched:
its status belongs to whoever waits for it. (A direct child put in its own group or
session by other code would look like an escapee.) Nothing happens in a process that
never spawned a group (and is not PID 1).

# Registry and Ctrl-C
Every live group is kept in a global registry until its teardown (or drop) has swept it.
[`kill_all_registered`] sends SIGKILL to every registered group and then kills inherited
processes; the handler installed by [`install_interrupt_handler`] does that on
SIGINT/SIGTERM and exits with status 130.

# Limits and death of the parent
A grading worker sets a process-wide spawn policy once ([`set_spawn_limits`]): every
spawn then applies the rlimits of [`crate::grade::limits::apply_rlimits`] and joins the
pids cgroup, between fork and exec. When the spawning thread is the main thread, the
leader also gets `PR_SET_PDEATHSIG = SIGKILL` (it dies if netdrill is killed); from any
other thread it does not, since that signal fires when the spawning *thread* exits.

# Bounds
A stdout line is cut at [`LINE_CAP`] bytes (the rest of that line is discarded), at
most [`STDOUT_QUEUE`] lines wait to be read (further lines are read and discarded, and
counted by [`ChildGroup::dropped_stdout_lines`]: a server that logs to stdout must never
block because nobody reads its log), and stderr keeps only its last [`STDERR_LINES`]
lines / [`STDERR_BYTES`] bytes.
*/

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::CString;
use std::fmt;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::lock;

use crate::grade::Limits;

/// The longest stdout or stderr line kept; the rest of a longer line is discarded.
pub const LINE_CAP: usize = 64 * 1024;
/// How many stdout lines may wait to be read.
pub const STDOUT_QUEUE: usize = 1024;
/// How many stderr lines the tail keeps.
pub const STDERR_LINES: usize = 20;
/// How many bytes of stderr the tail keeps.
pub const STDERR_BYTES: usize = 8 * 1024;
/// How long teardown waits for the group to die after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// How often the background thread reaps orphans.
const REAP_EVERY: Duration = Duration::from_millis(200);
/// How long [`kill_inherited`] keeps looking for (and reaping) inherited processes.
const INHERITED_WAIT: Duration = Duration::from_secs(2);

/// What can go wrong with a spawned program.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program could not be started.
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// Its standard input was closed (by us, or by the program exiting).
    #[error("its standard input is closed")]
    StdinClosed,
    /// Writing to its standard input failed.
    #[error("cannot write to its standard input: {0}")]
    Stdin(std::io::Error),
    /// Nothing came within the wait.
    #[error("{what} did not happen within {}", humantime::format_duration(*waited))]
    Timeout {
        /// What was awaited (`"a line on stdout"`, `"exit"`).
        what: &'static str,
        /// How long it waited.
        waited: Duration,
    },
    /// Waiting for it failed.
    #[error("cannot wait for it: {0}")]
    Wait(std::io::Error),
}

/// How a program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitInfo {
    /// It exited with this status.
    Code(i32),
    /// A signal ended it (its number).
    Signal(i32),
}

impl ExitInfo {
    /// The exit status, when it exited normally.
    pub fn code(self) -> Option<i32> {
        match self {
            ExitInfo::Code(c) => Some(c),
            ExitInfo::Signal(_) => None,
        }
    }

    fn from_status(status: std::process::ExitStatus) -> ExitInfo {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(c), _) => ExitInfo::Code(c),
            (None, Some(s)) => ExitInfo::Signal(s),
            (None, None) => ExitInfo::Code(-1),
        }
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExitInfo::Code(c) => write!(f, "exited with status {c}"),
            ExitInfo::Signal(s) => match Signal::try_from(s) {
                Ok(sig) => write!(f, "killed by signal {s} ({})", sig.as_str()),
                Err(_) => write!(f, "killed by signal {s}"),
            },
        }
    }
}

/// The last lines of stderr, bounded in lines and bytes.
#[derive(Debug, Default)]
struct Tail {
    lines: VecDeque<String>,
    bytes: usize,
}

impl Tail {
    fn push(&mut self, line: String) {
        self.bytes += line.len();
        self.lines.push_back(line);
        while self.lines.len() > STDERR_LINES || (self.bytes > STDERR_BYTES && self.lines.len() > 1)
        {
            if let Some(old) = self.lines.pop_front() {
                self.bytes -= old.len();
            }
        }
        // A single line longer than the byte cap keeps only its end.
        if self.bytes > STDERR_BYTES
            && let Some(only) = self.lines.front_mut()
        {
            let mut cut = only.len() - STDERR_BYTES;
            while !only.is_char_boundary(cut) {
                cut += 1;
            }
            only.drain(..cut);
            self.bytes = only.len();
        }
    }
}

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

/// The first bytes a program printed, up to a cap; the rest is counted, not kept.
#[derive(Debug, Default)]
struct Kept {
    text: String,
    cap: usize,
    dropped: u64,
}

impl Kept {
    /// Whether a line of `len` bytes still fits.
    fn has_room(&self, len: usize) -> bool {
        self.text.len() + len <= self.cap
    }

    fn push(&mut self, line: &str) {
        let room = self.cap.saturating_sub(self.text.len());
        let need = line.len() + 1;
        if need <= room {
            self.text.push_str(line);
            self.text.push('\n');
        } else {
            self.dropped += need as u64;
        }
    }
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
        let lifeline = super::pidns::lifeline();
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
fn signal_group(pgid: i32, signal: Signal) {
    let _ = killpg(Pid::from_raw(pgid), signal);
}

/// Reaps every member of group `pgid` that is our child (the leader, and grandchildren
/// re-parented to us as subreaper), until none is left or `within` has passed.
fn reap_group(pgid: i32, within: Duration) {
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

/// True once this process adopts orphans (it spawned a group): only then are
/// inherited processes looked for.
static ADOPTING: AtomicBool = AtomicBool::new(false);

/// Makes this process the reaper of its orphaned descendants (Linux), once; starts the
/// thread that reaps them and registers [`cleanup_at_exit`] with `atexit`.
fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(target_os = "linux")]
        let _ = nix::sys::prctl::set_child_subreaper(true);
        ADOPTING.store(true, Ordering::SeqCst);
        let _ = std::thread::Builder::new()
            .name("netdrill-orphans".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(REAP_EVERY);
                    if any_zombie_child() {
                        reap_orphans();
                    }
                }
            });
        // SAFETY: registering a function that takes no arguments and does not unwind.
        unsafe {
            libc::atexit(cleanup_at_exit_c);
        }
    });
}

extern "C" fn cleanup_at_exit_c() {
    let _ = std::panic::catch_unwind(cleanup_at_exit);
}

/// A process-wide policy applied to every spawned program between fork and exec.
#[derive(Debug)]
struct SpawnPolicy {
    limits: Limits,
    cgroup_procs: Option<CString>,
}

static POLICY: OnceLock<SpawnPolicy> = OnceLock::new();

/// Sets, once for the whole process, the limits applied to every program spawned from
/// now on ([`crate::grade::limits::apply_rlimits`]) and the `cgroup.procs` file each one
/// joins (a [`crate::grade::limits::PidsCgroup`]'s). Meant for a grading worker, before
/// it runs anything. False (and nothing changed) when a policy was already set.
pub fn set_spawn_limits(limits: Limits, cgroup_procs: Option<CString>) -> bool {
    POLICY
        .set(SpawnPolicy {
            limits,
            cgroup_procs,
        })
        .is_ok()
}

/// The limits set by [`set_spawn_limits`], if any.
pub fn spawn_limits() -> Option<Limits> {
    POLICY.get().map(|p| p.limits)
}

/// Runs in the child between fork and exec: async-signal-safe only.
fn in_child_before_exec(
    policy: Option<&SpawnPolicy>,
    pdeathsig: bool,
    parent: Pid,
    lifeline: Option<super::pidns::Lifeline>,
) -> std::io::Result<()> {
    if pdeathsig {
        // SAFETY: prctl with integer arguments.
        unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
        }
        if nix::unistd::getppid() != parent {
            // netdrill died between fork and prctl: do not run orphaned.
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
    }
    if let Some(policy) = policy {
        if let Some(procs) = &policy.cgroup_procs {
            crate::grade::limits::join_cgroup(procs)?;
        }
        crate::grade::limits::apply_rlimits(&policy.limits)?;
    }
    if let Some(lifeline) = lifeline {
        // SAFETY: we are between fork and exec.
        unsafe { super::pidns::enter(lifeline)? };
    }
    Ok(())
}

/// `/proc/<pid>/stat`, the fields used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProcStat {
    pid: i32,
    state: u8,
    ppid: i32,
    pgrp: i32,
    session: i32,
}

impl ProcStat {
    fn read(pid: i32) -> Option<ProcStat> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        ProcStat::parse(pid, &text)
    }

    /// `pid (comm) S ppid pgrp session …`; comm may hold spaces and parentheses.
    fn parse(pid: i32, text: &str) -> Option<ProcStat> {
        let (_, rest) = text.rsplit_once(')')?;
        let mut f = rest.split_whitespace();
        let state = *f.next()?.as_bytes().first()?;
        let mut num = || f.next()?.parse::<i32>().ok();
        Some(ProcStat {
            pid,
            state,
            ppid: num()?,
            pgrp: num()?,
            session: num()?,
        })
    }

    fn dead(&self) -> bool {
        matches!(self.state, b'Z' | b'X' | b'x')
    }
}

/// Every process in `/proc`.
fn all_processes() -> Vec<ProcStat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(ProcStat::read)
        .collect()
}

/// Our children: from `/proc/self/task/*/children` (cheap), else a scan of `/proc`.
fn our_children(me: i32) -> Vec<ProcStat> {
    let mut pids = BTreeSet::new();
    let mut readable = false;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
                readable = true;
                pids.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok()),
                );
            }
        }
    }
    if !readable {
        return all_processes()
            .into_iter()
            .filter(|p| p.ppid == me)
            .collect();
    }
    pids.into_iter()
        .filter_map(ProcStat::read)
        .filter(|p| p.ppid == me)
        .collect()
}

/// Who we are, for telling inherited processes from our own.
struct Us {
    pid: i32,
    pgrp: i32,
    session: i32,
}

impl Us {
    fn now() -> Us {
        Us {
            pid: nix::unistd::getpid().as_raw(),
            pgrp: nix::unistd::getpgrp().as_raw(),
            session: nix::unistd::getsid(None).map_or(-1, Pid::as_raw),
        }
    }

    /// A child of ours that is no registered leader and left our group or session:
    /// one we may reap.
    fn inherited(&self, p: &ProcStat, registered: &BTreeSet<i32>) -> bool {
        p.ppid == self.pid
            && !registered.contains(&p.pid)
            && (p.pgrp != self.pgrp || p.session != self.session)
    }

    /// An inherited process that is not in a registered group either (a member of a
    /// live group whose parent died is that group's business): one we may kill.
    fn escaped(&self, p: &ProcStat, registered: &BTreeSet<i32>) -> bool {
        self.inherited(p, registered) && !registered.contains(&p.pgrp)
    }
}

/// Whether some child of ours is a zombie (peeked at with `waitid(WNOWAIT)`, which
/// reaps nothing).
fn any_zombie_child() -> bool {
    // SAFETY: waitid into a zeroed siginfo_t.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        r == 0 && info.si_pid() != 0
    }
}

/// Reaps every inherited child (see the module doc) that has exited: orphans that
/// escaped their group and ended. Registered leaders are left to tokio, and programs
/// started directly to whoever started them. Returns how many were reaped.
pub fn reap_orphans() -> usize {
    if !adopting() {
        return 0;
    }
    let us = Us::now();
    let registered: BTreeSet<i32> = registry().clone();
    our_children(us.pid)
        .iter()
        .filter(|p| p.dead() && us.inherited(p, &registered))
        .filter(|p| {
            matches!(
                waitpid(Pid::from_raw(p.pid), Some(WaitPidFlag::WNOHANG)),
                Ok(s) if s != WaitStatus::StillAlive
            )
        })
        .count()
}

fn adopting() -> bool {
    ADOPTING.load(Ordering::SeqCst) || nix::unistd::getpid().as_raw() == 1
}

/// Sends SIGKILL to every inherited process (see the module doc) that is not in a
/// registered group, and to all of its descendants, again until none is left (bounded: 2 s), and reaps them. Returns how
/// many processes it killed. Does nothing in a process that never spawned a group.
pub fn kill_inherited() -> usize {
    if !adopting() {
        return 0;
    }
    let deadline = Instant::now() + INHERITED_WAIT;
    let mut killed = BTreeSet::new();
    loop {
        let registered: BTreeSet<i32> = registry().clone();
        let found = kill_inherited_once(&registered, &mut killed);
        reap_orphans();
        if found == 0 || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // Reap what died (bounded): killed descendants are re-parented to us as they die.
    let us = Us::now();
    while Instant::now() < deadline {
        let registered: BTreeSet<i32> = registry().clone();
        reap_orphans();
        if !our_children(us.pid)
            .iter()
            .any(|p| killed.contains(&p.pid) && us.inherited(p, &registered))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    killed.len()
}

/// One round: SIGKILL to the live inherited processes and their descendants; returns
/// how many live inherited processes it found.
fn kill_inherited_once(registered: &BTreeSet<i32>, killed: &mut BTreeSet<i32>) -> usize {
    let us = Us::now();
    let roots: Vec<i32> = our_children(us.pid)
        .iter()
        .filter(|p| !p.dead() && us.escaped(p, registered))
        .map(|p| p.pid)
        .collect();
    if roots.is_empty() {
        return 0;
    }
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for p in all_processes().iter().filter(|p| !p.dead()) {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut todo = roots.clone();
    let mut seen = BTreeSet::new();
    while let Some(pid) = todo.pop() {
        if pid <= 1 || pid == us.pid || !seen.insert(pid) {
            continue;
        }
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        killed.insert(pid);
        todo.extend(children.get(&pid).into_iter().flatten().copied());
    }
    roots.len()
}

/// [`kill_inherited`] when no group is registered, holding the registry so that no
/// group starts meanwhile: then every inherited process is an escapee of a run that
/// is over. Kills only (a few rounds); the background thread reaps.
fn kill_inherited_if_idle() {
    if !adopting() {
        return;
    }
    let registry = registry();
    if !registry.is_empty() {
        return;
    }
    let mut killed = BTreeSet::new();
    for _ in 0..5 {
        if kill_inherited_once(&registry, &mut killed) == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(registry);
    if !killed.is_empty() {
        reap_orphans();
    }
}

/// Before netdrill exits: SIGKILL to every registered group, then [`kill_inherited`],
/// then removal of the pids cgroups this process made and did not drop
/// ([`crate::grade::limits::remove_created_cgroups`]). Registered with `atexit` the
/// first time a group is spawned; calling it again is harmless.
pub fn cleanup_at_exit() {
    kill_all_registered();
    let _ = crate::grade::limits::remove_created_cgroups();
}

/// Reads a program's stdout to its end, a line at a time (cut at [`LINE_CAP`] bytes,
/// without `\n` or `\r\n`): each line goes to `tx` while the queue has room and to
/// `kept` while it has room; a line that goes nowhere is counted and never built, so a
/// program that prints without end costs little.
async fn pump_stdout<R: tokio::io::AsyncRead + Unpin>(
    out: R,
    tx: mpsc::Sender<String>,
    dropped: Arc<AtomicU64>,
    kept: Arc<Mutex<Kept>>,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, out);
    let mut line: Vec<u8> = Vec::new();
    let mut line_len = 0usize;
    let deliver = |line: &[u8], len: usize| -> bool {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if tx.is_closed() {
            return false;
        }
        let queue_room = tx.capacity() > 0;
        let keep = lock(&kept).has_room(line.len() + 1);
        if !queue_room {
            dropped.fetch_add(1, Ordering::Relaxed);
        }
        if !keep {
            lock(&kept).dropped += len as u64 + 1;
        }
        if queue_room || keep {
            let text = String::from_utf8_lossy(line).into_owned();
            if keep {
                lock(&kept).push(&text);
            }
            if queue_room {
                let _ = tx.try_send(text);
            }
        }
        true
    };
    loop {
        let buf = match reader.fill_buf().await {
            Ok(b) if !b.is_empty() => b,
            _ => break,
        };
        let n = buf.len();
        let mut start = 0;
        while let Some(i) = memchr::memchr(b'\n', &buf[start..]) {
            let piece = &buf[start..start + i];
            let room = LINE_CAP.saturating_sub(line.len());
            line.extend_from_slice(&piece[..piece.len().min(room)]);
            line_len += piece.len();
            if !deliver(&line, line_len) {
                return;
            }
            line.clear();
            line_len = 0;
            start += i + 1;
        }
        let rest = &buf[start..];
        let room = LINE_CAP.saturating_sub(line.len());
        line.extend_from_slice(&rest[..rest.len().min(room)]);
        line_len += rest.len();
        reader.consume(n);
    }
    if line_len > 0 {
        deliver(&line, line_len);
    }
}

/// Reads one line (through `\n`), cut at `cap` bytes (the rest of a longer line is
/// read and discarded); strips `\n` and a `\r` before it; `None` at EOF. A last line
/// without `\n` is returned too.
pub async fn read_capped_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    cap: usize,
) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut saw_any = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(saw_any.then(|| finish_line(line)));
        }
        saw_any = true;
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(&buf[..take.min(room)]);
        reader.consume(take);
        if done {
            return Ok(Some(finish_line(line)));
        }
    }
}

fn finish_line(mut line: Vec<u8>) -> String {
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

fn registry() -> MutexGuard<'static, BTreeSet<i32>> {
    static REGISTRY: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());
    lock(&REGISTRY)
}

/// The process groups started and not yet torn down.
pub fn registered_groups() -> Vec<i32> {
    registry().iter().copied().collect()
}

/// Sends SIGKILL to every registered process group, then kills every inherited process
/// ([`kill_inherited`]) (for Ctrl-C).
pub fn kill_all_registered() {
    for pgid in registry().iter() {
        signal_group(*pgid, Signal::SIGKILL);
    }
    kill_inherited();
}

/// On SIGINT or SIGTERM: kill every registered group, then exit with status 130.
/// Call inside a tokio runtime (it spawns the listening task).
pub fn install_interrupt_handler() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        kill_all_registered();
        std::process::exit(130);
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], cap: usize) -> Vec<String> {
        let mut r = BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        while let Some(l) = read_capped_line(&mut r, cap).await.unwrap() {
            out.push(l);
        }
        out
    }

    #[tokio::test]
    async fn lines_are_split_stripped_and_capped() {
        assert_eq!(
            lines(b"ab\r\ncd\n\nlast", 100).await,
            ["ab", "cd", "", "last"]
        );
        assert_eq!(lines(b"abcdefgh\nxy\n", 3).await, ["abc", "xy"]);
        assert!(lines(b"", 3).await.is_empty());
    }

    #[tokio::test]
    async fn stdout_lines_go_to_the_queue_and_the_kept_output_while_they_have_room() {
        let (tx, mut rx) = mpsc::channel(2);
        let dropped = Arc::new(AtomicU64::new(0));
        let kept = Arc::new(Mutex::new(Kept {
            cap: 8,
            ..Kept::default()
        }));
        let input: &[u8] = b"ab\r\ncd\nefgh\nlast";
        pump_stdout(input, tx, Arc::clone(&dropped), Arc::clone(&kept)).await;
        assert_eq!(rx.recv().await.as_deref(), Some("ab"));
        assert_eq!(rx.recv().await.as_deref(), Some("cd"));
        assert_eq!(rx.recv().await, None);
        // The queue held 2: "efgh" and "last" were counted, not queued.
        assert_eq!(dropped.load(Ordering::Relaxed), 2);
        let k = lock(&kept);
        assert_eq!(k.text, "ab\ncd\n");
        assert_eq!(k.dropped, 5 + 5);
    }

    #[test]
    fn tail_keeps_the_last_lines_within_bounds() {
        let mut t = Tail::default();
        for i in 0..100 {
            t.push(format!("line {i}"));
        }
        assert_eq!(t.lines.len(), STDERR_LINES);
        assert_eq!(t.lines.back().map(String::as_str), Some("line 99"));
        t.push("é".repeat(STDERR_BYTES));
        assert_eq!(t.lines.len(), 1);
        assert!(t.bytes <= STDERR_BYTES);
        assert_eq!(t.bytes, t.lines[0].len());
    }

    #[test]
    fn proc_stat_is_parsed_even_with_odd_names() {
        let s = ProcStat::parse(42, "42 (a (b) c) Z 7 42 40 34816 0 0").unwrap();
        assert_eq!(
            s,
            ProcStat {
                pid: 42,
                state: b'Z',
                ppid: 7,
                pgrp: 42,
                session: 40
            }
        );
        assert!(s.dead());
        assert_eq!(ProcStat::parse(1, "garbage"), None);
        assert_eq!(ProcStat::parse(1, "1 (x) S 0"), None);
    }

    #[test]
    fn only_children_that_left_our_group_or_session_are_inherited() {
        let us = Us {
            pid: 10,
            pgrp: 5,
            session: 5,
        };
        let registered = BTreeSet::from([20]);
        let p = |pid, ppid, pgrp, session| ProcStat {
            pid,
            state: b'S',
            ppid,
            pgrp,
            session,
        };
        let daemon = p(30, 10, 30, 30);
        let own_group = p(31, 10, 31, 5);
        let orphan_of_live_group = p(32, 10, 20, 5);
        let orphan_of_finished_group = p(33, 10, 25, 5);
        for q in [daemon, own_group, orphan_of_finished_group] {
            assert!(us.inherited(&q, &registered) && us.escaped(&q, &registered));
        }
        assert!(us.inherited(&orphan_of_live_group, &registered));
        assert!(!us.escaped(&orphan_of_live_group, &registered));
        let leader = p(20, 10, 20, 5);
        let started_directly = p(34, 10, 5, 5);
        let not_ours = p(35, 11, 35, 35);
        for q in [leader, started_directly, not_ours] {
            assert!(!us.inherited(&q, &registered), "{q:?}");
        }
    }

    #[test]
    fn simple_commands_are_exec_ed_and_others_left_alone() {
        assert_eq!(exec_if_simple("./server 1234"), "exec ./server 1234");
        assert_eq!(
            exec_if_simple("python3 /a/b-c/server.py 80"),
            "exec python3 /a/b-c/server.py 80"
        );
        for same in [
            "cd x && ./server 1",
            "FOO=1 ./server",
            "./server 1 > log",
            "exec ./server",
            "cd sub",
            "sleep 1; echo $x",
            "echo 'a b'",
            "",
        ] {
            assert_eq!(exec_if_simple(same), same);
        }
    }

    #[test]
    fn exit_info_reads_well() {
        assert_eq!(ExitInfo::Code(3).to_string(), "exited with status 3");
        assert_eq!(
            ExitInfo::Signal(9).to_string(),
            "killed by signal 9 (SIGKILL)"
        );
    }
}
