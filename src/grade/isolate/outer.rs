/*!
The outer process, left outside the PID namespace once PID 1 is set up: it forwards
termination signals to PID 1 (SIGKILL [`TERM_GRACE`] later), waits for it and ends the
same way.
*/

use std::sync::atomic::{AtomicI32, Ordering};

use nix::libc;

use super::TERM_GRACE;
use super::sys::wait_raw;

/// The signals the outer process forwards to PID 1 of the namespace.
const FORWARDED: [libc::c_int; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];

/// Blocks [`FORWARDED`]; returns the previous mask.
pub(super) fn block_forwarded() -> libc::sigset_t {
    // SAFETY: sigset manipulation on locals.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old);
        old
    }
}

pub(super) fn set_mask(mask: &libc::sigset_t) {
    // SAFETY: restoring a mask read by sigprocmask.
    unsafe {
        libc::sigprocmask(libc::SIG_SETMASK, mask, std::ptr::null_mut());
    }
}

/// PID 1 of the namespace, for the outer process's signal handlers.
static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let child = CHILD.load(Ordering::Relaxed);
    if child > 0 {
        // SAFETY: kill and alarm are async-signal-safe.
        unsafe {
            libc::kill(child, sig);
            libc::alarm(TERM_GRACE.as_secs() as libc::c_uint);
        }
    }
}

extern "C" fn kill_child(_: libc::c_int) {
    let child = CHILD.load(Ordering::Relaxed);
    if child > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe {
            libc::kill(child, libc::SIGKILL);
        }
    }
}

/// The outer process: forwards signals to PID 1, waits for it and ends the same way.
pub(super) fn wait_for_namespace(child: libc::pid_t, old_mask: &libc::sigset_t) -> ! {
    CHILD.store(child, Ordering::Relaxed);
    // SAFETY: installing handlers that call only async-signal-safe functions; closing
    // descriptors this process no longer needs (it only waits).
    unsafe {
        for (sig, handler) in FORWARDED
            .iter()
            .map(|&s| (s, forward as extern "C" fn(libc::c_int)))
            .chain([(libc::SIGALRM, kill_child as extern "C" fn(libc::c_int))])
        {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
        // Descriptors the caller inherited (pipes of whoever started us) must not be
        // held open by a process that only waits.
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
            for fd in 3..1024 {
                libc::close(fd);
            }
        }
    }
    set_mask(old_mask);
    let status = wait_raw(child);
    // SAFETY: ending the process as its child ended, without running destructors.
    unsafe {
        match status {
            Some(s) if libc::WIFEXITED(s) => libc::_exit(libc::WEXITSTATUS(s)),
            Some(s) if libc::WIFSIGNALED(s) => {
                let sig = libc::WTERMSIG(s);
                libc::signal(sig, libc::SIG_DFL);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, sig);
                libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                libc::raise(sig);
                libc::_exit(128 + sig)
            }
            _ => libc::_exit(125),
        }
    }
}
