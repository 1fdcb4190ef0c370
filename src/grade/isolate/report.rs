/*!
What each step of entering the namespaces reports to the process waiting for it: a
fixed-size [`Report`] written with one `write` through a pipe (async-signal-safe), and
what it means as an [`Isolation`].
*/

use nix::errno::Errno;
use nix::libc;

use super::Isolation;
use super::sys::last_errno;

/// A step of the sequence, as reported through a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Step {
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
pub(super) struct Report {
    pub(super) step: Step,
    pub(super) user_ns: bool,
    /// errno of the step (for `Unshare`: of the try without a user namespace).
    pub(super) errno: i32,
    /// For `Unshare`: errno of the try with a user namespace (0: not tried).
    pub(super) errno_user: i32,
}

pub(super) const REPORT_LEN: usize = 10;

impl Report {
    pub(super) fn failed(step: Step, errno: i32) -> Report {
        Report {
            step,
            user_ns: false,
            errno,
            errno_user: 0,
        }
    }

    pub(super) fn done(user_ns: bool) -> Report {
        Report {
            step: Step::Done,
            user_ns,
            errno: 0,
            errno_user: 0,
        }
    }

    pub(super) fn encode(self) -> [u8; REPORT_LEN] {
        let mut b = [0u8; REPORT_LEN];
        b[0] = self.step as u8;
        b[1] = u8::from(self.user_ns);
        b[2..6].copy_from_slice(&self.errno.to_ne_bytes());
        b[6..10].copy_from_slice(&self.errno_user.to_ne_bytes());
        b
    }

    pub(super) fn decode(b: &[u8; REPORT_LEN]) -> Option<Report> {
        Some(Report {
            step: Step::from_u8(b[0])?,
            user_ns: b[1] != 0,
            errno: i32::from_ne_bytes([b[2], b[3], b[4], b[5]]),
            errno_user: i32::from_ne_bytes([b[6], b[7], b[8], b[9]]),
        })
    }

    /// What it means, for [`Isolation::None`].
    pub(super) fn isolation(self) -> Isolation {
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

/// Writes a report into `fd` (one write of [`REPORT_LEN`] bytes). Async-signal-safe.
pub(super) fn send_report(fd: libc::c_int, report: Report) {
    let bytes = report.encode();
    // SAFETY: a write from a stack buffer.
    unsafe {
        libc::write(fd, bytes.as_ptr().cast(), bytes.len());
    }
}

/// Reads one report from `fd`, waiting at most `wait_ms` (-1: no bound).
pub(super) fn read_report(fd: libc::c_int, wait_ms: libc::c_int) -> Option<Report> {
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
