/*!
The registry of the process groups started and not yet torn down, and what ends them
all: Ctrl-C ([`install_interrupt_handler`]) and the exit of netdrill
([`cleanup_at_exit`]).
*/

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

use nix::sys::signal::Signal;

use super::group::signal_group;
use super::orphans::kill_inherited;
use crate::interp::lock;

pub(super) fn registry() -> MutexGuard<'static, BTreeSet<i32>> {
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

pub(super) extern "C" fn cleanup_at_exit_c() {
    let _ = std::panic::catch_unwind(cleanup_at_exit);
}

/// Before netdrill exits: SIGKILL to every registered group, then [`kill_inherited`],
/// then removal of the pids cgroups this process made and did not drop
/// ([`crate::grade::limits::remove_created_cgroups`]). Registered with `atexit` the
/// first time a group is spawned; calling it again is harmless.
pub fn cleanup_at_exit() {
    kill_all_registered();
    let _ = crate::grade::limits::remove_created_cgroups();
}
