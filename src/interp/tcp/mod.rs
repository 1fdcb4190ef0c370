/*!
A scripted TCP stream (a client that connected, or a connection a scripted listener
accepted) and its receive primitives.

Bytes that arrive are kept in one buffer owned by the actor, so one read may serve
several steps and one step may need several reads, exactly like the byte stream the
course describes. Every receive:
- waits at most until its deadline;
- fails the moment a byte differs from what it expects (it never waits out the timeout
  for data that is already wrong);
- buffers at most [`STEP_CAP`] bytes, and says so when a peer sends more.

While sending, the actor keeps draining what the peer sends back, so a large write
against a server that answers as it reads can never deadlock on full socket buffers.
*/

use std::io;
use std::pin::Pin;
use std::time::Duration;

use socket2::SockRef;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::transcript::{Evidence, EvidenceKind, Failure, show_bytes, show_hex};

/// Most bytes a receive step buffers before it gives up.
pub use crate::limits::STEP_CAP;

/// Size of one read from the socket: room for at least this much is made before a read,
/// and the buffer doubles from there as it fills.
const READ_CHUNK: usize = 4 * 1024;

/// What a step expects to come next instead of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// A normal close of the peer's sending side.
    Eof,
    /// A reset.
    Reset,
    /// Nothing at all until the deadline.
    Nothing,
}

/// What one read from the socket brought.
enum Read {
    Data,
    Eof,
    Reset,
    TimedOut,
    Error(io::Error),
    /// The process's budget for received data is used up (see [`crate::limits`]).
    OverBudget,
}

/// A TCP stream owned by an actor.
pub struct TcpActor {
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    /// How much of the process's receive budget `buf`'s capacity holds.
    charged: usize,
    eof: bool,
    reset: bool,
    /// The read deadline's timer, made on the first wait and moved to each new
    /// deadline, rather than a timer made and removed for every read.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Drop for TcpActor {
    fn drop(&mut self) {
        crate::limits::return_receive_budget(self.charged);
    }
}

/// Makes room in `buf` for one more read, taking what its capacity grows by from the
/// process's receive budget; false when the budget has no room.
fn make_room(buf: &mut Vec<u8>, charged: &mut usize) -> bool {
    if buf.capacity() - buf.len() >= READ_CHUNK {
        return true;
    }
    let want = (buf.len() + READ_CHUNK).max(buf.capacity() * 2);
    let grow = want.saturating_sub(*charged);
    if !crate::limits::take_receive_budget(grow) {
        return false;
    }
    *charged += grow;
    buf.reserve_exact(want - buf.len());
    true
}

impl TcpActor {
    /// Wraps a connected stream (TCP_NODELAY is turned on, so each write is a segment).
    pub fn new(stream: TcpStream) -> TcpActor {
        let _ = stream.set_nodelay(true);
        TcpActor {
            stream: Some(stream),
            buf: Vec::new(),
            charged: 0,
            eof: false,
            reset: false,
            timer: None,
        }
    }

    fn stream(&mut self) -> Result<&mut TcpStream, Failure> {
        self.stream
            .as_mut()
            .ok_or_else(|| Failure::msg("the socket is already closed"))
    }

    /// Reads once into the buffer, waiting at most until `deadline`.
    async fn fill(&mut self, deadline: Instant) -> Read {
        if self.reset {
            return Read::Reset;
        }
        if self.eof {
            return Read::Eof;
        }
        let Some(stream) = self.stream.as_mut() else {
            return Read::Error(io::Error::new(io::ErrorKind::NotConnected, "closed"));
        };
        let start = self.buf.len();
        if !make_room(&mut self.buf, &mut self.charged) {
            return Read::OverBudget;
        }
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        // The read first, as a timeout would: bytes that are there when the deadline
        // passes still count.
        let res = tokio::select! {
            biased;
            r = stream.read_buf(&mut self.buf) => Ok(r),
            () = timer.as_mut() => Err(()),
        };
        match res {
            Err(_) => Read::TimedOut,
            Ok(Ok(0)) => {
                self.eof = true;
                Read::Eof
            }
            Ok(Ok(_)) => Read::Data,
            Ok(Err(e)) => {
                self.buf.truncate(start);
                if is_reset(&e) {
                    self.reset = true;
                    Read::Reset
                } else {
                    Read::Error(e)
                }
            }
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        // The usual case, a step that read what it needed and little more: copy it out
        // and keep the buffer (and its charge) for the next step.
        if self.buf.len() - n <= READ_CHUNK {
            let taken = self.buf[..n].to_vec();
            self.buf.copy_within(n.., 0);
            self.buf.truncate(self.buf.len() - n);
            return taken;
        }
        let rest = self.buf.split_off(n);
        let taken = std::mem::replace(&mut self.buf, rest);
        // What was taken leaves with the step; only what is left stays charged.
        let keep = self.buf.capacity();
        if keep < self.charged {
            crate::limits::return_receive_budget(self.charged - keep);
            self.charged = keep;
        }
        taken
    }

    /// Writes `data` as the given pieces, pausing between them; keeps draining incoming
    /// bytes meanwhile. Bounded by `deadline`.
    pub async fn send(
        &mut self,
        pieces: &[&[u8]],
        pause: Option<Duration>,
        deadline: Instant,
    ) -> Result<(), Failure> {
        for (i, piece) in pieces.iter().enumerate() {
            if i > 0
                && let Some(p) = pause
            {
                tokio::time::sleep(p).await;
            }
            self.write_draining(piece, deadline).await?;
        }
        Ok(())
    }

    async fn write_draining(&mut self, mut data: &[u8], deadline: Instant) -> Result<(), Failure> {
        let TcpActor {
            stream,
            buf,
            charged,
            eof,
            reset,
            ..
        } = self;
        let stream = stream
            .as_mut()
            .ok_or_else(|| Failure::msg("the socket is already closed"))?;
        let (total, started) = (data.len(), Instant::now());
        while !data.is_empty() {
            match stream.try_write(data) {
                Ok(0) => return Err(Failure::msg("could not write: the connection is closed")),
                Ok(n) => {
                    data = &data[n..];
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    // Whatever the peer sent before it went away usually explains why.
                    while !*eof && buf.len() < STEP_CAP && make_room(buf, charged) {
                        match stream.try_read_buf(buf) {
                            Ok(0) => *eof = true,
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                    return Err(write_failure(&e, buf, *eof));
                }
            }
            let can_read = !*eof && !*reset && buf.len() < STEP_CAP;
            if can_read && !make_room(buf, charged) {
                return Err(Failure::msg(format!(
                    "could not write: {} ({} bytes still unsent)",
                    over_budget_message(),
                    data.len()
                )));
            }
            tokio::select! {
                biased;
                w = tokio::time::timeout_at(deadline, stream.writable()) => match w {
                    Err(_) => return Err(slow_reader(total, data.len(), started.elapsed())),
                    Ok(Err(e)) => return Err(write_failure(&e, buf, *eof)),
                    Ok(Ok(())) => {}
                },
                r = stream.readable(), if can_read => {
                    if r.is_ok() {
                        match stream.try_read_buf(buf) {
                            Ok(0) => *eof = true,
                            Ok(_) => {}
                            Err(e) if is_reset(&e) => *reset = true,
                            Err(_) => {}
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The next bytes must be exactly `expected` (any byte where `any` is true: a `??`
    /// of `recv_hex`); with `hex`, expected and actual are shown as hex bytes.
    pub async fn recv_exact(
        &mut self,
        expected: &[u8],
        any: &[bool],
        hex: bool,
        deadline: Instant,
    ) -> Result<Vec<u8>, Failure> {
        let show = if hex { show_hex } else { show_bytes };
        let kind = if hex {
            EvidenceKind::Hex
        } else {
            EvidenceKind::Text
        };
        loop {
            let n = self.buf.len().min(expected.len());
            if let Some(at) = scan::masked_difference(&self.buf[..n], &expected[..n], any) {
                return Err(self.exact_mismatch(expected, any, at, kind, deadline).await);
            }
            if self.buf.len() >= expected.len() {
                return Ok(self.take(expected.len()));
            }
            let got = self.buf.len();
            match self.fill(deadline).await {
                Read::Data => {}
                other => {
                    let end = other_end(&other);
                    return Err(self
                        .stopped(
                            other,
                            &format!("after {got} of {} expected bytes", expected.len()),
                            show(expected),
                        )
                        .with_evidence(self.arrived_against(kind, expected, end)));
                }
            }
        }
    }

    /// Reads through the next `\n`; the line (without `\n` and a `\r` before it) must
    /// equal `expected`. Fails as soon as the partial line can no longer match.
    pub async fn recv_line(
        &mut self,
        expected: &str,
        deadline: Instant,
    ) -> Result<Vec<u8>, Failure> {
        let want = expected.as_bytes();
        loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.buf) {
                let mut raw = self.take(pos + 1);
                let line = strip_eol(&raw);
                if line == want {
                    // The line without its end, as read (a capture decodes it).
                    let n = line.len();
                    raw.truncate(n);
                    return Ok(raw);
                }
                // Long lines are shown shortened: say how long each one is.
                let message = if want.len() != line.len() && want.len().max(line.len()) > 64 {
                    format!(
                        "the line differs from the expected one: it has {} bytes, the expected line {}",
                        line.len(),
                        want.len()
                    )
                } else {
                    "the line differs from the expected one".to_string()
                };
                return Err(Failure::diff(message, show_bytes(want), show_bytes(line))
                    .with_evidence(Evidence::compare(EvidenceKind::Text, want, line)));
            }
            if !line_prefix_ok(&self.buf, want) {
                return Err(self.line_mismatch(want, deadline).await);
            }
            if let Err(f) = self
                .read_more(deadline, "a line (through \\n)", || show_bytes(want))
                .await
            {
                let end = if self.eof {
                    " then EOF"
                } else if self.reset {
                    " then RST"
                } else {
                    ""
                };
                return Err(f.with_evidence(self.arrived_against(EvidenceKind::Text, want, end)));
            }
        }
    }

    /// Reads through the next occurrence of `delim` and returns everything read, the
    /// delimiter included.
    pub async fn recv_through(
        &mut self,
        delim: &[u8],
        what: &str,
        deadline: Instant,
    ) -> Result<Vec<u8>, Failure> {
        let mut searched: usize = 0;
        loop {
            let from = searched.saturating_sub(delim.len());
            if let Some(pos) = find(&self.buf[from..], delim) {
                return Ok(self.take(from + pos + delim.len()));
            }
            searched = self.buf.len();
            self.read_more(deadline, what, String::new).await?;
        }
    }

    /// Reads exactly `count` bytes.
    pub async fn recv_count(
        &mut self,
        count: usize,
        deadline: Instant,
    ) -> Result<Vec<u8>, Failure> {
        while self.buf.len() < count {
            let got = self.buf.len();
            match self.fill(deadline).await {
                Read::Data => {}
                other => {
                    return Err(self.stopped(
                        other,
                        &format!("after {got} of {count} bytes"),
                        String::new(),
                    ));
                }
            }
        }
        Ok(self.take(count))
    }

    /// Reads once more for a step waiting for `what`, enforcing the cap.
    ///
    /// `expected` says what the step expected, for a failure only (so nothing is
    /// formatted on the way of a step that passes).
    async fn read_more(
        &mut self,
        deadline: Instant,
        what: &str,
        expected: impl FnOnce() -> String,
    ) -> Result<(), Failure> {
        if self.buf.len() >= STEP_CAP {
            return Err(Failure::msg(format!(
                "no end of {what} within {} bytes: netdrill buffers at most that much for one step",
                STEP_CAP
            )));
        }
        let got = self.buf.len();
        match self.fill(deadline).await {
            Read::Data => Ok(()),
            other => Err(self.stopped(
                other,
                &format!("waiting for {what} ({} so far)", bytes_word(got)),
                expected(),
            )),
        }
    }

    /// The peer closed its sending side: read returns 0 with no bytes before it.
    pub async fn recv_eof(&mut self, deadline: Instant, timeout: Duration) -> Result<(), Failure> {
        self.expect_next(Next::Eof, deadline, timeout).await
    }

    /// The peer reset the connection.
    pub async fn recv_reset(
        &mut self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), Failure> {
        self.expect_next(Next::Reset, deadline, timeout).await
    }

    /// Nothing at all (no bytes, no EOF) arrives for `span`.
    pub async fn silence(&mut self, span: Duration) -> Result<(), Failure> {
        self.expect_next(Next::Nothing, Instant::now() + span, span)
            .await
    }

    /// The next thing on the socket (bytes, EOF, RST, or nothing by `deadline`) must be
    /// `want`; anything else fails, named against what was expected.
    async fn expect_next(
        &mut self,
        want: Next,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), Failure> {
        let (word, expected) = match want {
            Next::Eof => ("EOF", "EOF"),
            Next::Reset => ("a reset", "RST"),
            Next::Nothing => ("silence", "nothing"),
        };
        if !self.buf.is_empty() {
            return Err(Failure::diff(
                match want {
                    Next::Nothing => "expected silence, but bytes had already arrived".to_string(),
                    _ => format!("expected {word}, but bytes arrived first"),
                },
                expected,
                show_bytes(&self.buf),
            ));
        }
        let got = self.fill(deadline).await;
        let message = match (&got, want) {
            (Read::Eof, Next::Eof)
            | (Read::Reset, Next::Reset)
            | (Read::TimedOut, Next::Nothing) => {
                return Ok(());
            }
            (Read::Error(e), _) => return Err(Failure::msg(format!("read failed: {e}"))),
            (Read::OverBudget, _) => return Err(Failure::msg(over_budget_message())),
            (Read::TimedOut, _) => {
                let wait = humantime::format_duration(timeout);
                return Err(Failure::msg(match want {
                    Next::Eof => format!("no EOF within {wait}: the peer kept the connection open"),
                    _ => format!("no reset within {wait}: the connection stayed open"),
                }));
            }
            (Read::Data, _) => format!("expected {word}, but bytes arrived"),
            (Read::Eof, Next::Reset) => {
                "expected a reset, but the peer closed normally".to_string()
            }
            (Read::Eof, _) => "expected silence, but the peer closed the connection".to_string(),
            (Read::Reset, Next::Eof) => {
                "expected EOF (a normal close), but the peer reset the connection".to_string()
            }
            (Read::Reset, _) => "expected silence, but the peer reset the connection".to_string(),
        };
        let actual = match got {
            Read::Eof => "EOF".to_string(),
            Read::Reset => "RST".to_string(),
            _ => show_bytes(&self.buf),
        };
        Err(Failure::diff(message, expected, actual))
    }

    /// `shutdown(2)`.
    pub fn shutdown(&mut self, how: std::net::Shutdown) -> Result<(), Failure> {
        let stream = self.stream()?;
        SockRef::from(&*stream)
            .shutdown(how)
            .map_err(|e| Failure::msg(format!("shutdown failed: {e}")))
    }

    /// Closes normally (FIN).
    pub fn close(&mut self) {
        self.stream = None;
    }

    /// Closes with an RST (SO_LINGER 0).
    pub fn abort(&mut self) -> Result<(), Failure> {
        let stream = self.stream()?;
        SockRef::from(&*stream)
            .set_linger(Some(Duration::ZERO))
            .map_err(|e| Failure::msg(format!("could not set SO_LINGER: {e}")))?;
        self.stream = None;
        Ok(())
    }
}

/// True for the errors a reset connection gives.
pub fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
    )
}

mod failure;
mod scan;

pub use failure::bytes_word;
use failure::{other_end, over_budget_message, slow_reader, write_failure};
use scan::line_prefix_ok;
pub(crate) use scan::strip_eol;
pub use scan::{fill_wildcards, find, masked_difference};

#[cfg(test)]
mod tests;
