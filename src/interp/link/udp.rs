/*!
The UDP relay of one flow: a front socket for the actor, a back socket for the target,
and one task per direction.

A direction with nothing to impair is a plain recv → send loop over one reusable
buffer. An impaired direction decides each datagram ([`Decider`]), sends it at once
when it can, and otherwise keeps a copy in a queue ordered by due time (capped by
[`QUEUE_CAP`] and [`QUEUE_BYTES`]) or in the held-back list.
*/

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::time::{Instant, sleep_until};

use super::{Decider, Direction, HOLD_RELEASE, Link, QUEUE_BYTES, QUEUE_CAP, Recorder, lock};
use crate::scenario::model::LinkDirection;

/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

/// Starts the relay of `flow` towards `target`; returns the front address.
pub(super) async fn start(link: &Link, flow: &str, target: SocketAddr) -> io::Result<SocketAddr> {
    let front = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let back_ip: std::net::IpAddr = match (target.is_ipv6(), target.ip().is_loopback()) {
        (false, true) => Ipv4Addr::LOCALHOST.into(),
        (true, true) => Ipv6Addr::LOCALHOST.into(),
        (false, false) => Ipv4Addr::UNSPECIFIED.into(),
        (true, false) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let back = UdpSocket::bind((back_ip, 0)).await?;
    back.connect(target).await?;
    let front_addr = front.local_addr()?;
    let ends = Arc::new(Ends {
        front,
        back,
        peer: Mutex::new(None),
    });
    for direction in [Direction::ToTarget, Direction::FromTarget] {
        let spec = link.direction(direction);
        let ends = Arc::clone(&ends);
        if impairs_datagrams(spec) {
            let decider = Decider::new(spec, link.seed, flow, direction);
            let recorder = Recorder::new(&link.shared, flow, direction);
            link.shared
                .spawn(impaired(ends, direction, decider, recorder))?;
        } else {
            link.shared.spawn(plain(ends, direction))?;
        }
    }
    Ok(front_addr)
}

/// True when a direction changes anything about datagrams (`slice` is TCP only).
fn impairs_datagrams(d: &LinkDirection) -> bool {
    !d.drop.is_empty()
        || d.loss > 0.0
        || d.duplicate > 0.0
        || d.reorder > 0.0
        || !d.delay.is_zero()
        || !d.jitter.is_zero()
}

/// The two sockets of a flow and the actor's address.
#[derive(Debug)]
struct Ends {
    /// Where the actor sends; answers go out from here.
    front: UdpSocket,
    /// Connected to the target: the flow's source address as the target sees it.
    back: UdpSocket,
    /// The address the actor last sent from.
    peer: Mutex<Option<SocketAddr>>,
}

/// What a failed receive means for the loop.
enum RecvError {
    /// An ICMP error surfaced on the socket (the target was not listening): go on.
    Transient,
    /// The socket is unusable: stop this direction.
    Fatal,
}

impl Ends {
    async fn recv(&self, direction: Direction, buf: &mut [u8]) -> Result<usize, RecvError> {
        let got = match direction {
            Direction::ToTarget => self.front.recv_from(buf).await.map(|(n, from)| {
                let mut peer = lock(&self.peer);
                if *peer != Some(from) {
                    *peer = Some(from);
                }
                n
            }),
            Direction::FromTarget => self.back.recv(buf).await,
        };
        got.map_err(|e| match e.kind() {
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted => RecvError::Transient,
            _ => RecvError::Fatal,
        })
    }

    /// Forwards one datagram; a failed send is a lost datagram, as on a real network.
    async fn send(&self, direction: Direction, data: &[u8]) {
        match direction {
            Direction::ToTarget => {
                let _ = self.back.send(data).await;
            }
            Direction::FromTarget => {
                let peer = *lock(&self.peer);
                if let Some(peer) = peer {
                    let _ = self.front.send_to(data, peer).await;
                }
            }
        }
    }
}

/// A direction with no impairment: receive, send, repeat.
async fn plain(ends: Arc<Ends>, direction: Direction) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match ends.recv(direction, &mut buf).await {
            Ok(n) => ends.send(direction, &buf[..n]).await,
            Err(RecvError::Transient) => continue,
            Err(RecvError::Fatal) => return,
        }
    }
}

/// A datagram waiting for its due time. Ordered by (due, order): `order` counts
/// enqueues, so equal due times go out in the order they were queued.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Queued {
    due: Instant,
    order: u64,
    data: Vec<u8>,
}

/// A datagram held back until the next one goes.
#[derive(Debug)]
struct Held {
    due: Instant,
    copies: u8,
    data: Vec<u8>,
}

/// The waiting datagrams of one direction.
#[derive(Debug, Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Queued>>,
    held: Vec<Held>,
    /// When the oldest held datagram was held.
    held_since: Option<Instant>,
    count: usize,
    bytes: usize,
    order: u64,
}

impl Queue {
    fn has_room(&self, copies: usize, len: usize) -> bool {
        self.count + copies <= QUEUE_CAP && self.bytes + copies * len <= QUEUE_BYTES
    }

    fn push(&mut self, due: Instant, data: Vec<u8>) {
        self.count += 1;
        self.bytes += data.len();
        self.order += 1;
        self.heap.push(Reverse(Queued {
            due,
            order: self.order,
            data,
        }));
    }

    fn hold(&mut self, now: Instant, held: Held) {
        self.count += held.copies as usize;
        self.bytes += held.copies as usize * held.data.len();
        self.held.push(held);
        self.held_since.get_or_insert(now);
    }

    /// Moves every held datagram to the queue, due no earlier than `after`.
    fn release_held(&mut self, after: Instant) {
        self.held_since = None;
        for held in std::mem::take(&mut self.held) {
            self.count -= held.copies as usize;
            self.bytes -= held.copies as usize * held.data.len();
            let due = held.due.max(after);
            for _ in 1..held.copies {
                self.push(due, held.data.clone());
            }
            self.push(due, held.data);
        }
    }

    /// The next datagram due at or before `now`.
    fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.heap.peek()?.0.due > now {
            return None;
        }
        let Reverse(q) = self.heap.pop()?;
        self.count -= 1;
        self.bytes -= q.data.len();
        Some(q.data)
    }

    /// When the loop must wake up next, if anything waits.
    fn next_wake(&self) -> Option<Instant> {
        let due = self.heap.peek().map(|q| q.0.due);
        let hold = self.held_since.map(|t| t + HOLD_RELEASE);
        match (due, hold) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A direction with impairments.
async fn impaired(ends: Arc<Ends>, direction: Direction, mut decider: Decider, mut rec: Recorder) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut queue = Queue::default();
    let mut seq: u64 = 0;
    loop {
        let wake = queue.next_wake();
        let got = tokio::select! {
            biased;
            _ = sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => None,
            r = ends.recv(direction, &mut buf) => Some(r),
        };
        let now = Instant::now();
        if queue
            .held_since
            .is_some_and(|since| since + HOLD_RELEASE <= now)
        {
            queue.release_held(now);
        }
        while let Some(data) = queue.pop_due(now) {
            ends.send(direction, &data).await;
        }
        let n = match got {
            None => continue,
            Some(Ok(n)) => n,
            Some(Err(RecvError::Transient)) => continue,
            Some(Err(RecvError::Fatal)) => return,
        };
        seq += 1;
        let verdict = decider.decide(seq);
        if verdict.drop {
            if let Some(what) = verdict.describe() {
                rec.record(seq, what);
            }
            continue;
        }
        let copies: u8 = if verdict.duplicate { 2 } else { 1 };
        let due = now + verdict.delay;
        let queued = verdict.hold || !verdict.delay.is_zero();
        if queued && !queue.has_room(copies as usize, n) {
            rec.record(seq, "dropped (queue full)");
            continue;
        }
        if let Some(what) = verdict.describe() {
            rec.record(seq, what);
        }
        let data = &buf[..n];
        if verdict.hold {
            queue.hold(
                now,
                Held {
                    due,
                    copies,
                    data: data.to_vec(),
                },
            );
            continue;
        }
        if queued {
            for _ in 0..copies {
                queue.push(due, data.to_vec());
            }
        } else {
            for _ in 0..copies {
                ends.send(direction, data).await;
            }
        }
        if !queue.held.is_empty() {
            queue.release_held(due);
            while let Some(data) = queue.pop_due(now) {
                ends.send(direction, &data).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn queue_orders_by_due_then_arrival() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        q.push(t0 + Duration::from_millis(5), b"late".to_vec());
        q.push(t0, b"first".to_vec());
        q.push(t0, b"second".to_vec());
        assert!(q.pop_due(t0 - Duration::from_millis(1)).is_none());
        let now = t0 + Duration::from_millis(10);
        let out: Vec<Vec<u8>> = std::iter::from_fn(|| q.pop_due(now)).collect();
        assert_eq!(
            out,
            vec![b"first".to_vec(), b"second".to_vec(), b"late".to_vec()]
        );
        assert_eq!((q.count, q.bytes), (0, 0));
    }

    #[test]
    fn held_goes_after_the_one_that_released_it() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        q.hold(
            t0,
            Held {
                due: t0,
                copies: 2,
                data: b"held".to_vec(),
            },
        );
        assert_eq!(q.next_wake(), Some(t0 + HOLD_RELEASE));
        q.push(t0 + Duration::from_millis(3), b"next".to_vec());
        q.release_held(t0 + Duration::from_millis(3));
        let now = t0 + Duration::from_millis(3);
        let out: Vec<Vec<u8>> = std::iter::from_fn(|| q.pop_due(now)).collect();
        assert_eq!(
            out,
            vec![b"next".to_vec(), b"held".to_vec(), b"held".to_vec()]
        );
        assert!(q.held_since.is_none());
        assert_eq!((q.count, q.bytes), (0, 0));
    }

    #[test]
    fn room_is_capped() {
        let q = Queue::default();
        assert!(q.has_room(1, MAX_DATAGRAM));
        assert!(!q.has_room(QUEUE_CAP + 1, 1));
        assert!(!q.has_room(2, QUEUE_BYTES));
    }
}
