/*!
The spawn policy: limits and a pids cgroup set once for a grading worker, applied to
every program it spawns between fork and exec (with PR_SET_PDEATHSIG and the PID
namespace's lifeline), async-signal-safe.
*/

use std::ffi::CString;
use std::sync::OnceLock;

use nix::libc;
use nix::unistd::Pid;

use crate::grade::Limits;

/// A process-wide policy applied to every spawned program between fork and exec.
#[derive(Debug)]
pub(super) struct SpawnPolicy {
    pub(super) limits: Limits,
    cgroup_procs: Option<CString>,
}

pub(super) static POLICY: OnceLock<SpawnPolicy> = OnceLock::new();

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
pub(super) fn in_child_before_exec(
    policy: Option<&SpawnPolicy>,
    pdeathsig: bool,
    parent: Pid,
    lifeline: Option<crate::interp::pidns::Lifeline>,
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
        unsafe { crate::interp::pidns::enter(lifeline)? };
    }
    Ok(())
}
