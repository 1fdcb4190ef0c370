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

use tcp::{TcpKind, Workers};
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
        name: "uppercase-small-buffer",
        protocol: Protocol::Tcp,
        about: "flawed: takes one read of at most 1024 bytes as a whole line (a longer line is cut)",
    },
    BuiltinInfo {
        name: "uppercase-two-reads",
        protocol: Protocol::Tcp,
        about: "flawed: reads a line with at most two reads, so a line in three pieces is cut",
    },
    BuiltinInfo {
        name: "uppercase-pool",
        protocol: Protocol::Tcp,
        about: "flawed: a pool of four workers, so a fifth client waits until one leaves",
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
    BuiltinInfo {
        name: "uppercase-udp-512",
        protocol: Protocol::Udp,
        about: "flawed: receives into a 512-byte buffer, so a longer datagram is cut to 512 bytes",
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
                let (kind, workers) = match name {
                    "uppercase" => (TcpKind::Uppercase, Workers::Unlimited),
                    "echo" => (TcpKind::Echo, Workers::Unlimited),
                    "uppercase-iterative" => (TcpKind::Uppercase, Workers::Pool(1)),
                    "uppercase-one-recv" => (TcpKind::OneRecv, Workers::Unlimited),
                    "uppercase-no-close" => (TcpKind::NoClose, Workers::Unlimited),
                    "uppercase-small-buffer" => (TcpKind::SmallBuffer, Workers::Unlimited),
                    "uppercase-two-reads" => (TcpKind::TwoReads, Workers::Unlimited),
                    "uppercase-pool" => (TcpKind::Uppercase, Workers::Pool(4)),
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
                (local, tokio::spawn(tcp::serve(listener, kind, workers)))
            }
            Protocol::Udp => {
                let kind = match name {
                    "uppercase" => UdpKind::Uppercase,
                    "echo" => UdpKind::Echo,
                    "uppercase-udp-fixed-reply" => UdpKind::FixedReply,
                    "uppercase-udp-joins" => UdpKind::Joins,
                    "uppercase-udp-512" => UdpKind::Small,
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
