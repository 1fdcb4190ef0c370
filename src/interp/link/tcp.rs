/*!
The TCP relay of one connection: accept the actor's connection, connect to the target,
pipe both ways with `delay` and `slice`.

Each direction is a pipe: read what arrives (at most [`READ_BUF`] bytes at a time),
then write it in pieces of at most `slice` bytes, each piece a separate write on a
TCP_NODELAY socket, `delay` apart (at least [`MIN_PIECE_GAP`]) so that the receiving
program really reads them one by one: a slow link. With a `delay`, a reader queues each read with its due time (at
most [`PIPE_QUEUE`] reads waiting, so a flooding peer is slowed, not buffered) and a
writer sends it when due: order is kept and reading is never blocked by the delay.

End of stream passes through as a half-close (`shutdown(Write)` on the other socket;
the other direction keeps flowing). Any error (a reset read on one side, a write that
fails on the other) aborts both connections with SO_LINGER 0, so the peers see a reset
and never a clean end of stream.
*/

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};

use super::{CONNECT_TIMEOUT, Direction, Link, Recorder, Shared};
use crate::scenario::model::LinkDirection;

/// Most bytes read at once.
const READ_BUF: usize = 16 * 1024;
/// Most reads waiting for their delay, per direction.
const PIPE_QUEUE: usize = 64;

/// The least time between two pieces of a sliced stream, so that the receiving
/// program's reads see them one by one instead of coalesced in its socket buffer.
pub const MIN_PIECE_GAP: Duration = Duration::from_millis(1);

/// What one direction of a connection does.
#[derive(Debug, Clone, Copy)]
struct PipeSpec {
    delay: Duration,
    /// Largest piece written at once.
    slice: usize,
    /// Time between two pieces (`slice` only: `delay`, at least [`MIN_PIECE_GAP`]).
    gap: Option<Duration>,
}

impl PipeSpec {
    fn of(d: &LinkDirection) -> PipeSpec {
        PipeSpec {
            delay: d.delay,
            slice: d.slice.unwrap_or(usize::MAX).max(1),
            gap: d.slice.map(|_| d.delay.max(MIN_PIECE_GAP)),
        }
    }

    /// How the pipe reads in a transcript, `None` when it changes nothing.
    fn describe(d: &LinkDirection) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(n) = d.slice {
            parts.push(format!(
                "pieces of at most {}",
                crate::interp::tcp::bytes_word(n)
            ));
        }
        if !d.delay.is_zero() {
            parts.push(format!("delayed {}ms", d.delay.as_millis()));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// Starts the relay of connection `number` of `flow`; returns the address to connect to.
pub(super) async fn start(
    link: &Link,
    flow: &str,
    number: u64,
    target: SocketAddr,
) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    for direction in [Direction::ToTarget, Direction::FromTarget] {
        if let Some(what) = PipeSpec::describe(link.direction(direction)) {
            Recorder::new(&link.shared, flow, direction).record(number, what);
        }
    }
    let to = PipeSpec::of(&link.spec.to_target);
    let from = PipeSpec::of(&link.spec.from_target);
    let shared = Arc::clone(&link.shared);
    link.shared.spawn(async move {
        let Ok((front, _)) = listener.accept().await else {
            return;
        };
        drop(listener);
        let back = match timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await {
            Ok(Ok(back)) => back,
            _ => {
                abort(front);
                return;
            }
        };
        relay(front, back, to, from, &shared).await;
    })?;
    Ok(addr)
}

/// Closes a connection with a reset (SO_LINGER 0), never a FIN.
fn abort(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Pipes `front` (the actor) and `back` (the target) both ways until both directions
/// ended cleanly, or one failed (then both are reset).
async fn relay(
    mut front: TcpStream,
    mut back: TcpStream,
    to: PipeSpec,
    from: PipeSpec,
    shared: &Shared,
) {
    let _ = front.set_nodelay(true);
    let _ = back.set_nodelay(true);
    let writes = &shared.tcp_writes;
    let failed = {
        let (mut front_r, mut front_w) = front.split();
        let (mut back_r, mut back_w) = back.split();
        let up = pipe(&mut front_r, &mut back_w, to, writes);
        let down = pipe(&mut back_r, &mut front_w, from, writes);
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            let ended = tokio::select! {
                r = &mut up, if !up_done => { up_done = true; r }
                r = &mut down, if !down_done => { down_done = true; r }
            };
            if ended.is_err() {
                break true;
            }
            if up_done && down_done {
                break false;
            }
        }
    };
    if failed {
        abort(front);
        abort(back);
    }
}

/// One direction: copy until end of stream, then half-close the writer.
async fn pipe<R, W>(r: &mut R, w: &mut W, spec: PipeSpec, writes: &AtomicU64) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if spec.delay.is_zero() {
        let mut buf = vec![0u8; READ_BUF];
        loop {
            let n = r.read(&mut buf).await?;
            if n == 0 {
                return w.shutdown().await;
            }
            write_pieces(w, &buf[..n], spec, writes).await?;
        }
    }
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(PIPE_QUEUE);
    let reader = async move {
        let mut buf = vec![0u8; READ_BUF];
        loop {
            let n = r.read(&mut buf).await?;
            if n == 0 {
                return Ok::<(), io::Error>(());
            }
            let due = Instant::now() + spec.delay;
            if tx.send((due, buf[..n].to_vec())).await.is_err() {
                return Ok(());
            }
        }
    };
    let writer = async {
        while let Some((due, data)) = rx.recv().await {
            sleep_until(due).await;
            write_pieces(w, &data, spec, writes).await?;
        }
        w.shutdown().await
    };
    tokio::try_join!(reader, writer).map(|_| ())
}

/// Writes `data` in pieces of at most `slice` bytes, each its own write, `gap` apart.
async fn write_pieces<W>(
    w: &mut W,
    data: &[u8],
    spec: PipeSpec,
    writes: &AtomicU64,
) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    for (i, piece) in data.chunks(spec.slice).enumerate() {
        if i > 0
            && let Some(gap) = spec.gap
        {
            tokio::time::sleep(gap).await;
        }
        w.write_all(piece).await?;
        writes.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}
