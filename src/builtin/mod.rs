/*!
Embedded reference servers: `uppercase`, `echo` and flawed variants, over TCP and UDP.

[`CATALOG`] is the list of names the loader accepts for `[target] builtin` and that
`netdrill serve --list` prints. [`BuiltinServer`] runs one of them on tokio.

Every server is a set of tokio tasks owned by the [`BuiltinServer`]: dropping it (or
[`BuiltinServer::shutdown`]) aborts them all and closes every socket. Each read buffer
is bounded (see [`tcp::LINE_CAP`]) and at most [`tcp::MAX_CLIENTS`] TCP clients are
served at once.
*/

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpSocket, UdpSocket};
use tokio::task::JoinHandle;

use crate::scenario::Protocol;

pub mod tcp;
pub mod udp;

use tcp::TcpKind;
use udp::UdpKind;

/// One entry of the catalog of built-in servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinInfo {
    /// The name used in `[target] builtin = "…"` and `netdrill serve NAME`.
    pub name: &'static str,
    /// The transport it serves.
    pub protocol: Protocol,
    /// One line: what it does (and, for a flawed variant, which bug it has).
    pub about: &'static str,
}

/// Every built-in server. A name may appear once per protocol.
pub const CATALOG: &[BuiltinInfo] = &[
    BuiltinInfo {
        name: "uppercase",
        protocol: Protocol::Tcp,
        about: "answers every line in uppercase; one task per client; closes after the client's EOF",
    },
    BuiltinInfo {
        name: "echo",
        protocol: Protocol::Tcp,
        about: "sends back every byte it reads; one task per client; closes after the client's EOF",
    },
    BuiltinInfo {
        name: "uppercase-iterative",
        protocol: Protocol::Tcp,
        about: "flawed: serves one client at a time (an iterative server)",
    },
    BuiltinInfo {
        name: "uppercase-one-recv",
        protocol: Protocol::Tcp,
        about: "flawed: answers what its first read got, then closes",
    },
    BuiltinInfo {
        name: "uppercase-no-close",
        protocol: Protocol::Tcp,
        about: "flawed: never closes the connection, even after the client's EOF",
    },
    BuiltinInfo {
        name: "uppercase",
        protocol: Protocol::Udp,
        about: "answers every datagram with its uppercase, to the sender",
    },
    BuiltinInfo {
        name: "echo",
        protocol: Protocol::Udp,
        about: "sends every datagram back to its sender",
    },
    BuiltinInfo {
        name: "uppercase-udp-fixed-reply",
        protocol: Protocol::Udp,
        about: "flawed: replies to a fixed port instead of the sender's address",
    },
    BuiltinInfo {
        name: "uppercase-udp-joins",
        protocol: Protocol::Udp,
        about: "flawed: treats datagrams as a stream and answers two datagrams glued into one",
    },
];

/// The catalog entry for `name` over `protocol`.
pub fn find(name: &str, protocol: Protocol) -> Option<&'static BuiltinInfo> {
    CATALOG
        .iter()
        .find(|b| b.name == name && b.protocol == protocol)
}

/// The lowercase name of a protocol, as the CLI and messages print it.
pub fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// A built-in server running in the current tokio runtime.
#[derive(Debug)]
pub struct BuiltinServer {
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl BuiltinServer {
    /// Binds `addr` (port 0: an ephemeral port) and serves `name` over `protocol` in the
    /// current tokio runtime. An unknown name is an [`io::ErrorKind::InvalidInput`] error.
    pub async fn start(name: &str, protocol: Protocol, addr: SocketAddr) -> io::Result<Self> {
        if find(name, protocol).is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "no built-in {} server named `{name}` (see `netdrill serve --list`)",
                    protocol_name(protocol)
                ),
            ));
        }
        let (local, task) = match protocol {
            Protocol::Tcp => {
                let (kind, iterative) = match name {
                    "uppercase" => (TcpKind::Uppercase, false),
                    "echo" => (TcpKind::Echo, false),
                    "uppercase-iterative" => (TcpKind::Uppercase, true),
                    "uppercase-one-recv" => (TcpKind::OneRecv, false),
                    "uppercase-no-close" => (TcpKind::NoClose, false),
                    _ => return Err(unimplemented_entry(name)),
                };
                let socket = if addr.is_ipv4() {
                    TcpSocket::new_v4()?
                } else {
                    TcpSocket::new_v6()?
                };
                // Like most servers: a restart may reuse a port left in TIME_WAIT.
                socket.set_reuseaddr(true)?;
                socket.bind(addr)?;
                let listener = socket.listen(1024)?;
                let local = listener.local_addr()?;
                (local, tokio::spawn(tcp::serve(listener, kind, iterative)))
            }
            Protocol::Udp => {
                let kind = match name {
                    "uppercase" => UdpKind::Uppercase,
                    "echo" => UdpKind::Echo,
                    "uppercase-udp-fixed-reply" => UdpKind::FixedReply,
                    "uppercase-udp-joins" => UdpKind::Joins,
                    _ => return Err(unimplemented_entry(name)),
                };
                let socket = UdpSocket::bind(addr).await?;
                let local = socket.local_addr()?;
                (local, tokio::spawn(udp::serve(socket, kind)))
            }
        };
        Ok(BuiltinServer {
            addr: local,
            task: Some(task),
        })
    }

    /// The address it listens on (with the real port when it was started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops it: every task ends and every socket is closed when this returns (bounded).
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
    }
}

impl Drop for BuiltinServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn unimplemented_entry(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("built-in `{name}` is in the catalog but has no implementation"),
    )
}

#[cfg(test)]
mod tests;
