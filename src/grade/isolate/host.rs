/*!
The host's namespaces, held open while entering new ones, to go back to them when
entering fails half-way.
*/

use nix::errno::Errno;
use nix::libc;

use super::sys::close;

/// File descriptors of the host's namespaces, to go back if entering fails half-way.
pub(super) struct HostNamespaces {
    fds: Vec<(libc::c_int, libc::c_int)>,
}

impl HostNamespaces {
    pub(super) fn open() -> HostNamespaces {
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
    pub(super) fn go_back(&self) -> Result<(), String> {
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
