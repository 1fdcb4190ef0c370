/*!
Embedded reference servers: `uppercase`, `echo` and flawed variants, over TCP and UDP.

[`CATALOG`] is the list of names the loader accepts for `[target] builtin` and that
`netdrill serve --list` prints.
*/

use crate::scenario::Protocol;

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
