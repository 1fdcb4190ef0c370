/*!
A PID namespace around every program netdrill spawns, so that nothing it starts can
outlive netdrill: not a daemon (double fork + `setsid`), not a child that moved to a
process group of its own, not even when netdrill itself is killed with SIGKILL.

[`enter`] runs in the forked child between fork and exec (see
[`super::process::ChildGroup::spawn`]) and makes three processes out of it:

```text
netdrill
 └─ keeper   (the pid netdrill tracks, leader of the process group; host namespace)
     └─ init (PID 1 of a new PID namespace: reaps, waits for the program)
         └─ program (`sh -c CMD`, PID 2; everything it starts stays in the namespace)
```

- The program runs as PID 2, not PID 1, so the kernel treats its signals as usual (PID
  1 ignores signals it has no handler for, SIGPIPE included).
- When the program exits, init passes its wait status to the keeper through a pipe and
  exits; the kernel then kills everything left in the namespace. The keeper exits with
  the program's status (or dies of the program's signal), so netdrill sees the program's
  exit as before.
- The keeper and init ignore SIGTERM, so a teardown's SIGTERM to the process group
  reaches the program (it shares the group) and lets it end gracefully; the SIGKILL that
  follows kills the keeper, init dies with it (`PR_SET_PDEATHSIG`), and with init the
  whole namespace.
- If netdrill dies, even by SIGKILL, init sees the end of a pipe whose only writer is
  netdrill, and exits: the namespace is gone.

The keeper and init close every descriptor they do not need (std's exec-error pipe
included, or `spawn` would wait for them) and put `/dev/null` on their standard
descriptors, so the program alone holds the pipes netdrill reads.

Where a PID namespace cannot be made (no privilege), [`enter`] returns at once and the
program runs as before; [`super::process`] then kills escapees itself. Inside a grading
worker, which is already PID 1 of a namespace of its own, no namespace is added.
`NETDRILL_NO_PIDNS=1` turns the namespace off (for tests of the fallback).

Everything here runs between fork and exec, so it uses async-signal-safe calls only and
allocates nothing.
*/

use std::io;
use std::os::fd::RawFd;
use std::sync::OnceLock;

use nix::libc;

/// The pipe whose write end only netdrill holds: its end tells every init that
/// netdrill is gone.
#[derive(Debug, Clone, Copy)]
pub struct Lifeline {
    read: RawFd,
    write: RawFd,
}

/// The lifeline, made once; `None` when spawned programs get no namespace.
pub fn lifeline() -> Option<Lifeline> {
    static LIFELINE: OnceLock<Option<Lifeline>> = OnceLock::new();
    *LIFELINE.get_or_init(|| {
        if std::env::var_os("NETDRILL_NO_PIDNS").is_some_and(|v| v != "0") {
            return None;
        }
        // A grading worker is PID 1 of its own namespace already.
        if std::process::id() == 1 {
            return None;
        }
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into the array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return None;
        }
        Some(Lifeline {
            read: fds[0],
            write: fds[1],
        })
    })
}

/// In the forked child, before exec: returns `Ok(())` in the process that is to exec
/// the program (PID 2 of a new PID namespace, or the child itself where no namespace
/// can be made); the keeper and init never return.
///
/// # Safety
/// Call only between fork and exec, in the child.
pub unsafe fn enter(lifeline: Lifeline) -> io::Result<()> {
    // SAFETY (whole body): async-signal-safe system calls on descriptors we own.
    unsafe {
        libc::close(lifeline.write);
        if libc::unshare(libc::CLONE_NEWPID) != 0 {
            // Not permitted here: run the program as it is.
            libc::close(lifeline.read);
            return Ok(());
        }
        let mut status_pipe = [0; 2];
        if libc::pipe2(status_pipe.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(io::Error::last_os_error());
        }
        let [status_read, status_write] = status_pipe;
        let init = libc::fork();
        if init < 0 {
            return Err(io::Error::last_os_error());
        }
        if init == 0 {
            libc::close(status_read);
            return run_init(lifeline.read, status_write);
        }
        keeper(init, status_read)
    }
}

/// PID 1: start the program as PID 2, then reap until it exits; pass its status on.
unsafe fn run_init(lifeline: RawFd, status_write: RawFd) -> io::Result<()> {
    // SAFETY (whole body): async-signal-safe system calls.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        let program = libc::fork();
        if program < 0 {
            libc::_exit(127);
        }
        if program == 0 {
            libc::close(lifeline);
            libc::close(status_write);
            return Ok(());
        }
        quiet_descriptors(&[lifeline, status_write]);
        ignore_stop_signals();
        // SIGCHLD interrupts the wait below; blocked outside it, so none is missed.
        let mut chld: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut chld);
        libc::sigaddset(&mut chld, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &chld, std::ptr::null_mut());
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigchld as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGCHLD, &action, std::ptr::null_mut());
        let mut unblocked: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut unblocked);
        loop {
            loop {
                let mut status = 0;
                let pid = libc::waitpid(-1, &mut status, libc::WNOHANG);
                if pid == program {
                    let bytes = status.to_ne_bytes();
                    libc::write(status_write, bytes.as_ptr().cast(), bytes.len());
                    libc::_exit(0);
                }
                if pid <= 0 {
                    break;
                }
            }
            let mut poll = libc::pollfd {
                fd: lifeline,
                events: libc::POLLIN,
                revents: 0,
            };
            let n = libc::ppoll(&mut poll, 1, std::ptr::null(), &unblocked);
            if n > 0 && poll.revents != 0 {
                // netdrill is gone: end the namespace.
                libc::_exit(137);
            }
        }
    }
}

extern "C" fn on_sigchld(_: libc::c_int) {}

/// The keeper: wait for init, then end the way the program ended.
unsafe fn keeper(init: libc::pid_t, status_read: RawFd) -> ! {
    // SAFETY (whole body): async-signal-safe system calls.
    unsafe {
        quiet_descriptors(&[status_read]);
        ignore_stop_signals();
        loop {
            let mut status = 0;
            let pid = libc::waitpid(init, &mut status, 0);
            if pid == init {
                break;
            }
            if pid < 0 && *libc::__errno_location() != libc::EINTR {
                break;
            }
        }
        let mut bytes = [0u8; 4];
        let n = libc::read(status_read, bytes.as_mut_ptr().cast(), bytes.len());
        if n == 4 {
            let status = i32::from_ne_bytes(bytes);
            if libc::WIFEXITED(status) {
                libc::_exit(libc::WEXITSTATUS(status));
            }
            if libc::WIFSIGNALED(status) {
                die_of(libc::WTERMSIG(status));
            }
        }
        // Init ended without word from the program: it was killed.
        die_of(libc::SIGKILL)
    }
}

/// Ends this process by `signal` (default action), or with 128 + signal.
unsafe fn die_of(signal: libc::c_int) -> ! {
    // SAFETY: async-signal-safe system calls.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::kill(libc::getpid(), signal);
        libc::_exit(128 + signal)
    }
}

/// SIGTERM, SIGINT, SIGHUP and SIGQUIT are for the program, not for the keeper or init.
unsafe fn ignore_stop_signals() {
    // SAFETY: signal with SIG_IGN.
    unsafe {
        for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT] {
            libc::signal(s, libc::SIG_IGN);
        }
    }
}

/// `/dev/null` on 0, 1 and 2; every other descriptor closed but `keep`.
unsafe fn quiet_descriptors(keep: &[RawFd]) {
    // SAFETY: open, dup2, close and close_range on our own descriptors.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
        // Close [3, ∞) except `keep` (at most a few, sorted here without allocating).
        let mut sorted = [RawFd::MAX; 4];
        for (slot, fd) in sorted.iter_mut().zip(keep) {
            *slot = *fd;
        }
        sorted.sort_unstable();
        let mut from: RawFd = 3;
        for &k in sorted.iter().filter(|&&k| k != RawFd::MAX) {
            if k >= from {
                close_from_to(from, k - 1);
                from = k + 1;
            }
        }
        close_from_to(from, RawFd::MAX - 1);
    }
}

/// Closes every descriptor in `first..=last`.
unsafe fn close_from_to(first: RawFd, last: RawFd) {
    if first > last {
        return;
    }
    // SAFETY: close_range / close on our own descriptors.
    unsafe {
        let done = libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            last as libc::c_uint,
            0 as libc::c_uint,
        ) == 0;
        if !done {
            let end = last.min(4096);
            let mut fd = first;
            while fd <= end {
                libc::close(fd);
                fd += 1;
            }
        }
    }
}
