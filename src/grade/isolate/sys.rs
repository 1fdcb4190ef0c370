/*!
The system calls the namespace code shares, all async-signal-safe (they run between
`fork` and `_exit` too): one-write file writes, pipes, `close`, `waitpid`.
*/

use std::ffi::CStr;

use nix::errno::Errno;
use nix::libc;

pub(super) fn last_errno() -> i32 {
    Errno::last_raw()
}

/// Writes `parts` concatenated to `path` in ONE `write` (as `uid_map` requires).
/// Async-signal-safe.
pub(super) fn write_file(path: &CStr, parts: &[&[u8]]) -> Result<(), i32> {
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

/// A pipe with both ends close-on-exec: (read, write).
pub(super) fn pipe() -> Result<(libc::c_int, libc::c_int), i32> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(last_errno());
    }
    Ok((fds[0], fds[1]))
}

pub(super) fn close(fd: libc::c_int) {
    // SAFETY: closing a descriptor this module opened.
    unsafe {
        libc::close(fd);
    }
}

/// `waitpid(pid, 0)`, retried on EINTR: the raw status, or None.
pub(super) fn wait_raw(pid: libc::pid_t) -> Option<libc::c_int> {
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
