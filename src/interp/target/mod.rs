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
use std::net::{Ipv4Addr, SocketAddr, TcpListener, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::time::Duration;

use crate::builtin::{BuiltinServer, protocol_name};
use crate::interp::process::{ChildGroup, ProcessError};
use crate::scenario::Protocol;

mod procnet;
pub use procnet::stopped_in_group;
mod ready;

pub use procnet::{bound_on, listening_on, sockets_of_group};
pub use ready::{reachable_ip, wait_ready};

use ready::port_in_use;

/// How long teardown waits after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_millis(500);

/// How long, after an early exit, netdrill waits for the rest of its stderr.
const STDERR_DRAIN: Duration = Duration::from_millis(200);

/// Why the target could not be started or reached.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The command could not be spawned.
    #[error(transparent)]
    Spawn(#[from] ProcessError),
    /// It exited before it was ready.
    #[error("the target {status} before it was ready{}{hint}", stderr_section(.stderr_tail))]
    ExitedEarly {
        /// How it ended (`exited with status 1`).
        status: String,
        /// What netdrill can tell of the cause (empty when nothing), on lines of its own.
        hint: String,
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
    let port = port.to_string();
    substitute(command, &[("port", &port), ("target.port", &port)])
}

/// Replaces each `{{name}}` of `values` (spaces inside the braces allowed, and filters:
/// `{{port | hex}}`) in a command; everything else, other placeholders included, is kept
/// as written, and so is a placeholder whose filters cannot take its value.
pub fn substitute(command: &str, values: &[(&str, &str)]) -> String {
    use crate::scenario::template::{apply_filters, placeholder, placeholder_name};
    let mut out = String::with_capacity(command.len());
    let mut done = 0;
    for b in crate::scenario::template::scan_braces(command).map_while(Result::ok) {
        let name = placeholder_name(&command[b.inner.clone()]);
        let Some((_, value)) = values.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        let filtered = match placeholder(command, &b) {
            Ok((_, filters)) if filters.is_empty() => Ok(value.to_string()),
            Ok((_, filters)) => apply_filters(name, value, &filters),
            Err(e) => Err(e.message),
        };
        if let Ok(text) = filtered {
            out.push_str(&command[done..b.open]);
            out.push_str(&text);
            done = b.end;
        }
    }
    out.push_str(&command[done..]);
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

#[cfg(test)]
mod tests;
