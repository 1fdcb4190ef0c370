/*!
A scripted UDP socket: no connection, each datagram carries its destination, and every
receive takes one whole datagram (boundaries are preserved).

The actor remembers the sender of the last datagram it received, so `reply` answers
whoever spoke last — the way a UDP server learns its client's address.
*/

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::transcript::{Failure, show_bytes};

/// Largest datagram received (the UDP maximum payload over IPv4).
pub const MAX_DATAGRAM: usize = 65_535;

/// A UDP socket owned by an actor.
pub struct UdpActor {
    sock: UdpSocket,
    last_sender: Option<SocketAddr>,
    buf: Vec<u8>,
}

impl UdpActor {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<UdpActor> {
        let sock = UdpSocket::bind(addr).await?;
        Ok(UdpActor {
            sock,
            last_sender: None,
            buf: vec![0; MAX_DATAGRAM + 1],
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// Sends one datagram to `to`.
    pub async fn send_to(&self, data: &[u8], to: SocketAddr) -> Result<(), Failure> {
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
    pub async fn reply(&self, data: &[u8]) -> Result<(), Failure> {
        let Some(to) = self.last_sender else {
            return Err(Failure::msg(
                "nothing was received yet, so there is no sender to reply to",
            ));
        };
        self.send_to(data, to).await
    }

    /// Receives the next whole datagram, waiting at most until `deadline`.
    pub async fn recv(
        &mut self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(Vec<u8>, SocketAddr), Failure> {
        match tokio::time::timeout_at(deadline, self.sock.recv_from(&mut self.buf)).await {
            Err(_) => Err(Failure::msg(format!(
                "no datagram arrived within {}",
                humantime::format_duration(timeout)
            ))),
            Ok(Err(e)) => Err(Failure::msg(format!("receive failed: {e}"))),
            Ok(Ok((n, from))) => {
                self.last_sender = Some(from);
                Ok((self.buf[..n].to_vec(), from))
            }
        }
    }

    /// No datagram arrives for `span`.
    pub async fn silence(&mut self, span: Duration) -> Result<(), Failure> {
        let deadline = Instant::now() + span;
        match tokio::time::timeout_at(deadline, self.sock.recv_from(&mut self.buf)).await {
            Err(_) => Ok(()),
            Ok(Err(e)) => Err(Failure::msg(format!("receive failed: {e}"))),
            Ok(Ok((n, from))) => {
                self.last_sender = Some(from);
                Err(Failure::diff(
                    "expected silence, but a datagram arrived",
                    "nothing",
                    show_bytes(&self.buf[..n]),
                ))
            }
        }
    }
}
