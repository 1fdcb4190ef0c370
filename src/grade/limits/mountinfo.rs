/*!
Reading `/proc/self/mountinfo`: where the cgroup filesystems are mounted.
*/

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// One mount of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Mount {
    pub(super) point: PathBuf,
    pub(super) fstype: String,
    pub(super) options: String,
}

/// The mounts in a `/proc/self/mountinfo` text: mount point (octal escapes decoded),
/// filesystem type and super options.
pub(super) fn parse_mountinfo(text: &str) -> Vec<Mount> {
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
