/*!
A scripted UDP socket: no connection, each datagram carries its destination, and every
receive takes one whole datagram (boundaries are preserved).

The actor remembers the sender of the last datagram it received, so `reply` answers
whoever spoke last — the way a UDP server learns its client's address.
*/

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::link::{DatagramLink, Decision};
use crate::transcript::{Failure, show_bytes};

/// Largest datagram received (the UDP maximum payload over IPv4).
pub const MAX_DATAGRAM: usize = 65_535;

/// A UDP socket owned by an actor.
pub struct UdpActor {
    sock: Arc<UdpSocket>,
    last_sender: Option<SocketAddr>,
    buf: Vec<u8>,
    /// The impairing link on this actor's traffic with the target, if any.
    link: Option<Box<DatagramLink>>,
    /// The last datagram sent, and where, for `resend`.
    last_sent: Option<(Vec<u8>, SocketAddr)>,
}

impl UdpActor {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<UdpActor> {
        let sock = UdpSocket::bind(addr).await?;
        Ok(UdpActor {
            sock: Arc::new(sock),
            last_sender: None,
            buf: vec![0; MAX_DATAGRAM + 1],
            link: None,
            last_sent: None,
        })
    }

    /// Puts the link between this actor and the target.
    pub fn attach_link(&mut self, link: DatagramLink) {
        self.link = Some(Box::new(link));
    }

    /// The link's decisions since the last call.
    pub fn take_decisions(&mut self) -> Vec<Decision> {
        self.link
            .as_mut()
            .map(|l| l.take_decisions())
            .unwrap_or_default()
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// Sends one datagram to `to` (through the link when `to` is on the target's side:
    /// the target, or any address that is no scripted actor's).
    pub async fn send_to(&mut self, data: &[u8], to: SocketAddr) -> Result<(), Failure> {
        self.last_sent = Some((data.to_vec(), to));
        if let Some(link) = self.link.as_mut().filter(|l| l.is_target_side(to)) {
            return link
                .send(&self.sock, data, to)
                .await
                .map_err(|e| Failure::msg(format!("could not send the datagram: {e}")));
        }
        match self.sock.send_to(data, to).await {
            Ok(n) if n == data.len() => Ok(()),
            Ok(n) => Err(Failure::msg(format!(
                "only {n} of {} bytes were sent in the datagram",
                data.len()
            ))),
            Err(e) => Err(Failure::msg(format!("could not send the datagram: {e}"))),
        }
    }

    /// Sends one datagram to the sender of the last datagram received.
    pub async fn reply(&mut self, data: &[u8]) -> Result<(), Failure> {
        let Some(to) = self.last_sender else {
            return Err(Failure::msg(
                "nothing was received yet, so there is no sender to reply to",
            ));
        };
        self.send_to(data, to).await
    }

    /// Sends the last datagram sent again (to the same place); false when there is none.
    pub async fn resend(&mut self) -> Result<bool, Failure> {
        let Some((data, to)) = self.last_sent.clone() else {
            return Ok(false);
        };
        self.send_to(&data, to).await?;
        Ok(true)
    }

    /// The next whole datagram by `deadline`, or `None` when none arrived.
    pub async fn recv_by(
        &mut self,
        deadline: Instant,
    ) -> Result<Option<(Vec<u8>, SocketAddr)>, Failure> {
        match self.next(deadline).await {
            Ok(Some((data, from))) => {
                self.last_sender = Some(from);
                Ok(Some((data, from)))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(Failure::msg(format!("receive failed: {e}"))),
        }
    }

    /// The next datagram delivered by `deadline` (after the link's decisions).
    async fn next(&mut self, deadline: Instant) -> std::io::Result<Option<(Vec<u8>, SocketAddr)>> {
        if let Some(link) = self.link.as_mut() {
            return link.recv(&self.sock, &mut self.buf, deadline).await;
        }
        match tokio::time::timeout_at(deadline, self.sock.recv_from(&mut self.buf)).await {
            Err(_) => Ok(None),
            Ok(Err(e)) => Err(e),
            Ok(Ok((n, from))) => Ok(Some((self.buf[..n].to_vec(), from))),
        }
    }

    /// No datagram arrives for `span`.
    pub async fn silence(&mut self, span: Duration) -> Result<(), Failure> {
        let deadline = Instant::now() + span;
        match self.next(deadline).await {
            Ok(None) => Ok(()),
            Err(e) => Err(Failure::msg(format!("receive failed: {e}"))),
            Ok(Some((data, from))) => {
                self.last_sender = Some(from);
                Err(Failure::diff(
                    "expected silence, but a datagram arrived",
                    "nothing",
                    show_bytes(&data),
                ))
            }
        }
    }
}
