/*!
The link: an in-process relay between the scripted actors and the target that impairs
traffic deterministically (contract §1.5, `[link]`).

- [`decide`](mod@decide): what happens to one datagram, a pure function of
  (seed, flow, direction, seq).
- [`datagram`]: UDP, applied in-process on each actor's own socket: datagrams are
  dropped, duplicated, held back or delayed where they cross it, with no extra hop.
- `tcp`: one relay per TCP connection: `delay` and `slice`, with half-close and reset
  passed through.

# Use
The engine makes one [`Link`] per run. A UDP actor that talks to the target gets a
[`DatagramLink`] from [`Link::datagram`] and sends and receives through it; a TCP
connect to the target goes to [`Link::tcp_flow`]'s address. UDP decisions are taken
from each actor after every step; TCP ones from [`Link::decisions`] at the end.

# Semantics worth knowing
- A held-back (reordered) datagram is forwarded right after the next datagram of the
  same flow and direction; if none comes within [`HOLD_RELEASE`] (200 ms) it is
  released anyway. Several held datagrams in a row are released together, in order,
  after the next one that is not held.
- Delays never block later datagrams: each datagram is due at its arrival plus its
  delay, and datagrams go out by due time (ties in arrival order).
- At most [`QUEUE_CAP`] datagrams (and [`QUEUE_BYTES`] bytes) wait per flow and
  direction; beyond that a datagram is dropped and recorded as `dropped (queue full)`.
- TCP: `delay` and `slice` apply; the other impairments are for datagrams. One decision
  per connection and direction is recorded (seq = the connection's number in its flow),
  e.g. `pieces of at most 3 bytes, delayed 20ms`, because TCP read sizes depend on
  timing. A connect through the link that the target refuses shows to the actor as a
  reset of an accepted connection, not as "connection refused": the engine does not
  put the link in front of connects that expect a refusal.
- At most [`LOG_CAP`] decisions are kept per flow and direction; the next one is
  replaced by `further decisions not listed`.

# Performance
UDP costs no extra socket hop: with no impairment in a direction, a datagram goes
straight to the socket; `cargo bench --bench link` compares round trips through a
linked actor with direct ones. TCP goes through a relay (two more hops), which only
matters for `delay` and `slice`, where the relay's pace is the point.
*/

pub mod datagram;
pub mod decide;
mod tcp;

use super::lock;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::AbortHandle;

use crate::scenario::model::{LinkDirection, LinkSpec};
use crate::transcript::Entry;

pub use datagram::DatagramLink;
pub use decide::{Decider, Direction, Verdict, decide};

/// How long a held-back datagram waits for a next one before it is released anyway.
pub const HOLD_RELEASE: Duration = Duration::from_millis(200);
/// Most datagrams waiting (delayed or held) per flow and direction.
pub const QUEUE_CAP: usize = 1024;
/// Most bytes waiting (delayed or held) per flow and direction.
pub const QUEUE_BYTES: usize = 4 << 20;
/// Most decisions recorded per flow and direction.
pub const LOG_CAP: u64 = 10_000;
/// Bound on the relay's own connect to a TCP target.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One non-trivial thing the link did.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decision {
    /// The flow (actor) it concerns. First sort key.
    pub flow: String,
    /// Which way the datagram went.
    pub direction: Direction,
    /// 1-based position of the datagram in its flow and direction (TCP: connection).
    pub seq: u64,
    /// `dropped`, `dropped (listed)`, `duplicated`, `held back`, `delayed 23ms`, …
    pub what: String,
}

impl Decision {
    /// The transcript entry for this decision.
    pub fn to_entry(&self) -> Entry {
        Entry::Link {
            direction: self.direction.to_string(),
            flow: self.flow.clone(),
            seq: self.seq,
            decision: self.what.clone(),
        }
    }
}

/// The impairing relay of one scenario run. Dropping it stops every relay task.
#[derive(Debug)]
pub struct Link {
    spec: LinkSpec,
    seed: u64,
    shared: Arc<Shared>,
}

/// State shared by the handle and the relay tasks.
#[derive(Debug, Default)]
struct Shared {
    /// Where the scripted actors are, and how far datagram flows went.
    watch: Arc<Mutex<Watch>>,
    log: Mutex<Vec<Decision>>,
    tasks: Mutex<Vec<AbortHandle>>,
    tcp_connections: Mutex<HashMap<String, u64>>,
    tcp_writes: AtomicU64,
    closed: AtomicBool,
}

impl Shared {
    fn spawn<F>(&self, fut: F) -> io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut tasks = lock(&self.tasks);
        if self.closed.load(Ordering::SeqCst) {
            return Err(shut_down());
        }
        tasks.push(tokio::spawn(fut).abort_handle());
        Ok(())
    }
}

fn shut_down() -> io::Error {
    io::Error::other("the link has been shut down")
}

/// Records the decisions of one flow in one direction, capped at [`LOG_CAP`].
#[derive(Debug)]
struct Recorder {
    shared: Arc<Shared>,
    flow: String,
    direction: Direction,
    recorded: u64,
}

impl Recorder {
    fn new(shared: &Arc<Shared>, flow: &str, direction: Direction) -> Recorder {
        Recorder {
            shared: Arc::clone(shared),
            flow: flow.to_string(),
            direction,
            recorded: 0,
        }
    }

    fn record(&mut self, seq: u64, what: impl Into<String>) {
        let what = match self.recorded {
            n if n < LOG_CAP => what.into(),
            n if n == LOG_CAP => "further decisions not listed".to_string(),
            _ => return,
        };
        self.recorded += 1;
        lock(&self.shared.log).push(Decision {
            flow: self.flow.clone(),
            direction: self.direction,
            seq,
            what,
        });
    }
}

impl Link {
    /// A link impairing as `spec` says, with decisions drawn from `seed` (the resolved
    /// `[link] seed` or `run --seed`).
    pub fn new(spec: &LinkSpec, seed: u64) -> Link {
        Link {
            spec: spec.clone(),
            seed,
            shared: Arc::default(),
        }
    }

    /// The impairments of one direction.
    fn direction(&self, direction: Direction) -> &LinkDirection {
        match direction {
            Direction::ToTarget => &self.spec.to_target,
            Direction::FromTarget => &self.spec.from_target,
        }
    }

    /// UDP: the link of one flow (one actor's traffic with `target`), or `None` when
    /// neither direction impairs datagrams.
    pub fn datagram(&self, flow: &str, target: SocketAddr) -> Option<DatagramLink> {
        let (to, from) = (&self.spec.to_target, &self.spec.from_target);
        (to.impairs_datagrams() || from.impairs_datagrams()).then(|| {
            DatagramLink::new(flow, target, to, from, self.seed)
                .with_watch(Arc::clone(&self.shared.watch))
        })
    }

    /// Records the address of a scripted actor's socket: traffic with it is not the
    /// target's, and the link leaves it alone.
    pub fn note_scripted(&self, addr: SocketAddr) {
        lock(&self.shared.watch).scripted.insert(normal(addr));
    }

    /// TCP: listens on 127.0.0.1 for one connection of this flow and returns the
    /// address to connect to. On accept, connects to `target` (within
    /// [`CONNECT_TIMEOUT`]) and pipes both ways, each piece after `delay` and in
    /// pieces of at most `slice` bytes (TCP_NODELAY on both sides). A half-close passes
    /// through as a half-close, a reset as a reset; a failed connect to the target
    /// resets the actor's connection.
    pub async fn tcp_flow(&self, flow: &str, target: SocketAddr) -> io::Result<SocketAddr> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(shut_down());
        }
        let number = {
            let mut conns = lock(&self.shared.tcp_connections);
            let n = conns.entry(flow.to_string()).or_insert(0);
            *n += 1;
            *n
        };
        tcp::start(self, flow, number, target).await
    }

    /// Every decision so far, sorted by (flow, direction, seq), so the list does not
    /// depend on timing. Datagrams forwarded at once and unchanged are not listed.
    pub fn decisions(&self) -> Vec<Decision> {
        let mut all = lock(&self.shared.log).clone();
        all.sort();
        all
    }

    /// How many writes the TCP relays have made (each piece of a slice is one write).
    pub fn tcp_writes(&self) -> u64 {
        self.shared.tcp_writes.load(Ordering::Relaxed)
    }

    /// The `drop` entries no datagram flow reached by now, as transcript warnings: a rule
    /// that never matched is a scenario that does not test what it says.
    pub fn unmatched_rules(&self) -> Vec<String> {
        let watch = lock(&self.shared.watch);
        let mut out = Vec::new();
        for (direction, spec, seen) in [
            (Direction::ToTarget, &self.spec.to_target, watch.seen[0]),
            (Direction::FromTarget, &self.spec.from_target, watch.seen[1]),
        ] {
            for &n in spec.drop.iter().filter(|&&n| n > seen) {
                out.push(format!(
                    "warning: [link.{direction}] drop = {n} never matched: no flow had a datagram #{n} in that direction ({seen} at most)"
                ));
            }
        }
        out
    }

    /// Stops every relay task and closes their sockets. Also done on drop.
    pub fn shutdown(&self) {
        let mut tasks = lock(&self.shared.tasks);
        self.shared.closed.store(true, Ordering::SeqCst);
        for task in tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// An address as the link compares it: an unspecified IP is loopback, an IPv4-mapped
/// IPv6 address is IPv4.
pub(crate) fn normal(a: SocketAddr) -> SocketAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let ip = match a.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        ip => ip,
    };
    SocketAddr::new(ip, a.port())
}

/// What the link's datagram flows share: the scripted actors' addresses (a datagram to
/// or from any other address is the target's traffic: the target may answer from a port
/// of its own, as a TFTP server does), and the highest datagram number each direction
/// reached in any flow.
#[derive(Debug, Default)]
pub struct Watch {
    scripted: std::collections::HashSet<SocketAddr>,
    seen: [u64; 2],
}

impl Watch {
    /// True when `addr` (normalised) is a scripted actor's.
    pub fn is_scripted(&self, addr: SocketAddr) -> bool {
        self.scripted.contains(&addr)
    }

    /// A flow reached datagram `seq` in `direction`.
    pub fn saw(&mut self, direction: Direction, seq: u64) {
        let i = usize::from(direction == Direction::FromTarget);
        self.seen[i] = self.seen[i].max(seq);
    }
}
