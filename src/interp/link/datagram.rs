/*!
The link for UDP, applied in-process on the actor's own socket.

A UDP flow is one actor's traffic with the target. Instead of relaying it through two
more sockets (which doubles the hops of every round trip), the link decides each
datagram where it crosses the actor's socket:
- to the target: when the actor sends it (dropped, sent twice, held back behind the next
  one, or sent after a delay by a timer task);
- from the target: when the actor receives it (dropped, delivered twice, held back,
  delayed in a small queue ordered by due time).

The target sees the actor's own address, and the actor sees answers from the target's,
exactly as without a link. Every decision is kept until the engine takes it
([`DatagramLink::take_decisions`]) and writes it into the transcript right after the
step during which it happened, so decisions appear in the order of the script.

A held-back datagram goes out right after the next datagram of its flow and direction;
if none comes within [`HOLD_RELEASE`] it is released anyway.
*/

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::task::AbortHandle;
use tokio::time::{Instant, sleep, timeout_at};

use super::{Decider, Decision, Direction, HOLD_RELEASE, LOG_CAP, QUEUE_CAP, lock};
use crate::scenario::model::LinkDirection;

/// A datagram from the target waiting for its due time; ordered by (due, order).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Queued {
    due: Instant,
    order: u64,
    data: Vec<u8>,
    from: SocketAddr,
}

/// Datagrams to the target held back, with where each goes. `generation` changes
/// whenever they are released, so a release timer started for an earlier batch never
/// releases a later one early.
#[derive(Debug, Default)]
struct Held {
    generation: u64,
    data: Vec<(Vec<u8>, SocketAddr)>,
}

impl Held {
    fn release(&mut self) -> Vec<(Vec<u8>, SocketAddr)> {
        self.generation += 1;
        std::mem::take(&mut self.data)
    }
}

/// One direction's decisions and log.
#[derive(Debug)]
struct Way {
    decider: Option<Decider>,
    seq: u64,
    recorded: u64,
}

impl Way {
    fn new(decider: Option<Decider>) -> Way {
        Way {
            decider,
            seq: 0,
            recorded: 0,
        }
    }
}

/// The link's effect on one UDP actor's traffic with the target.
#[derive(Debug)]
pub struct DatagramLink {
    flow: String,
    target: SocketAddr,
    to: Way,
    from: Way,
    /// Datagrams to the target held back, waiting for the next one.
    held_out: Arc<Mutex<Held>>,
    /// Datagrams from the target, delayed or released after being held.
    inbox: BinaryHeap<Reverse<Queued>>,
    /// Datagrams from the target held back, and since when.
    held_in: Vec<(Vec<u8>, SocketAddr)>,
    held_in_since: Option<Instant>,
    order: u64,
    decisions: Vec<Decision>,
    tasks: Vec<AbortHandle>,
    /// The scripted actors' addresses and how far flows went (see [`super::Watch`]).
    watch: Arc<Mutex<super::Watch>>,
}

impl DatagramLink {
    /// The link of `flow` (an actor) with `target`: `to`/`from` are the two directions'
    /// specs, decided under `seed`.
    pub fn new(
        flow: &str,
        target: SocketAddr,
        to: &LinkDirection,
        from: &LinkDirection,
        seed: u64,
    ) -> DatagramLink {
        let way = |spec: &LinkDirection, dir| {
            Way::new(
                spec.impairs_datagrams()
                    .then(|| Decider::new(spec, seed, flow, dir)),
            )
        };
        DatagramLink {
            flow: flow.to_string(),
            target,
            to: way(to, Direction::ToTarget),
            from: way(from, Direction::FromTarget),
            held_out: Arc::default(),
            inbox: BinaryHeap::new(),
            held_in: Vec::new(),
            held_in_since: None,
            order: 0,
            decisions: Vec::new(),
            tasks: Vec::new(),
            watch: Arc::default(),
        }
    }

    /// The same link, sharing the run's [`super::Watch`].
    pub fn with_watch(mut self, watch: Arc<Mutex<super::Watch>>) -> DatagramLink {
        self.watch = watch;
        self
    }

    /// True when `addr` is the target's side: the target's own address, or any address
    /// that is no scripted actor's (a port the target answers from).
    pub fn is_target_side(&self, addr: SocketAddr) -> bool {
        let addr = super::normal(addr);
        addr == super::normal(self.target) || !lock(&self.watch).is_scripted(addr)
    }

    /// The decisions made since the last call, in the order they were made.
    pub fn take_decisions(&mut self) -> Vec<Decision> {
        std::mem::take(&mut self.decisions)
    }

    fn record(&mut self, direction: Direction, seq: u64, what: Option<String>) {
        let Some(what) = what else { return };
        let way = match direction {
            Direction::ToTarget => &mut self.to,
            Direction::FromTarget => &mut self.from,
        };
        let what = match way.recorded {
            n if n < LOG_CAP => what,
            n if n == LOG_CAP => "further decisions not listed".to_string(),
            _ => return,
        };
        way.recorded += 1;
        self.decisions.push(Decision {
            flow: self.flow.clone(),
            direction,
            seq,
            what,
        });
    }

    /// Sends `data` to `to`, an address on the target's side, through the link.
    pub async fn send(
        &mut self,
        sock: &Arc<UdpSocket>,
        data: &[u8],
        to: SocketAddr,
    ) -> io::Result<()> {
        let Some(decider) = self.to.decider.as_mut() else {
            sock.send_to(data, to).await?;
            return Ok(());
        };
        self.to.seq += 1;
        let seq = self.to.seq;
        lock(&self.watch).saw(Direction::ToTarget, seq);
        let verdict = decider.decide(seq);
        self.record(Direction::ToTarget, seq, verdict.describe());
        if verdict.drop {
            return Ok(());
        }
        if verdict.hold {
            let first = {
                let mut held = lock(&self.held_out);
                if held.data.len() < QUEUE_CAP {
                    held.data.push((data.to_vec(), to));
                }
                (held.data.len() == 1).then_some(held.generation)
            };
            if let Some(generation) = first {
                // Released by the next datagram, or after HOLD_RELEASE.
                let (sock, held) = (Arc::clone(sock), Arc::clone(&self.held_out));
                self.spawn(async move {
                    sleep(HOLD_RELEASE).await;
                    let pending = {
                        let mut held = lock(&held);
                        if held.generation != generation {
                            return;
                        }
                        held.release()
                    };
                    for (d, to) in pending {
                        let _ = sock.send_to(&d, to).await;
                    }
                });
            }
            return Ok(());
        }
        let copies = if verdict.duplicate { 2 } else { 1 };
        let released = lock(&self.held_out).release();
        if verdict.delay.is_zero() {
            for _ in 0..copies {
                sock.send_to(data, to).await?;
            }
            for (d, at) in released {
                sock.send_to(&d, at).await?;
            }
            return Ok(());
        }
        let (sock, data, delay) = (Arc::clone(sock), data.to_vec(), verdict.delay);
        self.spawn(async move {
            sleep(delay).await;
            for _ in 0..copies {
                let _ = sock.send_to(&data, to).await;
            }
            for (d, at) in released {
                let _ = sock.send_to(&d, at).await;
            }
        });
        Ok(())
    }

    fn spawn<F>(&mut self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.retain(|t| !t.is_finished());
        self.tasks.push(tokio::spawn(fut).abort_handle());
    }

    fn enqueue(&mut self, due: Instant, data: Vec<u8>, from: SocketAddr) {
        if self.inbox.len() >= QUEUE_CAP {
            return;
        }
        self.order += 1;
        self.inbox.push(Reverse(Queued {
            due,
            order: self.order,
            data,
            from,
        }));
    }

    /// The next datagram the actor gets, after the link's decisions on what the target
    /// sent; `None` when nothing is delivered by `deadline`.
    pub async fn recv(
        &mut self,
        sock: &UdpSocket,
        buf: &mut [u8],
        deadline: Instant,
    ) -> io::Result<Option<(Vec<u8>, SocketAddr)>> {
        loop {
            let now = Instant::now();
            if let Some(since) = self.held_in_since
                && now >= since + HOLD_RELEASE
            {
                self.release_held_in(now);
            }
            if self.inbox.peek().is_some_and(|q| q.0.due <= now)
                && let Some(Reverse(q)) = self.inbox.pop()
            {
                return Ok(Some((q.data, q.from)));
            }
            if now >= deadline {
                return Ok(None);
            }
            let mut wake = deadline;
            if let Some(q) = self.inbox.peek() {
                wake = wake.min(q.0.due);
            }
            if let Some(since) = self.held_in_since {
                wake = wake.min(since + HOLD_RELEASE);
            }
            let (n, from) = match timeout_at(wake, sock.recv_from(buf)).await {
                Err(_) => continue,
                Ok(got) => got?,
            };
            let data = buf[..n].to_vec();
            let target_side = self.is_target_side(from);
            let Some(decider) = self.from.decider.as_mut().filter(|_| target_side) else {
                return Ok(Some((data, from)));
            };
            self.from.seq += 1;
            let seq = self.from.seq;
            lock(&self.watch).saw(Direction::FromTarget, seq);
            let verdict = decider.decide(seq);
            self.record(Direction::FromTarget, seq, verdict.describe());
            if verdict.drop {
                continue;
            }
            let now = Instant::now();
            if verdict.hold {
                if self.held_in.len() < QUEUE_CAP {
                    self.held_in.push((data, from));
                }
                self.held_in_since.get_or_insert(now);
                continue;
            }
            let due = now + verdict.delay;
            if verdict.duplicate {
                self.enqueue(due, data.clone(), from);
            }
            self.enqueue(due, data, from);
            self.release_held_in(due);
        }
    }

    /// Queues every held datagram from the target, due at `due` (after what is queued).
    fn release_held_in(&mut self, due: Instant) {
        self.held_in_since = None;
        for (data, from) in std::mem::take(&mut self.held_in) {
            self.enqueue(due, data, from);
        }
    }
}

impl Drop for DatagramLink {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
