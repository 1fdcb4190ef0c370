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

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::model::Limits;

/// How long dropping a cgroup waits for its processes to die before removing it.
const EMPTY_WAIT: Duration = Duration::from_secs(3);

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

/// Kills everything in `dir` until it can be removed (at most [`EMPTY_WAIT`]).
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
fn sanitize(name: &str) -> String {
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

/// One mount of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    point: PathBuf,
    fstype: String,
    options: String,
}

/// The mounts in a `/proc/self/mountinfo` text: mount point (octal escapes decoded),
/// filesystem type and super options.
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            let mut right = right.split(' ');
            let fstype = right.next()?.to_string();
            let _source = right.next()?;
            let options = right.next().unwrap_or("").to_string();
            Some(Mount {
                point: PathBuf::from(std::ffi::OsStr::from_bytes(&unescape_octal(point))),
                fstype,
                options,
            })
        })
        .collect()
}

/// Decodes the `\040`-style escapes of mountinfo paths.
fn unescape_octal(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;
    use std::os::unix::process::CommandExt;

    #[test]
    fn rlimit_values_follow_the_rubric() {
        let limits = Limits {
            cpu: Duration::from_millis(2500),
            memory: 256 << 20,
            processes: 16,
            file_size: 1 << 20,
            output: 1 << 20,
        };
        let plan = rlimit_plan(&limits);
        let get = |r| plan.iter().find(|p| p.resource == r).copied().unwrap();
        assert_eq!(get(Resource::RLIMIT_CPU).soft, 3);
        assert_eq!(get(Resource::RLIMIT_CPU).hard, 4);
        assert_eq!(get(Resource::RLIMIT_AS).soft, 256 << 20);
        assert_eq!(get(Resource::RLIMIT_AS).hard, 256 << 20);
        assert_eq!(get(Resource::RLIMIT_FSIZE).soft, 1 << 20);
        assert_eq!(get(Resource::RLIMIT_NPROC).hard, 16);
        assert_eq!(get(Resource::RLIMIT_CORE).soft, 0);
        assert_eq!(get(Resource::RLIMIT_CORE).hard, 0);
        let tiny = Limits {
            cpu: Duration::from_millis(10),
            ..limits
        };
        assert_eq!(rlimit_plan(&tiny)[0].soft, 1, "at least one second");
        assert_eq!(
            rlimit_plan(&Limits::default())[0],
            RlimitPlan {
                resource: Resource::RLIMIT_CPU,
                soft: 10,
                hard: 11
            }
        );
    }

    /// The value of a row of /proc/self/limits ("Max cpu time  3  4  seconds").
    fn limit_row(text: &str, row: &str) -> (String, String) {
        let line = text.lines().find(|l| l.starts_with(row)).unwrap();
        let cols: Vec<&str> = line[row.len()..].split_whitespace().collect();
        (cols[0].to_string(), cols[1].to_string())
    }

    #[test]
    fn rlimits_are_in_force_in_the_child() {
        let limits = Limits {
            cpu: Duration::from_secs(3),
            memory: 512 << 20,
            processes: 40,
            file_size: 4096,
            output: 1 << 20,
        };
        let mut cmd = std::process::Command::new("cat");
        cmd.arg("/proc/self/limits");
        // SAFETY: apply_rlimits is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || apply_rlimits(&limits));
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(limit_row(&text, "Max cpu time"), ("3".into(), "4".into()));
        let mem = (512u64 << 20).to_string();
        assert_eq!(
            limit_row(&text, "Max address space"),
            (mem.clone(), mem),
            "{text}"
        );
        assert_eq!(
            limit_row(&text, "Max file size"),
            ("4096".into(), "4096".into())
        );
        assert_eq!(
            limit_row(&text, "Max processes"),
            ("40".into(), "40".into())
        );
        assert_eq!(
            limit_row(&text, "Max core file size"),
            ("0".into(), "0".into())
        );

        // Writing past file_size ends the writer.
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "head -c 10000 /dev/zero > big"])
            .current_dir(dir.path())
            .stderr(std::process::Stdio::null());
        // SAFETY: as above.
        unsafe {
            cmd.pre_exec(move || apply_rlimits(&limits));
        }
        let status = cmd.status().unwrap();
        assert!(!status.success());
        assert_eq!(
            std::fs::metadata(dir.path().join("big")).unwrap().len(),
            4096
        );
    }

    #[test]
    fn decimal_digits_without_allocation() {
        let mut buf = [0u8; 20];
        assert_eq!(format_decimal(0, &mut buf), b"0");
        assert_eq!(format_decimal(4_194_304, &mut buf), b"4194304");
        assert_eq!(format_decimal(u64::MAX, &mut buf), b"18446744073709551615");
    }

    #[test]
    fn mountinfo_lines_are_parsed() {
        let text = "\
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:5 - cgroup2 cgroup2 rw
50 31 0:40 / /mnt/with\\040space rw - tmpfs tmpfs rw
garbage";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].point, Path::new("/sys/fs/cgroup/pids"));
        assert_eq!(
            (m[0].fstype.as_str(), m[0].options.as_str()),
            ("cgroup", "rw,pids")
        );
        assert_eq!(m[1].fstype, "cgroup2");
        assert_eq!(m[2].point, Path::new("/mnt/with space"));
        assert_eq!(sanitize("ab/c d-é_1"), "ab_c_d-__1");
    }

    /// Whether a writable pids hierarchy is mounted (then root must get a cgroup).
    fn pids_hierarchy_writable() -> bool {
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        parse_mountinfo(&text).iter().any(|m| {
            let opts = |s: &str| m.options.split(',').any(|o| o == s);
            let rw = text
                .lines()
                .any(|l| l.contains(&format!(" {} rw", m.point.display())));
            rw && ((m.fstype == "cgroup" && opts("pids"))
                || (m.fstype == "cgroup2"
                    && std::fs::read_to_string(m.point.join("cgroup.controllers"))
                        .is_ok_and(|c| c.split_whitespace().any(|c| c == "pids"))))
        })
    }

    /// True once `pid` is no process (or only a zombie, which runs nothing).
    fn gone(pid: i32) -> bool {
        let _ = nix::sys::wait::waitpid(
            Pid::from_raw(pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
        kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH)
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
            })
    }

    #[test]
    fn a_pids_cgroup_caps_a_fork_loop_and_leaves_nothing() {
        let root = nix::unistd::geteuid().is_root();
        let cg = match PidsCgroup::create("unit test", 5) {
            Ok(cg) => cg,
            Err(why) => {
                assert!(
                    !(root && pids_hierarchy_writable()),
                    "root with a writable pids hierarchy must get a cgroup: {why}"
                );
                assert!(why.starts_with("no pids cgroup: "), "{why}");
                eprintln!("not tested here (no cgroup): {why}");
                return;
            }
        };
        let dir = cg.dir().to_path_buf();
        let leaf = dir.file_name().unwrap().to_string_lossy().into_owned();
        let prefix = format!("netdrill-unit_test-{}-", std::process::id());
        assert!(leaf.starts_with(&prefix), "{leaf}");
        assert_eq!(leaf.len(), prefix.len() + 8, "{leaf}");
        assert_eq!(
            std::fs::read_to_string(dir.join("pids.max"))
                .unwrap()
                .trim(),
            "5"
        );
        let procs = cg.procs_path().to_owned();
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "for i in $(seq 20); do sleep 5 & done; wait"])
            .stderr(std::process::Stdio::null());
        // SAFETY: join_cgroup is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || join_cgroup(&procs));
        }
        let mut child = cmd.spawn().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        let mut most = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        // The loop forks 20 sleeps (and a subshell for `seq`): at most 5 at once. Watch
        // until a fork failed, and a little longer.
        let mut extra = 20;
        while extra > 0 && Instant::now() < deadline {
            if cg.hit_limit() > 0 {
                extra -= 1;
            }
            let now = cg.pids();
            most = most.max(now.len());
            seen.extend(now);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(cg.hit_limit() > 0, "pids.max was never hit");
        assert!(most <= 5, "{most} processes at once");
        assert!(seen.contains(&(child.id() as i32)));
        drop(cg);
        assert!(!dir.exists(), "{} left behind", dir.display());
        // Killed, or ended by its shell on the failed fork: either way it is reaped.
        child.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !seen.iter().all(|&p| gone(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let left: Vec<i32> = seen.into_iter().filter(|&p| !gone(p)).collect();
        assert!(left.is_empty(), "still running: {left:?}");

        // A cgroup never dropped (the process exits without running destructors) is
        // removed, and its processes killed, by remove_created_cgroups.
        let cg = PidsCgroup::create("unit test forgotten", 5).unwrap();
        let dir = cg.dir().to_path_buf();
        let procs = cg.procs_path().to_owned();
        std::mem::forget(cg);
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("30");
        // SAFETY: join_cgroup is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || join_cgroup(&procs));
        }
        let mut sleeper = cmd.spawn().unwrap();
        assert!(remove_created_cgroups().unwrap() >= 1);
        assert!(!dir.exists(), "{} left behind", dir.display());
        let status = sleeper.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
    }
}
