/*!
The program under test: start it, wait until it is ready, and tear it down.

A [`RunningTarget`] is one of three things: a built-in server ([`crate::builtin`]) run
in-process, a command spawned in its own process group ([`ChildGroup`]), or an address
where something already runs (no lifecycle).

# Readiness
Never a fixed sleep: [`RunningTarget::start_command`] polls with a short backoff (2 ms,
doubling up to 50 ms) until the port is ready or the wait is over. Every poll first
checks whether the program has exited (then [`TargetError::ExitedEarly`], with the end of
its stderr). Ready means:
- TCP: a socket in LISTEN state on the port, read from `/proc/net/tcp` and
  `/proc/net/tcp6`. This makes no connection, so a server that handles one client and
  exits is not used up by the probe. Without `/proc/net`, a connect probe.
- UDP: a socket bound on the port (`/proc/net/udp`, `/proc/net/udp6`). Without
  `/proc/net`, netdrill tries to bind the port itself: "address in use" means bound.

The pure parsers ([`listening_on`], [`bound_on`]) read the `/proc` text; the loop is
[`wait_ready`].

Before spawning, a port that is already in use is an error ([`TargetError::PortInUse`]):
otherwise the old program on it would look ready and be tested instead.
*/

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::builtin::{BuiltinServer, protocol_name};
use crate::interp::process::{ChildGroup, ProcessError};
use crate::scenario::Protocol;

/// How long teardown waits after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_millis(500);
/// How long a starting program may take before netdrill looks whether it listens on
/// another port than its own (then it fails at once instead of waiting out the timeout).
const ELSEWHERE_AFTER: Duration = Duration::from_millis(1000);
/// How often netdrill looks again after that.
const ELSEWHERE_EVERY: Duration = Duration::from_millis(250);
/// How long, after an early exit, netdrill waits for the rest of its stderr.
const STDERR_DRAIN: Duration = Duration::from_millis(200);

/// Why the target could not be started or reached.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The command could not be spawned.
    #[error(transparent)]
    Spawn(#[from] ProcessError),
    /// It exited before it was ready.
    #[error("the target {status} before it was ready{}", stderr_section(.stderr_tail))]
    ExitedEarly {
        /// How it ended (`exited with status 1`).
        status: String,
        /// The end of its stderr.
        stderr_tail: String,
    },
    /// It never listened (or bound) within the wait.
    #[error(
        "{}{}",
        never_ready_headline(.addr, *.waited, .what, .elsewhere, *.protocol),
        stderr_section(.stderr_tail)
    )]
    NeverReady {
        /// The addresses the program did listen (or was bound) on instead.
        elsewhere: Vec<SocketAddr>,
        /// Its protocol.
        protocol: Protocol,
        /// How long netdrill waited.
        waited: Duration,
        /// Where it should have been.
        addr: SocketAddr,
        /// `listened` or `was bound`.
        what: &'static str,
        /// The end of its stderr.
        stderr_tail: String,
    },
    /// The port the target should use is already taken by another program.
    #[error(
        "port {port} ({}) is already in use by another program; stop it or choose another port",
        protocol_name(*protocol)
    )]
    PortInUse {
        /// The port.
        port: u16,
        /// Its protocol.
        protocol: Protocol,
    },
    /// The built-in server could not start.
    #[error("cannot start the built-in server: {0}")]
    Builtin(io::Error),
    /// `address` is not `host:port`, or does not resolve.
    #[error("bad target address `{0}`: expected host:port, such as 127.0.0.1:12000")]
    BadAddress(String),
    /// No free port could be found.
    #[error("cannot find a free port: {0}")]
    NoFreePort(io::Error),
}

fn never_ready_headline(
    addr: &SocketAddr,
    waited: Duration,
    what: &str,
    elsewhere: &[SocketAddr],
    protocol: Protocol,
) -> String {
    if elsewhere.is_empty() {
        return format!(
            "the target was not ready on {addr} within {} (nothing {what} there)",
            humantime::format_duration(waited)
        );
    }
    let list: Vec<String> = elsewhere.iter().map(|a| a.to_string()).collect();
    let verb = match protocol {
        Protocol::Tcp => "listens",
        Protocol::Udp => "is bound",
    };
    format!(
        "the target {verb} on {}, not on its port {addr}: it must use the port it is given rather than a fixed one",
        list.join(", ")
    )
}

fn stderr_section(tail: &str) -> String {
    if tail.trim().is_empty() {
        "; it wrote nothing on stderr".to_string()
    } else {
        let indented: Vec<String> = tail.lines().map(|l| format!("  | {l}")).collect();
        format!("\nthe end of its stderr:\n{}", indented.join("\n"))
    }
}

enum Inner {
    Builtin(Option<BuiltinServer>),
    Child(Box<ChildGroup>),
    Address,
}

/// The program under test, running.
pub struct RunningTarget {
    /// Where actors reach it.
    pub addr: SocketAddr,
    /// What it serves.
    pub protocol: Protocol,
    inner: Inner,
    stopped: Option<String>,
}

impl std::fmt::Debug for RunningTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.inner {
            Inner::Builtin(_) => "builtin",
            Inner::Child(_) => "command",
            Inner::Address => "address",
        };
        f.debug_struct("RunningTarget")
            .field("addr", &self.addr)
            .field("protocol", &self.protocol)
            .field("kind", &kind)
            .finish()
    }
}

impl RunningTarget {
    /// Starts the built-in server `name` on 127.0.0.1 (`port`, or an ephemeral one).
    pub async fn start_builtin(
        name: &str,
        protocol: Protocol,
        port: Option<u16>,
    ) -> Result<RunningTarget, TargetError> {
        let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, port.unwrap_or(0)));
        let server = BuiltinServer::start(name, protocol, bind)
            .await
            .map_err(|e| match (e.kind(), port) {
                (io::ErrorKind::AddrInUse, Some(port)) => TargetError::PortInUse { port, protocol },
                _ => TargetError::Builtin(e),
            })?;
        Ok(RunningTarget {
            addr: server.local_addr(),
            protocol,
            inner: Inner::Builtin(Some(server)),
            stopped: None,
        })
    }

    /// Spawns `command` in `cwd` (its own process group), with `{{port}}` and
    /// `{{target.port}}` replaced by `port` (or a free port), and waits until it is
    /// ready (see the module doc) for at most `ready_timeout`.
    pub async fn start_command(
        command: &str,
        cwd: &Path,
        protocol: Protocol,
        port: Option<u16>,
        ready_timeout: Duration,
    ) -> Result<RunningTarget, TargetError> {
        let port = match port {
            Some(p) => p,
            None => free_port(protocol).map_err(TargetError::NoFreePort)?,
        };
        if port_in_use(protocol, port) {
            return Err(TargetError::PortInUse { port, protocol });
        }
        let line = substitute_port(command, port);
        let env = [("NETDRILL_PORT".to_string(), port.to_string())];
        let mut child = ChildGroup::spawn(&line, cwd, &env)?;
        match wait_ready(&mut child, protocol, port, ready_timeout).await {
            Ok(addr) => Ok(RunningTarget {
                addr,
                protocol,
                inner: Inner::Child(Box::new(child)),
                stopped: None,
            }),
            Err(mut e) => {
                child.terminate(STOP_GRACE).await;
                // Once it is gone its stderr is complete: report all of its end.
                if let TargetError::NeverReady { stderr_tail, .. } = &mut e {
                    child.drain_stderr(STDERR_DRAIN).await;
                    *stderr_tail = child.stderr_tail();
                }
                Err(e)
            }
        }
    }

    /// A target already running at `addr` (`host:port`; `localhost` is fine). netdrill
    /// neither starts nor stops it.
    pub fn at_address(addr: &str) -> Result<RunningTarget, TargetError> {
        let bad = || TargetError::BadAddress(addr.to_string());
        let all: Vec<SocketAddr> = addr.to_socket_addrs().map_err(|_| bad())?.collect();
        let chosen = all
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| all.first())
            .copied()
            .ok_or_else(bad)?;
        Ok(RunningTarget {
            addr: chosen,
            protocol: Protocol::Tcp,
            inner: Inner::Address,
            stopped: None,
        })
    }

    /// The end of its stderr, for a spawned command.
    pub fn stderr_tail(&self) -> Option<String> {
        match &self.inner {
            Inner::Child(c) => Some(c.stderr_tail()),
            _ => None,
        }
    }

    /// How the spawned command ended (`exited with status 1`), if it is gone.
    pub fn has_exited(&mut self) -> Option<String> {
        match &mut self.inner {
            Inner::Child(c) => c.try_exit().map(|e| e.to_string()),
            _ => None,
        }
    }

    /// What the spawned command printed, as kept by its spawn policy (see
    /// [`ChildGroup::kept_output`]).
    pub fn kept_output(&self) -> Option<(String, u64)> {
        match &self.inner {
            Inner::Child(c) => Some(c.kept_output()),
            _ => None,
        }
    }

    /// The spawned command, for `target.stdout_line` and such.
    pub fn child_mut(&mut self) -> Option<&mut ChildGroup> {
        match &mut self.inner {
            Inner::Child(c) => Some(c),
            _ => None,
        }
    }

    /// Teardown: a command gets SIGTERM, [`STOP_GRACE`], SIGKILL (whole group) and is
    /// reaped; a built-in is stopped. Idempotent; says how it ended.
    pub async fn stop(&mut self) -> String {
        if let Some(done) = &self.stopped {
            return done.clone();
        }
        let how = match &mut self.inner {
            Inner::Builtin(server) => {
                if let Some(s) = server.take() {
                    s.shutdown().await;
                }
                "stopped".to_string()
            }
            Inner::Child(c) => c.terminate(STOP_GRACE).await.to_string(),
            Inner::Address => "left running (not started by netdrill)".to_string(),
        };
        self.stopped = Some(how.clone());
        how
    }
}

/// Replaces `{{port}}` and `{{target.port}}` (spaces inside the braces allowed) in a
/// command; everything else, other placeholders included, is kept as written.
pub fn substitute_port(command: &str, port: u16) -> String {
    let mut out = String::with_capacity(command.len());
    let mut rest = command;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        out.push_str(&rest[..open]);
        match after[..close].trim() {
            "port" | "target.port" => out.push_str(&port.to_string()),
            _ => out.push_str(&rest[open..open + 2 + close + 2]),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

/// A port free right now on 127.0.0.1 for `protocol` (bound to port 0, then released).
pub fn free_port(protocol: Protocol) -> io::Result<u16> {
    let local = (Ipv4Addr::LOCALHOST, 0);
    Ok(match protocol {
        Protocol::Tcp => TcpListener::bind(local)?.local_addr()?.port(),
        Protocol::Udp => UdpSocket::bind(local)?.local_addr()?.port(),
    })
}

/// Polls (backoff 2 ms doubling to 50 ms) until `port` is ready, the child exits, or
/// `timeout` passes. Returns the address actors should use.
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
            return Err(TargetError::ExitedEarly {
                status: exit.to_string(),
                stderr_tail: child.stderr_tail(),
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
        if elapsed >= timeout || !elsewhere.is_empty() {
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
        tokio::time::sleep(pause.min(timeout - elapsed)).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
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
fn port_in_use(protocol: Protocol, port: u16) -> bool {
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

/// The local addresses of sockets in LISTEN state (`0A`) on `port`, from the text of
/// `/proc/net/tcp` or `/proc/net/tcp6`.
pub fn listening_on(proc_text: &str, port: u16) -> Vec<IpAddr> {
    proc_sockets(proc_text)
        .filter(|(_, p, state)| *p == port && *state == 0x0A)
        .map(|(ip, _, _)| ip)
        .collect()
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
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
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
        let pgrp = after
            .split_whitespace()
            .nth(2)
            .and_then(|f| f.parse::<i32>().ok());
        if pgrp != Some(pgid) {
            continue;
        }
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
fn proc_socket_inodes(text: &str) -> impl Iterator<Item = (SocketAddr, u64, u8)> + '_ {
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

#[cfg(test)]
mod tests {
    use super::*;

    // Sample text as a little-endian Linux prints it.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0100007F:1F91 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:2328 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0 100 0 0 10 0
   1: 00000000000000000000000000000000:2329 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0 100 0 0 10 0
";
    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 0100007F:3039 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 6 2 0 0
";

    #[test]
    #[cfg(target_endian = "little")]
    fn tcp_listeners_are_found_by_port_and_state() {
        assert_eq!(listening_on(TCP, 8080), [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        assert_eq!(listening_on(TCP, 22), [IpAddr::V4(Ipv4Addr::UNSPECIFIED)]);
        // 8081 is an established connection, not a listener.
        assert!(listening_on(TCP, 8081).is_empty());
        assert_eq!(listening_on(TCP6, 9000), [IpAddr::V6(Ipv6Addr::LOCALHOST)]);
        assert_eq!(
            listening_on(TCP6, 9001),
            [IpAddr::V6(Ipv6Addr::UNSPECIFIED)]
        );
        assert!(listening_on("garbage\nmore garbage", 1).is_empty());
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn socket_inodes_are_read_with_their_address_and_state() {
        let rows: Vec<(SocketAddr, u64, u8)> = proc_socket_inodes(TCP).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], ("127.0.0.1:8080".parse().unwrap(), 1, 0x0A));
        assert_eq!(rows[2], ("127.0.0.1:8081".parse().unwrap(), 3, 0x01));
        assert_eq!(proc_socket_inodes("header\nnot a row").count(), 0);
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn udp_sockets_are_found_by_port() {
        assert_eq!(bound_on(UDP, 12345), [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        assert!(bound_on(UDP, 12346).is_empty());
    }

    #[test]
    fn loopback_v4_is_preferred() {
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(reachable_ip(&[v6]), Some(v6));
        assert_eq!(reachable_ip(&[any6]), Some(lo));
        assert_eq!(reachable_ip(&[v6, lo]), Some(lo));
        assert_eq!(reachable_ip(&[other]), None);
        assert_eq!(reachable_ip(&[]), None);
    }

    #[test]
    fn live_proc_text_sees_our_own_listener() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        if let Ok(text) = std::fs::read_to_string("/proc/net/tcp") {
            assert_eq!(listening_on(&text, port), [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        }
        let u = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = u.local_addr().unwrap().port();
        if let Ok(text) = std::fs::read_to_string("/proc/net/udp") {
            assert_eq!(bound_on(&text, port), [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        }
    }

    #[test]
    fn port_placeholders_are_replaced_and_others_kept() {
        assert_eq!(
            substitute_port("srv {{port}} {{ target.port }} {{other}}", 80),
            "srv 80 80 {{other}}"
        );
        assert_eq!(
            substitute_port("awk '{{ print }}'", 80),
            "awk '{{ print }}'"
        );
        assert_eq!(substitute_port("a {{b", 80), "a {{b");
    }

    #[test]
    fn addresses_resolve_or_are_rejected() {
        let t = RunningTarget::at_address("localhost:12000").unwrap();
        assert_eq!(t.addr.port(), 12000);
        assert!(t.addr.ip().is_loopback());
        assert!(matches!(
            RunningTarget::at_address("no-port"),
            Err(TargetError::BadAddress(_))
        ));
    }
}
