/*!
The pids cgroup of a submission: made in the first cgroup hierarchy that works (see
the module doc of [`super`]), joined from `pre_exec`, and removed (everything in it
killed) when dropped or at exit.
*/

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::mountinfo::parse_mountinfo;
use super::rlimit::format_decimal;

/// How long dropping a cgroup waits for its processes to die before removing it.
const EMPTY_WAIT: Duration = Duration::from_secs(3);

/// Writes the calling process's pid into `procs` (a `cgroup.procs` file), moving it into
/// that cgroup. Async-signal-safe (open, write, close; no allocation): meant for the
/// child between fork and exec.
pub fn join_cgroup(procs: &CStr) -> std::io::Result<()> {
    // SAFETY: plain system calls on a NUL-terminated path and a stack buffer.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut buf = [0u8; 20];
        let digits = format_decimal(libc::getpid() as u64, &mut buf);
        let written = libc::write(fd, digits.as_ptr().cast(), digits.len());
        let result = if written == digits.len() as isize {
            Ok(())
        } else if written < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Err(std::io::Error::from_raw_os_error(libc::EIO))
        };
        libc::close(fd);
        result
    }
}

/// Which cgroup interface a [`PidsCgroup`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// The unified hierarchy (`cgroup2`).
    V2,
    /// The legacy `pids` hierarchy.
    V1,
}

/// A pids cgroup for one submission: at most `pids.max` processes and threads at once.
pub struct PidsCgroup {
    dir: PathBuf,
    procs: CString,
    version: CgroupVersion,
    removed: bool,
}

impl fmt::Debug for PidsCgroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PidsCgroup")
            .field("dir", &self.dir)
            .field("version", &self.version)
            .finish()
    }
}

impl PidsCgroup {
    /// Creates `netdrill-<name>-<our pid>-<8 hex digits>` with `pids.max = max` (see the
    /// module doc for where). The error says, for each hierarchy tried, why it did not work.
    pub fn create(name: &str, max: u64) -> Result<PidsCgroup, String> {
        let leaf = format!("netdrill-{}-{}", sanitize(name), unique_suffix());
        let mounts = match std::fs::read_to_string("/proc/self/mountinfo") {
            Ok(text) => parse_mountinfo(&text),
            Err(e) => return Err(format!("cannot read /proc/self/mountinfo: {e}")),
        };
        let mut why = Vec::new();
        for m in mounts.iter().filter(|m| m.fstype == "cgroup2") {
            match try_v2(&m.point, &leaf, max) {
                Ok(cg) => return Ok(cg),
                Err(e) => why.push(format!("cgroup v2 at {}: {e}", m.point.display())),
            }
        }
        let v1 = mounts
            .iter()
            .filter(|m| m.fstype == "cgroup" && m.options.split(',').any(|o| o == "pids"));
        for m in v1 {
            match make_cgroup(&m.point.join(&leaf), max, CgroupVersion::V1) {
                Ok(cg) => return Ok(cg),
                Err(e) => why.push(format!("cgroup v1 at {}: {e}", m.point.display())),
            }
        }
        if why.is_empty() {
            why.push("no cgroup filesystem offers the pids controller".to_string());
        }
        Err(format!("no pids cgroup: {}", why.join("; ")))
    }

    /// The cgroup's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Which interface it uses.
    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// Its `cgroup.procs` file: a process writes its pid there to join ([`join_cgroup`]).
    pub fn procs_path(&self) -> &CStr {
        &self.procs
    }

    /// How many forks failed because `pids.max` was reached (`max N` in `pids.events`;
    /// 0 when that file cannot be read).
    pub fn hit_limit(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("pids.events"))
            .ok()
            .and_then(|text| {
                text.lines().find_map(|l| {
                    l.strip_prefix("max ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                })
            })
            .unwrap_or(0)
    }

    /// The pids of the processes in it now (as seen from our pid namespace).
    pub fn pids(&self) -> Vec<i32> {
        pids_in(&self.dir)
    }

    /// Sends SIGKILL to every process in it (`cgroup.kill` where the kernel has it, then
    /// each listed pid, a few rounds so that a process forked meanwhile is caught too).
    pub fn kill_all(&self) {
        kill_all_in(&self.dir);
    }

    /// Kills everything in it, waits (at most 3 s) until it is empty, and removes it.
    /// Says what went wrong when it could not be removed.
    pub fn remove(mut self) -> Result<(), String> {
        self.remove_now()
    }

    fn remove_now(&mut self) -> Result<(), String> {
        if self.removed {
            return Ok(());
        }
        remove_cgroup_dir(&self.dir)?;
        self.removed = true;
        Ok(())
    }
}

/// The cgroups this process created and has not removed yet.
fn created() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    static CREATED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    CREATED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Kills everything in every cgroup this process created and did not remove yet, and
/// removes them: for a process that exits without dropping its [`PidsCgroup`]s (called
/// by [`crate::interp::process::cleanup_at_exit`]). How many it removed, or why some
/// could not be.
pub fn remove_created_cgroups() -> Result<usize, String> {
    let dirs: Vec<PathBuf> = created().clone();
    let mut errors = Vec::new();
    let mut removed = 0;
    for dir in dirs {
        match remove_cgroup_dir(&dir) {
            Ok(()) => removed += 1,
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(removed)
    } else {
        Err(errors.join("; "))
    }
}

fn pids_in(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

fn kill_all_in(dir: &Path) {
    let _ = std::fs::write(dir.join("cgroup.kill"), "1");
    for _ in 0..3 {
        let pids = pids_in(dir);
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// Kills everything in the cgroup at `dir`, which a grading worker made (its last
/// path component starts with `netdrill-`), and removes it: the grader calls this after
/// a worker ended, in case the worker was killed before it could clean up.
pub fn remove_worker_cgroup(dir: &Path) -> Result<(), String> {
    let ours = dir
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("netdrill-"))
        && dir.starts_with("/sys/fs/cgroup");
    if !ours {
        return Err(format!("{} is not a netdrill cgroup", dir.display()));
    }
    if !dir.exists() {
        return Ok(());
    }
    remove_cgroup_dir(dir)
}

/// Kills everything in `dir` until it can be removed (at most [`EMPTY_WAIT`]).
fn remove_cgroup_dir(dir: &Path) -> Result<(), String> {
    let deadline = Instant::now() + EMPTY_WAIT;
    let mut pause = Duration::from_millis(1);
    loop {
        kill_all_in(dir);
        let error = match std::fs::remove_dir(dir) {
            Ok(()) => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(e),
        };
        let Some(e) = error else {
            created().retain(|d| d != dir);
            return Ok(());
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "cannot remove {}: {e} (still in it: {:?})",
                dir.display(),
                pids_in(dir)
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        let _ = self.remove_now();
    }
}

/// A cgroup v2 child of `root`, enabling the pids controller in `root` if needed.
fn try_v2(root: &Path, leaf: &str, max: u64) -> Result<PidsCgroup, String> {
    let has_pids = |file: &str| {
        std::fs::read_to_string(root.join(file))
            .map(|t| t.split_whitespace().any(|c| c == "pids"))
            .map_err(|e| format!("cannot read {file}: {e}"))
    };
    if !has_pids("cgroup.controllers")? {
        return Err("the pids controller is not available there".to_string());
    }
    if !has_pids("cgroup.subtree_control")? {
        std::fs::write(root.join("cgroup.subtree_control"), "+pids")
            .map_err(|e| format!("cannot enable the pids controller: {e}"))?;
    }
    make_cgroup(&root.join(leaf), max, CgroupVersion::V2)
}

/// Creates the directory `dir` (it must not exist) and sets `pids.max`.
fn make_cgroup(dir: &Path, max: u64, version: CgroupVersion) -> Result<PidsCgroup, String> {
    let procs = CString::new(dir.join("cgroup.procs").as_os_str().as_bytes())
        .map_err(|_| format!("{} holds a NUL byte", dir.display()))?;
    std::fs::create_dir(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    created().push(dir.to_path_buf());
    let cg = PidsCgroup {
        dir: dir.to_path_buf(),
        procs,
        version,
        removed: false,
    };
    // On error, dropping `cg` removes the directory again.
    std::fs::write(cg.dir.join("pids.max"), max.to_string())
        .map_err(|e| format!("cannot set pids.max in {}: {e}", dir.display()))?;
    Ok(cg)
}

/// `<our pid>-<8 hex digits>`: the pid alone is not unique (every grading worker is
/// PID 1 of its own namespace), so a hash of the time and a counter is added.
fn unique_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{}-{:08x}", std::process::id(), h.finish() as u32)
}

/// `name` with every character but letters, digits, `-` and `_` replaced by `_`, at most
/// 64 characters.
pub(super) fn sanitize(name: &str) -> String {
    name.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
