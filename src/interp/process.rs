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

# Registry and Ctrl-C
Every live group is kept in a global registry until its teardown (or drop) has swept it.
[`kill_all_registered`] sends SIGKILL to every registered group; the handler installed by
[`install_interrupt_handler`] does that on SIGINT/SIGTERM and exits with status 130.

# Bounds
A stdout line is cut at [`LINE_CAP`] bytes (the rest of that line is discarded), at
most [`STDOUT_QUEUE`] lines wait to be read (further lines are read and discarded, and
counted by [`ChildGroup::dropped_stdout_lines`]: a server that logs to stdout must never
block because nobody reads its log), and stderr keeps only its last [`STDERR_LINES`]
lines / [`STDERR_BYTES`] bytes.
*/

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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
            .arg(command_line)
            .current_dir(cwd)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
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
        let stdout_task = match child.stdout.take() {
            Some(out) => tokio::spawn(async move {
                let mut reader = BufReader::new(out);
                while let Ok(Some(line)) = read_capped_line(&mut reader, LINE_CAP).await {
                    match tx.try_send(line) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => break,
                    }
                }
            }),
            None => tokio::spawn(async {}),
        };
        let stderr = Arc::new(Mutex::new(Tail::default()));
        let stderr_task = child.stderr.take().map(|err| {
            let tail = Arc::clone(&stderr);
            tokio::spawn(async move {
                let mut reader = BufReader::new(err);
                while let Ok(Some(line)) = read_capped_line(&mut reader, LINE_CAP).await {
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
        })
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
            });
        if reaper.is_err() && leader_reaped {
            registry().remove(&pgid);
        }
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

/// Makes this process the reaper of its orphaned descendants (Linux), once.
fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(target_os = "linux")]
        let _ = nix::sys::prctl::set_child_subreaper(true);
    });
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The process groups started and not yet torn down.
pub fn registered_groups() -> Vec<i32> {
    registry().iter().copied().collect()
}

/// Sends SIGKILL to every registered process group (for Ctrl-C).
pub fn kill_all_registered() {
    for pgid in registry().iter() {
        signal_group(*pgid, Signal::SIGKILL);
    }
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
    fn exit_info_reads_well() {
        assert_eq!(ExitInfo::Code(3).to_string(), "exited with status 3");
        assert_eq!(
            ExitInfo::Signal(9).to_string(),
            "killed by signal 9 (SIGKILL)"
        );
    }
}
