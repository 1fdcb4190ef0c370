/*!
The trial run ([`probe`]): whether entering the namespaces would work here, tried in
throwaway children so that the calling process changes in nothing.
*/

use nix::errno::Errno;
use nix::libc;

use super::Isolation;
use super::report::{Report, Step, read_report, send_report};
use super::steps::{setup_inside, unshare_namespaces};
use super::sys::{close, last_errno, pipe, wait_raw};

/// How long [`probe`] waits for its trial child.
const PROBE_WAIT_MS: libc::c_int = 10_000;

/// Whether [`enter_namespaces`] would work here, without changing the calling process:
/// a forked child tries the whole sequence (in a grandchild for the PID namespace) and
/// reports through a pipe. Safe to call from a multi-threaded process (the children run
/// only async-signal-safe code). Waits at most 10 s.
///
/// [`enter_namespaces`]: super::enter_namespaces
pub fn probe() -> Isolation {
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let (r, w) = match pipe() {
        Ok(p) => p,
        Err(e) => {
            return Isolation::None {
                why: format!("cannot probe namespaces: pipe: {}", Errno::from_raw(e)),
            };
        }
    };
    // SAFETY: the child runs only async-signal-safe code and ends with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = last_errno();
        close(r);
        close(w);
        return Isolation::None {
            why: format!("cannot probe namespaces: fork: {}", Errno::from_raw(e)),
        };
    }
    if pid == 0 {
        close(r);
        probe_child(uid, gid, w);
        // SAFETY: leaving the forked child without running any destructor.
        unsafe { libc::_exit(0) }
    }
    close(w);
    let report = read_report(r, PROBE_WAIT_MS);
    close(r);
    if report.is_none() {
        // SAFETY: killing our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    wait_raw(pid);
    match report {
        Some(rep) => rep.isolation(),
        None => Isolation::None {
            why: "the namespace probe ended without a report".to_string(),
        },
    }
}

/// The probe's child: unshare, fork PID 1, which sets up and reports. Async-signal-safe.
fn probe_child(uid: u32, gid: u32, w: libc::c_int) {
    let user_ns = match unshare_namespaces(uid, gid) {
        Ok(u) => u,
        Err(rep) => return send_report(w, rep),
    };
    // SAFETY: as in probe.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let rep = Report {
            user_ns,
            ..Report::failed(Step::Fork, last_errno())
        };
        return send_report(w, rep);
    }
    if pid == 0 {
        send_report(w, setup_inside(user_ns));
        // SAFETY: as in probe.
        unsafe { libc::_exit(0) }
    }
    wait_raw(pid);
}
