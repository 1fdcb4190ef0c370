/*!
The steps of entering: `unshare` (with a user namespace and its id maps when needed),
then, inside, private mounts, a fresh `/proc` and the loopback interface up. All
async-signal-safe: the probe runs them in forked children of a multi-threaded process.
*/

use nix::libc;

use super::report::{Report, Step};
use super::sys::{last_errno, write_file};
use crate::grade::limits::format_decimal;

const NS_FLAGS: libc::c_int = libc::CLONE_NEWNET | libc::CLONE_NEWPID | libc::CLONE_NEWNS;

/// `unshare` of the network, PID and mount namespaces, with a user namespace when that
/// is refused without. Ok(true) when a user namespace was needed. Async-signal-safe.
pub(super) fn unshare_namespaces(uid: u32, gid: u32) -> Result<bool, Report> {
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
pub(super) fn setup_inside(user_ns: bool) -> Report {
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
