/*!
A network, PID and mount namespace per submission, so that submissions graded in
parallel each have their own loopback (every one may listen on 127.0.0.1:12000) and
nothing a submission starts can outlive its grading.

# Entering
A grading worker (one process per submission) calls [`enter_namespaces`] first thing in
`main`, while it is still single-threaded:

1. [`probe`] first tries the whole sequence below in a throwaway child; if that fails,
   [`enter_namespaces`] returns [`Isolation::None`] having changed nothing.
2. `unshare(CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS)`; when that is refused (EPERM,
   EINVAL: not root), again with `CLONE_NEWUSER`, mapping our uid and gid to root in the
   new user namespace (`uid_map`, `setgroups` = `deny`, `gid_map`).
3. `fork()`: the new PID namespace applies to children only. The child is PID 1 of the
   namespace; it makes every mount private (so nothing propagates back to the host),
   mounts a fresh `/proc` (so `/proc/<pid>` and `/proc/net` are the namespace's, which
   readiness and orphan reaping rely on), brings the loopback interface `lo` up, and
   returns [`Isolation::Namespaces`]. Each of these steps is required: if one fails the
   child exits, and the caller tries to go back to the host's namespaces (possible as
   root; not from inside a user namespace) and returns [`Isolation::None`] saying why.
4. The parent, still outside the PID namespace, never returns: it forwards SIGTERM,
   SIGINT, SIGHUP and SIGQUIT to the child, and SIGKILL [`TERM_GRACE`] later if the
   child is still there (PID 1 of a namespace ignores signals it has no handler for),
   waits for the child and exits with its status (or dies of the same signal).

The child has `PR_SET_PDEATHSIG = SIGKILL` (checked against a pipe to close the race with
an early parent death): when the parent dies, the child dies, and when PID 1 of a
namespace dies the kernel kills every process in it. So killing the worker's outer
process ends everything the submission started, whatever it did (double fork, `setsid`).

PID 1 also adopts every orphan of the namespace; [`crate::interp::process`] reaps them.

# Without privileges
Where namespaces are not available (unprivileged user namespaces disabled, Docker
without `--privileged`, `/proc` masked so that a fresh one cannot be mounted),
[`enter_namespaces`] returns [`Isolation::None`] with the reason, e.g. `creating a
network namespace is not permitted: EPERM (with a user namespace: EPERM)`. The grader
then runs submissions one at a time on the host.
*/

use nix::libc;

mod host;
mod outer;
mod report;
mod steps;
mod sys;
mod trial;

pub use trial::probe;

use host::HostNamespaces;
use outer::{block_forwarded, set_mask, wait_for_namespace};
use report::{Report, Step, read_report, send_report};
use steps::{setup_inside, unshare_namespaces};
use sys::{close, last_errno, pipe, wait_raw};

/// How long the outer process waits, after forwarding a termination signal, before it
/// kills the namespace with SIGKILL.
pub const TERM_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Whether the calling process is isolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// In its own network, PID and mount namespaces, loopback up, as PID 1.
    Namespaces {
        /// A user namespace was needed (netdrill is not root).
        user_ns: bool,
    },
    /// Not isolated (nothing was changed), and why.
    None {
        /// Why, e.g. `creating a network namespace is not permitted: EPERM`.
        why: String,
    },
}

impl Isolation {
    /// True for [`Isolation::Namespaces`].
    pub fn is_isolated(&self) -> bool {
        matches!(self, Isolation::Namespaces { .. })
    }
}

/// The number of threads of this process (`Threads:` of `/proc/self/status`).
fn thread_count() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Enters new network, PID and mount namespaces (see the module doc). Call it first
/// thing in `main`, before any thread is started. On success this returns in PID 1 of
/// the new namespace (a new process: the calling one stays outside, waits for it and
/// exits with its status, and never returns); otherwise it returns [`Isolation::None`]
/// with the reason, the calling process unchanged (or, in the rare case it could not
/// be restored, the reason says so).
pub fn enter_namespaces() -> Isolation {
    if let Some(n) = thread_count()
        && n > 1
    {
        return Isolation::None {
            why: format!(
                "namespaces must be entered before any thread starts, and {n} threads run"
            ),
        };
    }
    if let none @ Isolation::None { .. } = probe() {
        return none;
    }
    let host = HostNamespaces::open();
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let user_ns = match unshare_namespaces(uid, gid) {
        Ok(u) => u,
        Err(rep) => return give_up(&host, rep, rep.step != Step::Unshare),
    };
    let fail_now = |step, e| {
        let rep = Report {
            user_ns,
            ..Report::failed(step, e)
        };
        give_up(&host, rep, true)
    };
    let pipes = match Pipes::open() {
        Ok(p) => p,
        Err(e) => return fail_now(Step::Fork, e),
    };
    let old_mask = block_forwarded();
    // SAFETY: the process is single-threaded (checked above), so the child may run
    // any code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = last_errno();
        pipes.close_all();
        set_mask(&old_mask);
        return fail_now(Step::Fork, e);
    }
    if pid == 0 {
        return become_pid_one(host, pipes, &old_mask, user_ns);
    }
    wait_for_pid_one(&host, pipes, pid, &old_mask, user_ns)
}

/// The two pipes between the outer process and PID 1, both ends close-on-exec.
#[derive(Clone, Copy)]
struct Pipes {
    /// Held open by the outer process: PID 1 sees it closed when the outer one died.
    alive_r: libc::c_int,
    alive_w: libc::c_int,
    /// PID 1's [`Report`] of its setup.
    status_r: libc::c_int,
    status_w: libc::c_int,
}

impl Pipes {
    fn open() -> Result<Pipes, i32> {
        let (alive_r, alive_w) = pipe()?;
        let (status_r, status_w) = match pipe() {
            Ok(p) => p,
            Err(e) => {
                close(alive_r);
                close(alive_w);
                return Err(e);
            }
        };
        Ok(Pipes {
            alive_r,
            alive_w,
            status_r,
            status_w,
        })
    }

    fn close_all(self) {
        for fd in [self.alive_r, self.alive_w, self.status_r, self.status_w] {
            close(fd);
        }
    }
}

/// In the forked child, PID 1 of the new namespace: dies with the outer process, sets
/// up the namespace and reports; returns [`Isolation::Namespaces`], or exits when
/// something failed (the outer process reports it).
fn become_pid_one(
    host: HostNamespaces,
    pipes: Pipes,
    old_mask: &libc::sigset_t,
    user_ns: bool,
) -> Isolation {
    set_mask(old_mask);
    close(pipes.alive_w);
    close(pipes.status_r);
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
    if parent_gone(pipes.alive_r) {
        // SAFETY: leaving at once; nobody waits for us.
        unsafe { libc::_exit(1) }
    }
    let report = setup_inside(user_ns);
    send_report(pipes.status_w, report);
    close(pipes.status_w);
    if report.step != Step::Done {
        // SAFETY: leaving; the parent reports the failure.
        unsafe { libc::_exit(1) }
    }
    drop(host);
    Isolation::Namespaces { user_ns }
}

/// Whether the parent died before PR_SET_PDEATHSIG: then its end of the pipe `alive_r`
/// is closed. (getppid() cannot tell: the parent is outside our namespace.) Closes
/// `alive_r`.
fn parent_gone(alive_r: libc::c_int) -> bool {
    let mut pfd = libc::pollfd {
        fd: alive_r,
        events: 0,
        revents: 0,
    };
    // SAFETY: poll on one valid pollfd, without waiting.
    let gone = unsafe { libc::poll(&mut pfd, 1, 0) } > 0 && pfd.revents & libc::POLLHUP != 0;
    close(alive_r);
    gone
}

/// In the outer process: waits for PID 1's report. When it is set up, this process
/// waits for it and never returns; otherwise it goes back to the host's namespaces and
/// says why isolation failed.
fn wait_for_pid_one(
    host: &HostNamespaces,
    pipes: Pipes,
    pid: libc::pid_t,
    old_mask: &libc::sigset_t,
    user_ns: bool,
) -> Isolation {
    close(pipes.alive_r);
    close(pipes.status_w);
    let report = read_report(pipes.status_r, -1);
    close(pipes.status_r);
    match report {
        Some(rep) if rep.step == Step::Done => wait_for_namespace(pid, old_mask),
        other => {
            wait_raw(pid);
            close(pipes.alive_w);
            set_mask(old_mask);
            let rep = other.unwrap_or(Report {
                user_ns,
                ..Report::failed(Step::ParentGone, 0)
            });
            let mut outcome = give_up(host, rep, true);
            if other.is_none()
                && let Isolation::None { why } = &mut outcome
            {
                *why = why.replace(
                    "the parent process died",
                    "PID 1 of the namespace died without a report",
                );
            }
            outcome
        }
    }
}

/// [`Isolation::None`] for `rep`, after going back to the host's namespaces when
/// `entered` (some namespace was already entered).
fn give_up(host: &HostNamespaces, rep: Report, entered: bool) -> Isolation {
    let Isolation::None { mut why } = rep.isolation() else {
        return rep.isolation();
    };
    if entered && let Err(e) = host.go_back() {
        why.push_str(&format!(
            "; and this process could not return to the host's namespaces ({e}): \
             it cannot start programs"
        ));
    }
    Isolation::None { why }
}

#[cfg(test)]
mod tests;
