/*!
A program's output as netdrill reads it: stdout a line at a time into a bounded queue,
the last lines of stderr ([`Tail`]), and the first bytes of both ([`Kept`]).
*/

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use super::{LINE_CAP, STDERR_BYTES, STDERR_LINES};
use crate::interp::lock;

/// The last lines of stderr, bounded in lines and bytes.
#[derive(Debug, Default)]
pub(super) struct Tail {
    pub(super) lines: VecDeque<String>,
    pub(super) bytes: usize,
}

impl Tail {
    pub(super) fn push(&mut self, line: String) {
        self.bytes += line.len();
        self.lines.push_back(line);
        while self.lines.len() > STDERR_LINES || (self.bytes > STDERR_BYTES && self.lines.len() > 1)
        {
            if let Some(old) = self.lines.pop_front() {
                self.bytes -= old.len();
            }
        }
        // A single line longer than the byte cap keeps only its end.
        if self.bytes > STDERR_BYTES
            && let Some(only) = self.lines.front_mut()
        {
            let mut cut = only.len() - STDERR_BYTES;
            while !only.is_char_boundary(cut) {
                cut += 1;
            }
            only.drain(..cut);
            self.bytes = only.len();
        }
    }
}

/// The first bytes a program printed, up to a cap; the rest is counted, not kept.
#[derive(Debug, Default)]
pub(super) struct Kept {
    pub(super) text: String,
    pub(super) cap: usize,
    pub(super) dropped: u64,
}

impl Kept {
    /// Whether a line of `len` bytes still fits.
    pub(super) fn has_room(&self, len: usize) -> bool {
        self.text.len() + len <= self.cap
    }

    pub(super) fn push(&mut self, line: &str) {
        let room = self.cap.saturating_sub(self.text.len());
        let need = line.len() + 1;
        if need <= room {
            self.text.push_str(line);
            self.text.push('\n');
        } else {
            self.dropped += need as u64;
        }
    }
}

/// Reads a program's stdout to its end, a line at a time (cut at [`LINE_CAP`] bytes,
/// without `\n` or `\r\n`): each line goes to `tx` while the queue has room and to
/// `kept` while it has room; a line that goes nowhere is counted and never built, so a
/// program that prints without end costs little.
pub(super) async fn pump_stdout<R: tokio::io::AsyncRead + Unpin>(
    out: R,
    tx: mpsc::Sender<String>,
    dropped: Arc<AtomicU64>,
    kept: Arc<Mutex<Kept>>,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, out);
    let mut line: Vec<u8> = Vec::new();
    let mut line_len = 0usize;
    let deliver = |line: &[u8], len: usize| -> bool {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if tx.is_closed() {
            return false;
        }
        let queue_room = tx.capacity() > 0;
        let keep = lock(&kept).has_room(line.len() + 1);
        if !queue_room {
            dropped.fetch_add(1, Ordering::Relaxed);
        }
        if !keep {
            lock(&kept).dropped += len as u64 + 1;
        }
        if queue_room || keep {
            let text = String::from_utf8_lossy(line).into_owned();
            if keep {
                lock(&kept).push(&text);
            }
            if queue_room {
                let _ = tx.try_send(text);
            }
        }
        true
    };
    loop {
        let buf = match reader.fill_buf().await {
            Ok(b) if !b.is_empty() => b,
            _ => break,
        };
        let n = buf.len();
        let mut start = 0;
        while let Some(i) = memchr::memchr(b'\n', &buf[start..]) {
            let piece = &buf[start..start + i];
            let room = LINE_CAP.saturating_sub(line.len());
            line.extend_from_slice(&piece[..piece.len().min(room)]);
            line_len += piece.len();
            if !deliver(&line, line_len) {
                return;
            }
            line.clear();
            line_len = 0;
            start += i + 1;
        }
        let rest = &buf[start..];
        let room = LINE_CAP.saturating_sub(line.len());
        line.extend_from_slice(&rest[..rest.len().min(room)]);
        line_len += rest.len();
        reader.consume(n);
    }
    if line_len > 0 {
        deliver(&line, line_len);
    }
}

/// Reads one line (through `\n`), cut at `cap` bytes (the rest of a longer line is
/// read and discarded); strips `\n` and a `\r` before it; `None` at EOF. A last line
/// without `\n` is returned too.
pub async fn read_capped_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    cap: usize,
) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut saw_any = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(saw_any.then(|| finish_line(line)));
        }
        saw_any = true;
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(&buf[..take.min(room)]);
        reader.consume(take);
        if done {
            return Ok(Some(finish_line(line)));
        }
    }
}

fn finish_line(mut line: Vec<u8>) -> String {
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}
