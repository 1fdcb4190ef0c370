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

use std::ffi::CStr;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::libc;

use super::limits::format_decimal;

/// How long the outer process waits, after forwarding a termination signal, before it
/// kills the namespace with SIGKILL.
pub const TERM_GRACE: std::time::Duration = std::time::Duration::from_secs(3);
/// How long [`probe`] waits for its trial child.
const PROBE_WAIT_MS: libc::c_int = 10_000;

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

/// A step of the sequence, as reported through a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Step {
    Done = 0,
    Unshare = 1,
    UidMap = 2,
    Setgroups = 3,
    GidMap = 4,
    Fork = 5,
    ParentGone = 6,
    PrivateMounts = 7,
    MountProc = 8,
    Loopback = 9,
}

impl Step {
    fn from_u8(b: u8) -> Option<Step> {
        use Step::*;
        [
            Done,
            Unshare,
            UidMap,
            Setgroups,
            GidMap,
            Fork,
            ParentGone,
            PrivateMounts,
            MountProc,
            Loopback,
        ]
        .into_iter()
        .find(|s| *s as u8 == b)
    }
}

/// What a step reports: fixed-size, written with one `write` from async-signal-safe code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Report {
    step: Step,
    user_ns: bool,
    /// errno of the step (for `Unshare`: of the try without a user namespace).
    errno: i32,
    /// For `Unshare`: errno of the try with a user namespace (0: not tried).
    errno_user: i32,
}

const REPORT_LEN: usize = 10;

impl Report {
    fn failed(step: Step, errno: i32) -> Report {
        Report {
            step,
            user_ns: false,
            errno,
            errno_user: 0,
        }
    }

    fn done(user_ns: bool) -> Report {
        Report {
            step: Step::Done,
            user_ns,
            errno: 0,
            errno_user: 0,
        }
    }

    fn encode(self) -> [u8; REPORT_LEN] {
        let mut b = [0u8; REPORT_LEN];
        b[0] = self.step as u8;
        b[1] = u8::from(self.user_ns);
        b[2..6].copy_from_slice(&self.errno.to_ne_bytes());
        b[6..10].copy_from_slice(&self.errno_user.to_ne_bytes());
        b
    }

    fn decode(b: &[u8; REPORT_LEN]) -> Option<Report> {
        Some(Report {
            step: Step::from_u8(b[0])?,
            user_ns: b[1] != 0,
            errno: i32::from_ne_bytes([b[2], b[3], b[4], b[5]]),
            errno_user: i32::from_ne_bytes([b[6], b[7], b[8], b[9]]),
        })
    }

    /// What it means, for [`Isolation::None`].
    fn isolation(self) -> Isolation {
        let e = |n: i32| format!("{:?}", Errno::from_raw(n));
        let why = match self.step {
            Step::Done => {
                return Isolation::Namespaces {
                    user_ns: self.user_ns,
                };
            }
            Step::Unshare => {
                let verb = if matches!(Errno::from_raw(self.errno), Errno::EPERM | Errno::EINVAL) {
                    "is not permitted"
                } else {
                    "failed"
                };
                let user = if self.errno_user != 0 {
                    format!(" (with a user namespace: {})", e(self.errno_user))
                } else {
                    String::new()
                };
                format!(
                    "creating a network namespace {verb}: {}{user}",
                    e(self.errno)
                )
            }
            Step::UidMap => format!(
                "cannot map our user id in a user namespace: {}",
                e(self.errno)
            ),
            Step::Setgroups => format!(
                "cannot deny setgroups in a user namespace: {}",
                e(self.errno)
            ),
            Step::GidMap => format!(
                "cannot map our group id in a user namespace: {}",
                e(self.errno)
            ),
            Step::Fork => format!("cannot fork into the new PID namespace: {}", e(self.errno)),
            Step::ParentGone => "the parent process died while entering the namespaces".to_string(),
            Step::PrivateMounts => format!("cannot make mounts private: {}", e(self.errno)),
            Step::MountProc => format!("cannot mount a fresh /proc: {}", e(self.errno)),
            Step::Loopback => format!("cannot bring the loopback interface up: {}", e(self.errno)),
        };
        Isolation::None { why }
    }
}

fn last_errno() -> i32 {
    Errno::last_raw()
}

/// Writes `parts` concatenated to `path` in ONE `write` (as `uid_map` requires).
/// Async-signal-safe.
fn write_file(path: &CStr, parts: &[&[u8]]) -> Result<(), i32> {
    let mut buf = [0u8; 96];
    let mut len = 0;
    for p in parts {
        let end = len + p.len();
        if end > buf.len() {
            return Err(libc::E2BIG);
        }
        buf[len..end].copy_from_slice(p);
        len = end;
    }
    // SAFETY: plain system calls on a NUL-terminated path and a stack buffer.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(last_errno());
        }
        let n = libc::write(fd, buf.as_ptr().cast(), len);
        let result = if n == len as isize {
            Ok(())
        } else if n < 0 {
            Err(last_errno())
        } else {
            Err(libc::EIO)
        };
        libc::close(fd);
        result
    }
}

const NS_FLAGS: libc::c_int = libc::CLONE_NEWNET | libc::CLONE_NEWPID | libc::CLONE_NEWNS;

/// `unshare` of the network, PID and mount namespaces, with a user namespace when that
/// is refused without. Ok(true) when a user namespace was needed. Async-signal-safe.
fn unshare_namespaces(uid: u32, gid: u32) -> Result<bool, Report> {
    // SAFETY: unshare has no memory-safety preconditions.
    if unsafe { libc::unshare(NS_FLAGS) } == 0 {
        return Ok(false);
    }
    let plain = last_errno();
    if plain != libc::EPERM && plain != libc::EINVAL {
        return Err(Report::failed(Step::Unshare, plain));
    }
    // SAFETY: as above.
    if unsafe { libc::unshare(NS_FLAGS | libc::CLONE_NEWUSER) } != 0 {
        let mut r = Report::failed(Step::Unshare, plain);
        r.errno_user = last_errno();
        return Err(r);
    }
    let fail = |step, errno| {
        let mut r = Report::failed(step, errno);
        r.user_ns = true;
        r
    };
    let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
    write_file(
        c"/proc/self/uid_map",
        &[b"0 ", format_decimal(u64::from(uid), &mut a), b" 1\n"],
    )
    .map_err(|e| fail(Step::UidMap, e))?;
    match write_file(c"/proc/self/setgroups", &[b"deny"]) {
        // Kernels before 3.19 have no such file (and need none).
        Ok(()) | Err(libc::ENOENT) => {}
        Err(e) => return Err(fail(Step::Setgroups, e)),
    }
    write_file(
        c"/proc/self/gid_map",
        &[b"0 ", format_decimal(u64::from(gid), &mut b), b" 1\n"],
    )
    .map_err(|e| fail(Step::GidMap, e))?;
    Ok(true)
}

/// Brings the interface `lo` up. Async-signal-safe.
fn loopback_up() -> Result<(), i32> {
    // SAFETY: a socket, two ioctls on a zeroed ifreq naming "lo", close.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(last_errno());
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        ifr.ifr_name[0] = b'l' as libc::c_char;
        ifr.ifr_name[1] = b'o' as libc::c_char;
        let mut result = Ok(());
        if libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut ifr) < 0 {
            result = Err(last_errno());
        } else {
            ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &ifr) < 0 {
                result = Err(last_errno());
            }
        }
        libc::close(fd);
        result
    }
}

/// Inside the new namespaces, in PID 1: private mounts, a fresh `/proc`, loopback up.
/// Async-signal-safe.
fn setup_inside(user_ns: bool) -> Report {
    let fail = |step, errno| Report {
        user_ns,
        ..Report::failed(step, errno)
    };
    // SAFETY: mount(2) with NUL-terminated strings or nulls.
    unsafe {
        if libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return fail(Step::PrivateMounts, last_errno());
        }
        if libc::mount(
            c"proc".as_ptr(),
            c"/proc".as_ptr(),
            c"proc".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        ) != 0
        {
            return fail(Step::MountProc, last_errno());
        }
    }
    if let Err(e) = loopback_up() {
        return fail(Step::Loopback, e);
    }
    Report::done(user_ns)
}

/// Writes a report into `fd` (one write of [`REPORT_LEN`] bytes). Async-signal-safe.
fn send_report(fd: libc::c_int, report: Report) {
    let bytes = report.encode();
    // SAFETY: a write from a stack buffer.
    unsafe {
        libc::write(fd, bytes.as_ptr().cast(), bytes.len());
    }
}

/// Reads one report from `fd`, waiting at most `wait_ms` (-1: no bound).
fn read_report(fd: libc::c_int, wait_ms: libc::c_int) -> Option<Report> {
    let mut buf = [0u8; REPORT_LEN];
    let mut got = 0;
    while got < REPORT_LEN {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one valid pollfd; read into the rest of a stack buffer.
        unsafe {
            match libc::poll(&mut pfd, 1, wait_ms) {
                0 => return None,
                n if n < 0 && last_errno() == libc::EINTR => continue,
                n if n < 0 => return None,
                _ => {}
            }
            let n = libc::read(fd, buf[got..].as_mut_ptr().cast(), REPORT_LEN - got);
            if n < 0 && last_errno() == libc::EINTR {
                continue;
            }
            if n <= 0 {
                return None;
            }
            got += n as usize;
        }
    }
    Report::decode(&buf)
}

/// A pipe with both ends close-on-exec: (read, write).
fn pipe() -> Result<(libc::c_int, libc::c_int), i32> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(last_errno());
    }
    Ok((fds[0], fds[1]))
}

fn close(fd: libc::c_int) {
    // SAFETY: closing a descriptor this module opened.
    unsafe {
        libc::close(fd);
    }
}

/// `waitpid(pid, 0)`, retried on EINTR: the raw status, or None.
fn wait_raw(pid: libc::pid_t) -> Option<libc::c_int> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid into a local.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return Some(status);
        }
        if r < 0 && last_errno() == libc::EINTR {
            continue;
        }
        return None;
    }
}

/// Whether [`enter_namespaces`] would work here, without changing the calling process:
/// a forked child tries the whole sequence (in a grandchild for the PID namespace) and
/// reports through a pipe. Safe to call from a multi-threaded process (the children run
/// only async-signal-safe code). Waits at most 10 s.
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

/// The number of threads of this process (`Threads:` of `/proc/self/status`).
fn thread_count() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

/// File descriptors of the host's namespaces, to go back if entering fails half-way.
struct HostNamespaces {
    fds: Vec<(libc::c_int, libc::c_int)>,
}

impl HostNamespaces {
    fn open() -> HostNamespaces {
        let mut fds = Vec::new();
        for (path, kind) in [
            (c"/proc/self/ns/net", libc::CLONE_NEWNET),
            (c"/proc/self/ns/mnt", libc::CLONE_NEWNS),
            (c"/proc/self/ns/pid", libc::CLONE_NEWPID),
        ] {
            // SAFETY: open of a NUL-terminated path.
            let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
            if fd >= 0 {
                fds.push((fd, kind));
            }
        }
        HostNamespaces { fds }
    }

    /// `setns` back into each; says what failed.
    fn go_back(&self) -> Result<(), String> {
        let mut failed = Vec::new();
        for &(fd, kind) in &self.fds {
            // SAFETY: setns on a namespace descriptor we opened.
            if unsafe { libc::setns(fd, kind) } != 0 {
                failed.push(format!("{:?}", Errno::last()));
            }
        }
        if self.fds.len() < 3 {
            failed.push("a namespace of the host could not be opened".to_string());
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join(", "))
        }
    }
}

impl Drop for HostNamespaces {
    fn drop(&mut self) {
        for &(fd, _) in &self.fds {
            close(fd);
        }
    }
}

/// The signals the outer process forwards to PID 1 of the namespace.
const FORWARDED: [libc::c_int; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];

/// Blocks [`FORWARDED`]; returns the previous mask.
fn block_forwarded() -> libc::sigset_t {
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

fn set_mask(mask: &libc::sigset_t) {
    // SAFETY: restoring a mask read by sigprocmask.
    unsafe {
        libc::sigprocmask(libc::SIG_SETMASK, mask, std::ptr::null_mut());
    }
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
    let (alive_r, alive_w) = match pipe() {
        Ok(p) => p,
        Err(e) => return fail_now(Step::Fork, e),
    };
    let (status_r, status_w) = match pipe() {
        Ok(p) => p,
        Err(e) => {
            close(alive_r);
            close(alive_w);
            return fail_now(Step::Fork, e);
        }
    };
    let old_mask = block_forwarded();
    // SAFETY: the process is single-threaded (checked above), so the child may run
    // any code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = last_errno();
        for fd in [alive_r, alive_w, status_r, status_w] {
            close(fd);
        }
        set_mask(&old_mask);
        return fail_now(Step::Fork, e);
    }
    if pid == 0 {
        // PID 1 of the new namespace.
        set_mask(&old_mask);
        close(alive_w);
        close(status_r);
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
        // The parent may have died before PR_SET_PDEATHSIG: then its end of the pipe
        // is closed. (getppid() cannot tell: the parent is outside our namespace.)
        let mut pfd = libc::pollfd {
            fd: alive_r,
            events: 0,
            revents: 0,
        };
        // SAFETY: poll on one valid pollfd, without waiting.
        let parent_gone =
            unsafe { libc::poll(&mut pfd, 1, 0) } > 0 && pfd.revents & libc::POLLHUP != 0;
        close(alive_r);
        if parent_gone {
            // SAFETY: leaving at once; nobody waits for us.
            unsafe { libc::_exit(1) }
        }
        let report = setup_inside(user_ns);
        send_report(status_w, report);
        close(status_w);
        if report.step != Step::Done {
            // SAFETY: leaving; the parent reports the failure.
            unsafe { libc::_exit(1) }
        }
        drop(host);
        return Isolation::Namespaces { user_ns };
    }
    close(alive_r);
    close(status_w);
    let report = read_report(status_r, -1);
    close(status_r);
    match report {
        Some(rep) if rep.step == Step::Done => wait_for_namespace(pid, &old_mask),
        other => {
            wait_raw(pid);
            close(alive_w);
            set_mask(&old_mask);
            let rep = other.unwrap_or(Report {
                user_ns,
                ..Report::failed(Step::ParentGone, 0)
            });
            let mut outcome = give_up(&host, rep, true);
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
fn wait_for_namespace(child: libc::pid_t, old_mask: &libc::sigset_t) -> ! {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_and_read_well() {
        let rep = Report {
            step: Step::Unshare,
            user_ns: false,
            errno: libc::EPERM,
            errno_user: libc::EPERM,
        };
        assert_eq!(Report::decode(&rep.encode()), Some(rep));
        assert_eq!(
            rep.isolation(),
            Isolation::None {
                why: "creating a network namespace is not permitted: EPERM \
                      (with a user namespace: EPERM)"
                    .to_string()
            }
        );
        assert_eq!(
            Report::done(true).isolation(),
            Isolation::Namespaces { user_ns: true }
        );
        let lo = Report::failed(Step::Loopback, libc::EACCES).isolation();
        assert!(!lo.is_isolated());
        assert!(format!("{lo:?}").contains("loopback"), "{lo:?}");
        assert_eq!(Report::decode(&[42; REPORT_LEN]), None);
    }
}
