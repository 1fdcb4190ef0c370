/*!
The UDP built-in servers: `uppercase`, `echo` and the flawed variants.

- `uppercase` / `echo`: each datagram gets one datagram back, to its sender.
- `uppercase-udp-fixed-reply`: replies to `127.0.0.1` at the server's own port + 1 (or
  port − 1 when it listens on 65535) instead of the sender, so a client never hears back.
- `uppercase-udp-joins`: after a datagram it waits up to [`JOIN_WINDOW`] for another one
  from the same sender; if one comes, both are answered glued into ONE datagram
  (uppercased), otherwise the first is answered alone. A datagram from another sender
  during the wait ends the wait: the first is answered alone and the newcomer starts a
  new wait.
- `uppercase-udp-512`: like `uppercase`, but receives into a 512-byte buffer, so the
  answer to a longer datagram is cut to its first 512 bytes.
*/

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

/// The largest UDP payload (IPv4); longer glued answers are cut to it.
pub const MAX_DATAGRAM: usize = 65_507;
/// How long `uppercase-udp-joins` waits for a second datagram.
pub const JOIN_WINDOW: Duration = Duration::from_millis(100);

/// What a UDP built-in does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpKind {
    /// Uppercase, back to the sender.
    Uppercase,
    /// Unchanged, back to the sender.
    Echo,
    /// Uppercase, to a fixed port on 127.0.0.1 (see [`fixed_reply_port`]).
    FixedReply,
    /// Two datagrams in a row from one sender are answered as one.
    Joins,
    /// Uppercase, back to the sender, of at most the first [`SMALL_DATAGRAM`] bytes.
    Small,
}

/// The receive buffer of `uppercase-udp-512`: a longer datagram is cut to it.
pub const SMALL_DATAGRAM: usize = 512;

/// Where `uppercase-udp-fixed-reply` sends its answers, given its own port.
pub fn fixed_reply_port(own: u16) -> u16 {
    if own == u16::MAX { own - 1 } else { own + 1 }
}

/// Serves forever on `socket`.
pub async fn serve(socket: UdpSocket, kind: UdpKind) {
    let mut buf = vec![0u8; 65_536];
    let own_port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
    let fixed = SocketAddr::from((Ipv4Addr::LOCALHOST, fixed_reply_port(own_port)));
    let mut held: Option<(Vec<u8>, SocketAddr)> = None;
    loop {
        let (n, from) = match held.take() {
            Some((first, from)) => {
                // `Joins`: wait a little for a second datagram from the same sender.
                match tokio::time::timeout(JOIN_WINDOW, socket.recv_from(&mut buf)).await {
                    Ok(Ok((n, from2))) if from2 == from => {
                        let mut glued = first;
                        buf[..n].make_ascii_uppercase();
                        glued.extend_from_slice(&buf[..n]);
                        glued.truncate(MAX_DATAGRAM);
                        let _ = socket.send_to(&glued, from).await;
                        continue;
                    }
                    Ok(Ok((n, from2))) => {
                        let _ = socket.send_to(&first, from).await;
                        (n, from2)
                    }
                    Ok(Err(_)) | Err(_) => {
                        let _ = socket.send_to(&first, from).await;
                        continue;
                    }
                }
            }
            None => match socket.recv_from(&mut buf).await {
                Ok(got) => got,
                // e.g. ICMP port unreachable reported on a later receive: ignore.
                Err(_) => continue,
            },
        };
        let mut data = buf[..n].to_vec();
        match kind {
            UdpKind::Echo => {
                let _ = socket.send_to(&data, from).await;
            }
            UdpKind::Uppercase => {
                data.make_ascii_uppercase();
                let _ = socket.send_to(&data, from).await;
            }
            UdpKind::Small => {
                data.truncate(SMALL_DATAGRAM);
                data.make_ascii_uppercase();
                let _ = socket.send_to(&data, from).await;
            }
            UdpKind::FixedReply => {
                data.make_ascii_uppercase();
                let _ = socket.send_to(&data, fixed).await;
            }
            UdpKind::Joins => {
                data.make_ascii_uppercase();
                held = Some((data, from));
            }
        }
    }
}
