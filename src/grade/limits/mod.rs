/*!
Limits on a submission's processes: resource limits set on every student process between
fork and exec, and a pids cgroup bounding how many processes and threads a submission
has at once.

# Resource limits
[`apply_rlimits`] runs in the child between `fork` and `exec` (from
[`crate::interp::process::ChildGroup::spawn`], once a grading worker has called
[`crate::interp::process::set_spawn_limits`]), so it does only async-signal-safe work:
`getrlimit`/`setrlimit`, no allocation. What it sets is [`rlimit_plan`]:

| rubric `[limits]` | rlimit | soft | hard |
|---|---|---|---|
| `cpu` | `RLIMIT_CPU` | `cpu` rounded up to whole seconds (at least 1) | soft + 1 s |
| `memory` | `RLIMIT_AS` | `memory` | `memory` |
| `file_size` | `RLIMIT_FSIZE` | `file_size` | `file_size` |
| `processes` | `RLIMIT_NPROC` | `processes` | `processes` |
| — | `RLIMIT_CORE` | 0 | 0 |

A limit is never raised above the hard limit already in force (an unprivileged process
may not), so the only possible failure is an unexpected one. `RLIMIT_NPROC` counts every
process of the real user id and is ignored for root: the pids cgroup is what bounds a
submission's processes when netdrill runs as root.

# The pids cgroup
[`PidsCgroup::create`] makes `netdrill-<name>-<pid>-<8 hex digits>` (every grading
worker is PID 1 of its namespace: the pid alone would clash) with `pids.max` set, in the first
hierarchy that works:
1. cgroup v2: a `cgroup2` mount (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on a
   hybrid system) whose root offers the `pids` controller; it is enabled in the root's
   `cgroup.subtree_control` if it is not already. Only the root is used: a v2 cgroup
   holding processes cannot delegate controllers to children.
2. cgroup v1: the `cgroup` mount whose options hold `pids` (`/sys/fs/cgroup/pids`).

When neither works (not root, a container without a writable cgroupfs) it says why, and
grading goes on without it. A process joins from `pre_exec` by writing its pid into
[`PidsCgroup::procs_path`] ([`join_cgroup`]); everything it forks stays inside.
Dropping a [`PidsCgroup`] kills every process in it, waits (bounded) for it to be empty
and removes it; [`remove_created_cgroups`] does the same, at exit, for those not dropped.
*/

mod cgroup;
mod mountinfo;
mod rlimit;

pub use cgroup::{
    CgroupVersion, PidsCgroup, join_cgroup, remove_created_cgroups, remove_worker_cgroup,
};
pub(crate) use rlimit::format_decimal;
pub use rlimit::{RlimitPlan, apply_rlimits, rlimit_plan};

#[cfg(test)]
mod tests;
