/*!
The TCP built-in servers: `uppercase`, `echo` and the flawed variants (`uppercase-iterative`, `-one-recv`, `-no-close`, `-small-buffer`, `-two-reads`, `-pool`).

# How `uppercase` answers (the line rule)
Every read is uppercased (ASCII only, other bytes kept) and appended to the pending
line. Each complete line (through `\n`) is then written back with ONE write of its own,
so two lines that arrive in one read get two writes, and a line split over many reads
gets one write once its `\n` arrives. A line that grows past [`LINE_CAP`] bytes without
a newline is flushed as it is (one write) and the rest of it streams on the same way, so
a huge line is answered with bounded memory. When the client half-closes (EOF) the
unterminated tail is discarded (not answered) and the server closes its side, so a
client's `shutdown = "write"` is followed by `recv_eof`.
*/

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// The longest partial line kept before it is answered as it is.
pub const LINE_CAP: usize = 64 * 1024;
/// How many bytes one read takes.
const READ_SIZE: usize = 16 * 1024;
/// How many clients are served at once; further clients wait in the listen backlog.
pub const MAX_CLIENTS: usize = 1024;

/// What a TCP built-in does with one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpKind {
    /// Lines answered in uppercase; close after EOF.
    Uppercase,
    /// Bytes sent back; close after EOF.
    Echo,
    /// First read answered, then close.
    OneRecv,
    /// Lines answered in uppercase; the connection is never closed.
    NoClose,
    /// One read of at most [`SMALL_BUFFER`] bytes taken as a whole line.
    SmallBuffer,
    /// A line read with at most two reads, taken as whole.
    TwoReads,
}

/// The buffer of `uppercase-small-buffer`.
pub const SMALL_BUFFER: usize = 1024;

/// How many clients a TCP built-in serves at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// One task per client (at most [`MAX_CLIENTS`]).
    Unlimited,
    /// N workers, each serving one client at a time until it leaves; the others wait in
    /// the listen backlog (1: an iterative server).
    Pool(usize),
}

/// Accepts clients forever, as `workers` says. Client tasks live in a [`JoinSet`] owned
/// by this future, so aborting it ends them all.
pub async fn serve(listener: TcpListener, kind: TcpKind, workers: Workers) {
    let n = match workers {
        Workers::Pool(n) => n.max(1),
        Workers::Unlimited => return serve_each(listener, kind).await,
    };
    let listener = std::sync::Arc::new(listener);
    let mut pool = JoinSet::new();
    for _ in 0..n {
        let listener = std::sync::Arc::clone(&listener);
        pool.spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        let _ = serve_client(stream, kind).await;
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                }
            }
        });
    }
    while pool.join_next().await.is_some() {}
}

/// A task per client.
async fn serve_each(listener: TcpListener, kind: TcpKind) {
    let mut clients = JoinSet::new();
    loop {
        while clients.try_join_next().is_some() {}
        if clients.len() >= MAX_CLIENTS {
            let _ = clients.join_next().await;
            continue;
        }
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // EMFILE and friends: back off briefly instead of spinning.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        clients.spawn(async move {
            let _ = serve_client(stream, kind).await;
        });
    }
}

/// Serves one client according to `kind`.
pub async fn serve_client(mut stream: TcpStream, kind: TcpKind) -> io::Result<()> {
    match kind {
        TcpKind::Uppercase => {
            uppercase_lines(&mut stream).await?;
            stream.shutdown().await
        }
        TcpKind::NoClose => {
            uppercase_lines(&mut stream).await?;
            // Keep the socket open until the server is dropped (the task is aborted).
            std::future::pending::<()>().await;
            Ok(())
        }
        TcpKind::Echo => {
            echo(&mut stream).await?;
            stream.shutdown().await
        }
        TcpKind::SmallBuffer => {
            let mut buf = vec![0u8; SMALL_BUFFER];
            loop {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    return stream.shutdown().await;
                }
                stream.write_all(&as_a_line(buf[..n].to_vec())).await?;
            }
        }
        TcpKind::TwoReads => {
            let mut buf = vec![0u8; READ_SIZE];
            loop {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    return stream.shutdown().await;
                }
                let mut line = buf[..n].to_vec();
                if !line.contains(&b'\n') {
                    let more = stream.read(&mut buf).await?;
                    line.extend_from_slice(&buf[..more]);
                }
                stream.write_all(&as_a_line(line)).await?;
            }
        }
        TcpKind::OneRecv => {
            let mut buf = vec![0u8; 4096];
            let n = stream.read(&mut buf).await?;
            if n > 0 {
                buf.truncate(n);
                buf.make_ascii_uppercase();
                stream.write_all(&buf).await?;
            }
            stream.shutdown().await
        }
    }
}

/// What a server that takes `read` for a whole line answers: it without its line end,
/// uppercased, with a `\n`.
fn as_a_line(mut read: Vec<u8>) -> Vec<u8> {
    while read.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
        read.pop();
    }
    read.make_ascii_uppercase();
    read.push(b'\n');
    read
}

/// Sends back every byte until EOF.
async fn echo(stream: &mut TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// Answers lines in uppercase until EOF (see the module doc for the exact rule).
async fn uppercase_lines(stream: &mut TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; READ_SIZE];
    let mut lines = LineSplitter::default();
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        buf[..n].make_ascii_uppercase();
        for out in lines.push(&buf[..n]) {
            stream.write_all(&out).await?;
        }
    }
}

/// Splits a byte stream into the writes `uppercase` makes: complete lines, and pieces of
/// at most [`LINE_CAP`] bytes of a line that has not ended yet.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Takes the bytes of one read; returns the writes to make, in order.
    pub fn push(&mut self, mut data: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let room = LINE_CAP - self.pending.len();
            let window = &data[..data.len().min(room)];
            match window.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.pending.extend_from_slice(&window[..=i]);
                    out.push(std::mem::take(&mut self.pending));
                    data = &data[i + 1..];
                }
                None => {
                    self.pending.extend_from_slice(window);
                    data = &data[window.len()..];
                    if self.pending.len() >= LINE_CAP {
                        out.push(std::mem::take(&mut self.pending));
                    }
                }
            }
        }
        out
    }

    /// The unterminated tail kept so far.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitter_answers_each_line_once_complete() {
        let mut s = LineSplitter::default();
        assert!(s.push(b"hel").is_empty());
        assert!(s.push(b"lo ").is_empty());
        assert_eq!(s.push(b"world\nab"), vec![b"hello world\n".to_vec()]);
        assert_eq!(s.pending(), b"ab");
        assert_eq!(
            s.push(b"\ncd\nef"),
            vec![b"ab\n".to_vec(), b"cd\n".to_vec()]
        );
        assert_eq!(s.pending(), b"ef");
    }

    #[test]
    fn splitter_flushes_a_huge_line_at_the_cap() {
        let mut s = LineSplitter::default();
        let big = vec![b'a'; LINE_CAP + 10];
        let out = s.push(&big);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), LINE_CAP);
        assert_eq!(s.pending().len(), 10);
        let out = s.push(b"\n");
        assert_eq!(out, vec![[vec![b'a'; 10], b"\n".to_vec()].concat()]);
    }
}
