/*!
Resource limits (`setrlimit`) on every student process, set between fork and exec:
what the rubric's `[limits]` become ([`rlimit_plan`]) and setting them
([`apply_rlimits`]), without allocating.
*/

use nix::sys::resource::{Resource, getrlimit, setrlimit};

use crate::grade::model::Limits;

/// One resource limit to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RlimitPlan {
    /// Which limit.
    pub resource: Resource,
    /// The soft limit (what the process hits first).
    pub soft: u64,
    /// The hard limit.
    pub hard: u64,
}

/// The resource limits [`apply_rlimits`] sets for `limits` (see the module doc).
pub fn rlimit_plan(limits: &Limits) -> [RlimitPlan; 5] {
    let cpu = limits
        .cpu
        .as_secs()
        .saturating_add(u64::from(limits.cpu.subsec_nanos() > 0))
        .max(1);
    let same = |resource, value| RlimitPlan {
        resource,
        soft: value,
        hard: value,
    };
    [
        RlimitPlan {
            resource: Resource::RLIMIT_CPU,
            soft: cpu,
            hard: cpu.saturating_add(1),
        },
        same(Resource::RLIMIT_AS, limits.memory),
        same(Resource::RLIMIT_FSIZE, limits.file_size),
        same(Resource::RLIMIT_NPROC, limits.processes),
        same(Resource::RLIMIT_CORE, 0),
    ]
}

/// Sets the limits of [`rlimit_plan`] on the calling process, each clamped to the hard
/// limit already in force. Applies every limit it can and returns the first error.
///
/// Async-signal-safe (`getrlimit`, `setrlimit`, no allocation): meant for the child
/// between fork and exec.
pub fn apply_rlimits(limits: &Limits) -> std::io::Result<()> {
    let mut first_error = None;
    for plan in rlimit_plan(limits) {
        let result = getrlimit(plan.resource).and_then(|(_, cur_hard)| {
            let hard = plan.hard.min(cur_hard);
            setrlimit(plan.resource, plan.soft.min(hard), hard)
        });
        if let Err(e) = result {
            first_error.get_or_insert(std::io::Error::from_raw_os_error(e as i32));
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Writes `n` in decimal at the end of `buf`; returns the digits. Allocation-free, for
/// code running between fork and exec.
pub(crate) fn format_decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}
