/*!
Sockets as `/proc` shows them: the pure parsers of `/proc/net/{tcp,udp}[6]`
([`listening_on`], [`bound_on`]), the sockets a process group holds, and how long
its processes ran and waited for a CPU ([`cpu_of_group`]).
*/

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::scenario::Protocol;

/// The local addresses of sockets in LISTEN state (`0A`) on `port`, from the text of
/// `/proc/net/tcp` or `/proc/net/tcp6`.
pub fn listening_on(proc_text: &str, port: u16) -> Vec<IpAddr> {
    proc_sockets(proc_text)
        .filter(|(_, p, state)| *p == port && *state == 0x0A)
        .map(|(ip, _, _)| ip)
        .collect()
}

/// How many TCP sockets on local port `port` are in TIME_WAIT, from the text of
/// `/proc/net/tcp` or `/proc/net/tcp6`.
pub fn time_wait_on(proc_text: &str, port: u16) -> usize {
    proc_sockets(proc_text)
        .filter(|(_, p, state)| *p == port && *state == 0x06)
        .count()
}

/// The local addresses of sockets bound on `port` (any state), from the text of
/// `/proc/net/udp` or `/proc/net/udp6`.
pub fn bound_on(proc_text: &str, port: u16) -> Vec<IpAddr> {
    proc_sockets(proc_text)
        .filter(|(_, p, _)| *p == port)
        .map(|(ip, _, _)| ip)
        .collect()
}

/// The local addresses of the listening (TCP) or bound (UDP) sockets held by any member
/// of process group `pgid`, read from `/proc` (empty where `/proc` cannot tell).
pub fn sockets_of_group(pgid: i32, protocol: Protocol) -> Vec<SocketAddr> {
    let mut inodes = std::collections::BTreeSet::new();
    for (pid, _) in members(pgid) {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path())
                && let Some(inode) = link
                    .to_str()
                    .and_then(|l| l.strip_prefix("socket:["))
                    .and_then(|l| l.strip_suffix(']'))
                    .and_then(|l| l.parse::<u64>().ok())
            {
                inodes.insert(inode);
            }
        }
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let files: [&str; 2] = match protocol {
        Protocol::Tcp => ["/proc/net/tcp", "/proc/net/tcp6"],
        Protocol::Udp => ["/proc/net/udp", "/proc/net/udp6"],
    };
    let mut found = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for (addr, inode, state) in proc_socket_inodes(&text) {
            let wanted = match protocol {
                Protocol::Tcp => state == 0x0A,
                Protocol::Udp => true,
            };
            if wanted && inodes.contains(&inode) && !found.contains(&addr) {
                found.push(addr);
            }
        }
    }
    found
}

/// (local address, inode, state) of every row of a `/proc/net/{tcp,udp}[6]` text.
pub(super) fn proc_socket_inodes(text: &str) -> impl Iterator<Item = (SocketAddr, u64, u8)> + '_ {
    text.lines().skip(1).filter_map(|row| {
        let cols: Vec<&str> = row.split_whitespace().collect();
        let (ip_hex, port_hex) = cols.get(1)?.split_once(':')?;
        let state = u8::from_str_radix(cols.get(3)?, 16).ok()?;
        let inode = cols.get(9)?.parse::<u64>().ok()?;
        let port = u16::from_str_radix(port_hex, 16).ok()?;
        Some((SocketAddr::new(parse_proc_ip(ip_hex)?, port), inode, state))
    })
}

/// (local address, local port, state) of every row of a `/proc/net/{tcp,udp}[6]` text.
fn proc_sockets(text: &str) -> impl Iterator<Item = (IpAddr, u16, u8)> + '_ {
    text.lines().skip(1).filter_map(|row| {
        let mut cols = row.split_whitespace();
        let _slot = cols.next()?;
        let local = cols.next()?;
        let _remote = cols.next()?;
        let state = u8::from_str_radix(cols.next()?, 16).ok()?;
        let (ip_hex, port_hex) = local.split_once(':')?;
        let port = u16::from_str_radix(port_hex, 16).ok()?;
        Some((parse_proc_ip(ip_hex)?, port, state))
    })
}

/// An address as the kernel prints it in `/proc/net`: 32-bit words in host byte order.
fn parse_proc_ip(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// The processes of group `pgid`, with their state letter (`R`, `S`, `T` for stopped,
/// …), read from `/proc` (empty where it cannot be read).
fn members(pgid: i32) -> Vec<(u32, char)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name (which may hold spaces): state ppid pgrp ...
        let Some(after) = stat.rsplit_once(')').map(|(_, a)| a) else {
            continue;
        };
        let mut fields = after.split_whitespace();
        let state = fields.next().and_then(|f| f.chars().next());
        let pgrp = fields.nth(1).and_then(|f| f.parse::<i32>().ok());
        if let (Some(state), Some(group)) = (state, pgrp)
            && group == pgid
        {
            out.push((pid, state));
        }
    }
    out
}

/// True when a process of group `pgid` is stopped (SIGSTOP, SIGTSTP, a debugger).
pub fn stopped_in_group(pgid: i32) -> bool {
    members(pgid)
        .iter()
        .any(|(_, state)| matches!(state, 'T' | 't'))
}

/// How long the processes of group `pgid` now alive have run on a CPU and waited for one
/// (runnable but not running): the first two fields of each one's `/proc/<pid>/schedstat`
/// (main thread). A forked process starts both at zero, so for a group started by netdrill
/// these are its times since the spawn. Zero where `/proc` cannot tell.
pub fn cpu_of_group(pgid: i32) -> CpuTimes {
    members(pgid)
        .iter()
        .filter_map(|(pid, _)| std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok())
        .filter_map(|text| cpu_times(&text))
        .fold(CpuTimes::default(), |a, b| CpuTimes {
            ran: a.ran + b.ran,
            waited: a.waited + b.waited,
        })
}

/// Time on a CPU and time waiting for one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// Running.
    pub ran: Duration,
    /// Runnable, waiting for a CPU.
    pub waited: Duration,
}

/// The times of a `schedstat` text: "<ns on CPU> <ns waiting> <slices>".
fn cpu_times(schedstat: &str) -> Option<CpuTimes> {
    let mut fields = schedstat.split_whitespace();
    let mut next = || fields.next()?.parse::<u64>().ok().map(Duration::from_nanos);
    Some(CpuTimes {
        ran: next()?,
        waited: next()?,
    })
}

#[cfg(test)]
mod cpu_wait_tests {
    use super::*;

    #[test]
    fn running_then_waiting_are_the_first_two_fields() {
        assert_eq!(
            cpu_times("1000000 250000000 2\n"),
            Some(CpuTimes {
                ran: Duration::from_millis(1),
                waited: Duration::from_millis(250)
            })
        );
        assert_eq!(cpu_times("1243379\n"), None);
        assert_eq!(cpu_times(""), None);
    }

    #[test]
    fn a_group_that_does_not_exist_has_waited_for_nothing() {
        assert_eq!(cpu_of_group(i32::MAX), CpuTimes::default());
    }
}
