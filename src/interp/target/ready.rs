/*!
Readiness: whether the program listens (TCP) or is bound (UDP) on its port, polled
until it is or the wait is over; whether a port is taken before spawning.
*/

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::procnet::{CpuTimes, bound_on, cpu_of_group, listening_on, sockets_of_group};
use super::{STDERR_DRAIN, TargetError};
use crate::interp::process::ChildGroup;
use crate::scenario::Protocol;

/// How long a starting program may take before netdrill looks whether it listens on
/// another port than its own (then it fails at once instead of waiting out the timeout).
const ELSEWHERE_AFTER: Duration = Duration::from_millis(1000);

/// How often netdrill looks again after that.
const ELSEWHERE_EVERY: Duration = Duration::from_millis(250);

/// The longest pause between two readiness probes. A probe reads /proc/net (tens of
/// microseconds), while every millisecond here is added to every start of a target: one
/// scenario against a Python server took 88 ms with 50 ms pauses, 78 ms with 10 ms
/// (medians of 15 runs).
const MAX_POLL: Duration = Duration::from_millis(10);

/// How much longer than its timeout a start may take, at most, on a machine so loaded that
/// the program kept waiting for a CPU.
const STARVED_MAX: u32 = 2;

/// Polls (backoff 2 ms doubling to [`MAX_POLL`]) until `port` is ready, the child exits, or
/// `timeout` passes. Time the program's processes spent runnable but waiting for a CPU
/// does not count against `timeout`, up to [`STARVED_MAX`] times it, as long as they have
/// run for less than half of `timeout`: on a loaded machine a program that needs a moment
/// of CPU to start is not failed for the machine's load (a CI run on 2 cores, four grader
/// jobs beside a submission spinning in an endless loop, once failed a correct Python
/// server so), while one that spins before it listens still fails at about `timeout`.
/// Returns the address actors should use.
pub async fn wait_ready(
    child: &mut ChildGroup,
    protocol: Protocol,
    port: u16,
    timeout: Duration,
) -> Result<SocketAddr, TargetError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    let mut last_look = Duration::ZERO;
    loop {
        if let Some(exit) = child.try_exit() {
            child.drain_stderr(STDERR_DRAIN).await;
            let stderr_tail = child.stderr_tail();
            return Err(TargetError::ExitedEarly {
                status: exit.to_string(),
                hint: address_in_use_hint(protocol, port, &stderr_tail),
                stderr_tail,
            });
        }
        if let Some(ip) = probe(protocol, port).await {
            return Ok(SocketAddr::new(ip, port));
        }
        let elapsed = start.elapsed();
        // A program that listens, but on another port than its own, will not move:
        // once it has had a moment, say so at once instead of waiting out the timeout.
        let mut elsewhere = Vec::new();
        if elapsed >= ELSEWHERE_AFTER && elapsed - last_look >= ELSEWHERE_EVERY {
            last_look = elapsed;
            elsewhere = sockets_of_group(child.pgid(), protocol);
            if elsewhere.iter().any(|a| a.port() == port) {
                // It started listening on its own port since the probe: look again.
                continue;
            }
        }
        let over = elapsed >= timeout && out_of_time(elapsed, timeout, cpu_of_group(child.pgid()));
        if over || !elsewhere.is_empty() {
            if elsewhere.is_empty() {
                elsewhere = sockets_of_group(child.pgid(), protocol);
                elsewhere.retain(|a| a.port() != port);
            }
            return Err(TargetError::NeverReady {
                elsewhere,
                protocol,
                waited: elapsed.min(timeout),
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                what: match protocol {
                    Protocol::Tcp => "listened",
                    Protocol::Udp => "was bound",
                },
                stderr_tail: child.stderr_tail(),
            });
        }
        // Up to the timeout, wake at it; past it (a starved start), keep polling.
        let left = timeout.saturating_sub(elapsed);
        tokio::time::sleep(if left.is_zero() {
            pause
        } else {
            pause.min(left)
        })
        .await;
        pause = (pause * 2).min(MAX_POLL);
    }
}

/// Whether a start that has taken `elapsed`, while its processes ran and waited for a CPU
/// as `cpu` says, is past its `timeout`: the wait is not counted, up to [`STARVED_MAX`]
/// times it, unless they have run for half of `timeout` already (busy, not starved).
fn out_of_time(elapsed: Duration, timeout: Duration, cpu: CpuTimes) -> bool {
    cpu.ran >= timeout / 2 || elapsed >= timeout + cpu.waited.min(timeout * STARVED_MAX)
}

/// One readiness probe: the loopback address to use when `port` is ready.
async fn probe(protocol: Protocol, port: u16) -> Option<IpAddr> {
    let files: [&str; 2] = match protocol {
        Protocol::Tcp => ["/proc/net/tcp", "/proc/net/tcp6"],
        Protocol::Udp => ["/proc/net/udp", "/proc/net/udp6"],
    };
    let texts: Vec<String> = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    if !texts.is_empty() {
        let found: Vec<IpAddr> = texts
            .iter()
            .flat_map(|t| match protocol {
                Protocol::Tcp => listening_on(t, port),
                Protocol::Udp => bound_on(t, port),
            })
            .collect();
        return reachable_ip(&found);
    }
    match protocol {
        Protocol::Tcp => {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let conn = tokio::time::timeout(
                Duration::from_millis(200),
                tokio::net::TcpStream::connect(addr),
            )
            .await;
            matches!(conn, Ok(Ok(_))).then_some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        }
        Protocol::Udp => udp_port_taken(port).then_some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    }
}

/// Whether something already uses `port` (checked before spawning).
pub(super) fn port_in_use(protocol: Protocol, port: u16) -> bool {
    match protocol {
        Protocol::Tcp => {
            let texts: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
                .iter()
                .filter_map(|f| std::fs::read_to_string(f).ok())
                .collect();
            if texts.is_empty() {
                std::net::TcpStream::connect_timeout(
                    &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                    Duration::from_millis(200),
                )
                .is_ok()
            } else {
                texts.iter().any(|t| !listening_on(t, port).is_empty())
            }
        }
        Protocol::Udp => udp_port_taken(port),
    }
}

fn udp_port_taken(port: u16) -> bool {
    matches!(
        UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse
    )
}

/// Of the local addresses a server is on, the one actors should connect to: 127.0.0.1
/// when it listens on IPv4 loopback or any address (IPv6 "any" is assumed dual-stack),
/// else ::1, else none (it listens only on some other interface).
pub fn reachable_ip(found: &[IpAddr]) -> Option<IpAddr> {
    let v4_ok = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_unspecified() || v6.to_ipv4_mapped().is_some_and(|m| m.is_loopback())
        }
    };
    if found.iter().any(v4_ok) {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    found
        .iter()
        .any(|ip| matches!(ip, IpAddr::V6(v6) if v6.is_loopback()))
        .then_some(IpAddr::V6(Ipv6Addr::LOCALHOST))
}

/// A server that could not bind because the port still has connections in TIME_WAIT
/// (left by an earlier run) is told so: it is not "another program", and the cure is
/// `SO_REUSEADDR`, which every server that restarts on a fixed port needs.
fn address_in_use_hint(protocol: Protocol, port: u16, stderr: &str) -> String {
    let lower = stderr.to_ascii_lowercase();
    let in_use = lower.contains("address already in use") || lower.contains("eaddrinuse");
    if protocol != Protocol::Tcp || !in_use {
        return String::new();
    }
    let waiting: usize = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .map(|t| super::procnet::time_wait_on(&t, port))
        .sum();
    if waiting == 0 {
        return String::new();
    }
    format!(
        "\nport {port} is held only by {waiting} connection{} in TIME_WAIT, left by an earlier run (not by another program): a server must set SO_REUSEADDR before bind() to restart on its port at once",
        if waiting == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod starved_tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn cpu_wait_extends_the_timeout_up_to_three_times_it() {
        let five = 5 * S;
        let waited = |w: Duration| CpuTimes {
            ran: Duration::from_millis(200),
            waited: w,
        };
        assert!(!out_of_time(4 * S, five, waited(Duration::ZERO)));
        assert!(out_of_time(five, five, waited(Duration::ZERO)));
        // Waited 2 s for a CPU: 6 s in is not over, 7 s is.
        assert!(!out_of_time(6 * S, five, waited(2 * S)));
        assert!(out_of_time(7 * S, five, waited(2 * S)));
        // Never past three times the timeout, however long it waited.
        assert!(!out_of_time(14 * S, five, waited(60 * S)));
        assert!(out_of_time(15 * S, five, waited(60 * S)));
    }

    #[test]
    fn a_program_that_ran_half_the_timeout_is_busy_not_starved() {
        let five = 5 * S;
        let spinning = CpuTimes {
            ran: 2500 * Duration::from_millis(1),
            waited: 2500 * Duration::from_millis(1),
        };
        assert!(out_of_time(five, five, spinning));
    }
}
