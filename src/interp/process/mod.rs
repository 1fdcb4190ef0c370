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

use std::fmt;
use std::time::Duration;

use nix::sys::signal::Signal;

mod group;
mod orphans;
mod output;
mod policy;
mod registry;

pub use group::{ChildGroup, exec_if_simple};
pub use orphans::{kill_inherited, reap_orphans};
pub use output::read_capped_line;
pub use policy::{set_spawn_limits, spawn_limits};
pub use registry::{
    cleanup_at_exit, install_interrupt_handler, kill_all_registered, registered_groups,
};

/// The longest stdout or stderr line kept; the rest of a longer line is discarded.
pub const LINE_CAP: usize = 64 * 1024;

/// How many stdout lines may wait to be read.
pub const STDOUT_QUEUE: usize = 1024;

/// How many stderr lines the tail keeps.
pub const STDERR_LINES: usize = 20;

/// How many bytes of stderr the tail keeps.
pub const STDERR_BYTES: usize = 8 * 1024;

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

    pub(super) fn from_status(status: std::process::ExitStatus) -> ExitInfo {
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

#[cfg(test)]
mod tests;
