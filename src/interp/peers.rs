/*!
Peer resolution for a session: where `"target"`, an actor's name or `host:port` is;
who sent a datagram; binding a UDP actor (through the link when one is in place); and
routing a TCP connection to the target through the link.
*/

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

use super::session::{Actor, Session};
use super::udp::UdpActor;
use crate::scenario::Template;
use crate::transcript::Failure;

impl Session<'_, '_> {
    /// Where a connection to the target goes: straight to it, or through the link's
    /// relay for this actor's next flow when a link is in place.
    pub(crate) async fn route_to_target(
        &mut self,
        name: &str,
        addr: SocketAddr,
    ) -> Result<SocketAddr, Failure> {
        let Some(link) = &self.shared.link else {
            return Ok(addr);
        };
        let n = self.flows.entry(name.to_string()).or_insert(0);
        *n += 1;
        let flow = if *n == 1 {
            format!("{}{name}", self.flow_prefix)
        } else {
            format!("{}{name}.{n}", self.flow_prefix)
        };
        link.tcp_flow(&flow, addr)
            .await
            .map_err(|e| Failure::msg(format!("the link could not relay this connection: {e}")))
    }

    /// `"target"`, a listener actor, or `host:port`.
    pub(crate) fn resolve_stream_peer(&self, to: &str) -> Result<SocketAddr, Failure> {
        if to == "target" {
            return self.shared.target_addr.ok_or_else(no_target);
        }
        if let Some(actor) = self.actors.get(to) {
            return match actor {
                Actor::Listener(l) => l
                    .local_addr()
                    .map(loopback_if_unspecified)
                    .map_err(|e| Failure::msg(format!("`{to}` has no address: {e}"))),
                _ => Err(not_a(to, "listener")),
            };
        }
        resolve(to)
    }

    /// Where a datagram `to = …` goes: the target, an actor, or `host:port`.
    pub(crate) fn resolve_peer(&self, to: &Template) -> Result<SocketAddr, Failure> {
        let text = self.render(to)?;
        if text == "target" {
            return self.target_addr();
        }
        if let Some(actor) = self.actors.get(&text) {
            return match actor {
                Actor::Udp(u) => u
                    .local_addr()
                    .map(loopback_if_unspecified)
                    .map_err(|e| Failure::msg(format!("`{text}` has no address: {e}"))),
                Actor::Listener(l) => l
                    .local_addr()
                    .map(loopback_if_unspecified)
                    .map_err(|e| Failure::msg(format!("`{text}` has no address: {e}"))),
                _ => Err(not_a(&text, "UDP socket")),
            };
        }
        if self.shared.scenario.actors.contains_key(&text) {
            return Err(Failure::msg(format!(
                "`{text}` has no address yet: it must bind (or send) first"
            )));
        }
        resolve(&text)
    }

    /// Where the target is.
    pub(crate) fn target_addr(&self) -> Result<SocketAddr, Failure> {
        self.shared.target_addr.ok_or_else(no_target)
    }

    /// Checks `from` against a datagram's sender.
    pub(crate) fn check_from(
        &self,
        from: &Option<Template>,
        sender: SocketAddr,
    ) -> Result<(), Failure> {
        let Some(from) = from else { return Ok(()) };
        let want = self.resolve_peer(from)?;
        if same_endpoint(want, sender) {
            return Ok(());
        }
        let shown = self.describe_endpoint(sender);
        Err(Failure::diff(
            "the datagram came from someone else",
            format!("from {}", from.raw()),
            format!("from {shown}"),
        ))
    }

    /// Names an endpoint without its port when it is an actor or the target.
    pub(crate) fn describe_endpoint(&self, addr: SocketAddr) -> String {
        if self
            .shared
            .target_addr
            .is_some_and(|t| same_endpoint(t, addr))
        {
            return "target".into();
        }
        for (actor, a) in &self.actors {
            if let Actor::Udp(u) = a
                && u.local_addr().is_ok_and(|l| same_endpoint(l, addr))
            {
                return actor.clone();
            }
        }
        "an unknown address (neither the target nor an actor)".into()
    }

    pub(crate) fn local_addr(&self, text: &str) -> Result<SocketAddr, Failure> {
        let text = if text == "true" { "127.0.0.1:0" } else { text };
        text.parse()
            .map_err(|_| Failure::msg(format!("`{text}` is not an IP:port address")))
    }

    /// Binds the UDP actor `name` at `addr`, through the link when one is in place.
    pub(crate) async fn bind_udp(&mut self, name: &str, addr: SocketAddr) -> Result<(), Failure> {
        let mut sock = UdpActor::bind(addr)
            .await
            .map_err(|e| Failure::msg(format!("could not bind {addr}: {e}")))?;
        let port = sock.local_addr().map(|a| a.port()).unwrap_or(0);
        self.note_port(name, port);
        if let (Some(link), Ok(local)) = (&self.shared.link, sock.local_addr()) {
            link.note_scripted(local);
        }
        if let (Some(link), Some(target)) = (&self.shared.link, self.shared.target_addr)
            && let Some(dl) = link.datagram(&format!("{}{name}", self.flow_prefix), target)
        {
            sock.attach_link(dl);
        }
        self.actors.insert(name.into(), Actor::Udp(sock));
        Ok(())
    }

    /// Binds a UDP actor on first send (to the loopback of `dest`'s family).
    pub(crate) async fn ensure_udp(&mut self, name: &str, dest: SocketAddr) -> Result<(), Failure> {
        if self.actors.contains_key(name) {
            return Ok(());
        }
        let local = if dest.is_ipv6() {
            SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), 0)
        } else {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)
        };
        self.bind_udp(name, local).await
    }
}

pub(crate) fn not_a(name: &str, what: &str) -> Failure {
    Failure::msg(format!("`{name}` is not a {what}"))
}

pub(crate) fn no_target() -> Failure {
    Failure::msg(
        "this scenario has no target: set [target] in the file, or pass --target-cmd or --target-addr",
    )
}

fn resolve(text: &str) -> Result<SocketAddr, Failure> {
    text.to_socket_addrs()
        .map_err(|e| Failure::msg(format!("`{text}` is not a reachable host:port ({e})")))?
        .next()
        .ok_or_else(|| Failure::msg(format!("`{text}` resolves to no address")))
}

fn loopback_if_unspecified(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), a.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), a.port())
        }
        _ => a,
    }
}

/// The same endpoint, as the link compares addresses ([`super::link::normal`]).
fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    super::link::normal(a) == super::link::normal(b)
}
