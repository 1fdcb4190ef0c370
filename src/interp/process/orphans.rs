/*!
Orphans: processes that left their group and were re-parented to netdrill (subreaper,
or PID 1 of a grading namespace), told from our own by `/proc`, reaped when they end
and killed when a run is over (see the module doc of [`super`]).
*/

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::registry::{cleanup_at_exit_c, registry};

/// How often the background thread reaps orphans.
const REAP_EVERY: Duration = Duration::from_millis(200);

/// How long [`kill_inherited`] keeps looking for (and reaping) inherited processes.
const INHERITED_WAIT: Duration = Duration::from_secs(2);

/// True once this process adopts orphans (it spawned a group): only then are
/// inherited processes looked for.
static ADOPTING: AtomicBool = AtomicBool::new(false);

/// Makes this process the reaper of its orphaned descendants (Linux), once; starts the
/// thread that reaps them and registers [`cleanup_at_exit`] with `atexit`.
///
/// [`cleanup_at_exit`]: super::cleanup_at_exit
pub(super) fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(target_os = "linux")]
        let _ = nix::sys::prctl::set_child_subreaper(true);
        ADOPTING.store(true, Ordering::SeqCst);
        let _ = std::thread::Builder::new()
            .name("netdrill-orphans".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(REAP_EVERY);
                    if any_zombie_child() {
                        reap_orphans();
                    }
                }
            });
        // SAFETY: registering a function that takes no arguments and does not unwind.
        unsafe {
            libc::atexit(cleanup_at_exit_c);
        }
    });
}

/// `/proc/<pid>/stat`, the fields used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ProcStat {
    pub(super) pid: i32,
    pub(super) state: u8,
    pub(super) ppid: i32,
    pub(super) pgrp: i32,
    pub(super) session: i32,
}

impl ProcStat {
    fn read(pid: i32) -> Option<ProcStat> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        ProcStat::parse(pid, &text)
    }

    /// `pid (comm) S ppid pgrp session …`; comm may hold spaces and parentheses.
    pub(super) fn parse(pid: i32, text: &str) -> Option<ProcStat> {
        let (_, rest) = text.rsplit_once(')')?;
        let mut f = rest.split_whitespace();
        let state = *f.next()?.as_bytes().first()?;
        let mut num = || f.next()?.parse::<i32>().ok();
        Some(ProcStat {
            pid,
            state,
            ppid: num()?,
            pgrp: num()?,
            session: num()?,
        })
    }

    pub(super) fn dead(&self) -> bool {
        matches!(self.state, b'Z' | b'X' | b'x')
    }
}

/// Every process in `/proc`.
fn all_processes() -> Vec<ProcStat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(ProcStat::read)
        .collect()
}

/// Our children: from `/proc/self/task/*/children` (cheap), else a scan of `/proc`.
fn our_children(me: i32) -> Vec<ProcStat> {
    let mut pids = BTreeSet::new();
    let mut readable = false;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
                readable = true;
                pids.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok()),
                );
            }
        }
    }
    if !readable {
        return all_processes()
            .into_iter()
            .filter(|p| p.ppid == me)
            .collect();
    }
    pids.into_iter()
        .filter_map(ProcStat::read)
        .filter(|p| p.ppid == me)
        .collect()
}

/// Who we are, for telling inherited processes from our own.
pub(super) struct Us {
    pub(super) pid: i32,
    pub(super) pgrp: i32,
    pub(super) session: i32,
}

impl Us {
    fn now() -> Us {
        Us {
            pid: nix::unistd::getpid().as_raw(),
            pgrp: nix::unistd::getpgrp().as_raw(),
            session: nix::unistd::getsid(None).map_or(-1, Pid::as_raw),
        }
    }

    /// A child of ours that is no registered leader and left our group or session:
    /// one we may reap.
    pub(super) fn inherited(&self, p: &ProcStat, registered: &BTreeSet<i32>) -> bool {
        p.ppid == self.pid
            && !registered.contains(&p.pid)
            && (p.pgrp != self.pgrp || p.session != self.session)
    }

    /// An inherited process that is not in a registered group either (a member of a
    /// live group whose parent died is that group's business): one we may kill.
    pub(super) fn escaped(&self, p: &ProcStat, registered: &BTreeSet<i32>) -> bool {
        self.inherited(p, registered) && !registered.contains(&p.pgrp)
    }
}

/// Whether some child of ours is a zombie (peeked at with `waitid(WNOWAIT)`, which
/// reaps nothing).
fn any_zombie_child() -> bool {
    // SAFETY: waitid into a zeroed siginfo_t.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        r == 0 && info.si_pid() != 0
    }
}

/// Reaps every inherited child (see the module doc) that has exited: orphans that
/// escaped their group and ended. Registered leaders are left to tokio, and programs
/// started directly to whoever started them. Returns how many were reaped.
pub fn reap_orphans() -> usize {
    if !adopting() {
        return 0;
    }
    let us = Us::now();
    let registered: BTreeSet<i32> = registry().clone();
    our_children(us.pid)
        .iter()
        .filter(|p| p.dead() && us.inherited(p, &registered))
        .filter(|p| {
            matches!(
                waitpid(Pid::from_raw(p.pid), Some(WaitPidFlag::WNOHANG)),
                Ok(s) if s != WaitStatus::StillAlive
            )
        })
        .count()
}

fn adopting() -> bool {
    ADOPTING.load(Ordering::SeqCst) || nix::unistd::getpid().as_raw() == 1
}

/// Sends SIGKILL to every inherited process (see the module doc) that is not in a
/// registered group, and to all of its descendants, again until none is left (bounded: 2 s), and reaps them. Returns how
/// many processes it killed. Does nothing in a process that never spawned a group.
pub fn kill_inherited() -> usize {
    if !adopting() {
        return 0;
    }
    let deadline = Instant::now() + INHERITED_WAIT;
    let mut killed = BTreeSet::new();
    loop {
        let registered: BTreeSet<i32> = registry().clone();
        let found = kill_inherited_once(&registered, &mut killed);
        reap_orphans();
        if found == 0 || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // Reap what died (bounded): killed descendants are re-parented to us as they die.
    let us = Us::now();
    while Instant::now() < deadline {
        let registered: BTreeSet<i32> = registry().clone();
        reap_orphans();
        if !our_children(us.pid)
            .iter()
            .any(|p| killed.contains(&p.pid) && us.inherited(p, &registered))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    killed.len()
}

/// One round: SIGKILL to the live inherited processes and their descendants; returns
/// how many live inherited processes it found.
fn kill_inherited_once(registered: &BTreeSet<i32>, killed: &mut BTreeSet<i32>) -> usize {
    let us = Us::now();
    let roots: Vec<i32> = our_children(us.pid)
        .iter()
        .filter(|p| !p.dead() && us.escaped(p, registered))
        .map(|p| p.pid)
        .collect();
    if roots.is_empty() {
        return 0;
    }
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for p in all_processes().iter().filter(|p| !p.dead()) {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut todo = roots.clone();
    let mut seen = BTreeSet::new();
    while let Some(pid) = todo.pop() {
        if pid <= 1 || pid == us.pid || !seen.insert(pid) {
            continue;
        }
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        killed.insert(pid);
        todo.extend(children.get(&pid).into_iter().flatten().copied());
    }
    roots.len()
}

/// [`kill_inherited`] when no group is registered, holding the registry so that no
/// group starts meanwhile: then every inherited process is an escapee of a run that
/// is over. Kills only (a few rounds); the background thread reaps.
pub(super) fn kill_inherited_if_idle() {
    if !adopting() {
        return;
    }
    let registry = registry();
    if !registry.is_empty() {
        return;
    }
    let mut killed = BTreeSet::new();
    for _ in 0..5 {
        if kill_inherited_once(&registry, &mut killed) == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(registry);
    if !killed.is_empty() {
        reap_orphans();
    }
}
