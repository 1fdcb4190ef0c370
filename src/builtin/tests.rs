/*! Tests of the built-in servers, over real sockets on 127.0.0.1. */

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::*;

const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(300);

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn tcp(name: &str) -> (BuiltinServer, TcpStream) {
    let server = BuiltinServer::start(name, Protocol::Tcp, any_port())
        .await
        .unwrap();
    let client = TcpStream::connect(server.local_addr()).await.unwrap();
    client.set_nodelay(true).unwrap();
    (server, client)
}

/// Reads exactly `n` bytes (bounded wait).
async fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(WAIT, s.read_exact(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    buf
}

/// Reads to EOF (bounded wait).
async fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("EOF in time")
        .expect("read");
    out
}

/// True when nothing at all (no byte, no EOF) arrives within [`QUIET`].
async fn stays_quiet(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    tokio::time::timeout(QUIET, s.read(&mut buf)).await.is_err()
}

#[tokio::test]
async fn unknown_name_is_invalid_input() {
    let err = BuiltinServer::start("nope", Protocol::Tcp, any_port())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    // A UDP-only name asked for over TCP is unknown too.
    let err = BuiltinServer::start("uppercase-udp-joins", Protocol::Tcp, any_port())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn every_catalog_entry_starts() {
    for info in CATALOG {
        let s = BuiltinServer::start(info.name, info.protocol, any_port())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", info.name));
        assert_ne!(s.local_addr().port(), 0);
        s.shutdown().await;
    }
}

#[tokio::test]
async fn uppercase_waits_for_a_line_split_across_writes() {
    let (_server, mut c) = tcp("uppercase").await;
    for piece in ["hel", "lo wo", "rld"] {
        c.write_all(piece.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stays_quiet(&mut c).await, "answered before the newline");
    c.write_all(b"\n").await.unwrap();
    assert_eq!(read_n(&mut c, 12).await, b"HELLO WORLD\n");
}

#[tokio::test]
async fn uppercase_answers_two_lines_in_one_write_and_keeps_other_bytes() {
    let (_server, mut c) = tcp("uppercase").await;
    c.write_all("ab\ncd é\n".as_bytes()).await.unwrap();
    let want = "AB\nCD é\n".as_bytes();
    assert_eq!(read_n(&mut c, want.len()).await, want);
}

#[tokio::test]
async fn uppercase_discards_the_tail_and_closes_after_eof() {
    let (_server, mut c) = tcp("uppercase").await;
    c.write_all(b"one\ntail without newline").await.unwrap();
    c.shutdown().await.unwrap();
    assert_eq!(read_to_eof(&mut c).await, b"ONE\n");
}

#[tokio::test]
async fn uppercase_streams_a_mebibyte_and_a_huge_line() {
    let (_server, c) = tcp("uppercase").await;
    let (mut r, mut w) = c.into_split();
    let mut payload = Vec::new();
    while payload.len() < 1 << 20 {
        payload.extend_from_slice(b"the quick brown fox jumps over the lazy dog\n");
    }
    // One line far longer than the server's line cap.
    payload.extend(std::iter::repeat_n(b'z', 3 * tcp::LINE_CAP));
    payload.push(b'\n');
    let expected = payload.to_ascii_uppercase();
    let writer = tokio::spawn(async move {
        w.write_all(&payload).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), r.read_to_end(&mut got))
        .await
        .expect("answer in time")
        .unwrap();
    writer.await.unwrap();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected);
}

#[tokio::test]
async fn echo_sends_back_every_byte_then_closes() {
    let (_server, mut c) = tcp("echo").await;
    c.write_all(b"abc\x00\xff no newline").await.unwrap();
    c.shutdown().await.unwrap();
    assert_eq!(read_to_eof(&mut c).await, b"abc\x00\xff no newline");
}

#[tokio::test]
async fn iterative_blocks_a_second_client_until_the_first_leaves() {
    let (server, mut first) = tcp("uppercase-iterative").await;
    let mut second = TcpStream::connect(server.local_addr()).await.unwrap();
    first.write_all(b"a\n").await.unwrap();
    assert_eq!(read_n(&mut first, 2).await, b"A\n");
    second.write_all(b"b\n").await.unwrap();
    assert!(
        stays_quiet(&mut second).await,
        "second client served at once"
    );
    first.shutdown().await.unwrap();
    assert_eq!(read_to_eof(&mut first).await, b"");
    assert_eq!(read_n(&mut second, 2).await, b"B\n");
}

#[tokio::test]
async fn concurrent_uppercase_serves_a_second_client_at_once() {
    let (server, mut first) = tcp("uppercase").await;
    let mut second = TcpStream::connect(server.local_addr()).await.unwrap();
    second.write_all(b"b\n").await.unwrap();
    assert_eq!(read_n(&mut second, 2).await, b"B\n");
    first.write_all(b"a\n").await.unwrap();
    assert_eq!(read_n(&mut first, 2).await, b"A\n");
}

#[tokio::test]
async fn one_recv_answers_only_its_first_read() {
    let (_server, mut c) = tcp("uppercase-one-recv").await;
    c.write_all(b"first ").await.unwrap();
    assert_eq!(read_n(&mut c, 6).await, b"FIRST ");
    // The server has closed: the rest of the line is never answered.
    let _ = c.write_all(b"second\n").await;
    let mut rest = Vec::new();
    let end = tokio::time::timeout(WAIT, c.read_to_end(&mut rest))
        .await
        .expect("closed in time");
    // EOF, or a reset because our late bytes hit a closed socket.
    assert!(end.is_err() || rest.is_empty(), "got {rest:?}");
}

#[tokio::test]
async fn no_close_answers_but_never_sends_eof() {
    let (server, mut c) = tcp("uppercase-no-close").await;
    c.write_all(b"x\n").await.unwrap();
    c.shutdown().await.unwrap();
    assert_eq!(read_n(&mut c, 2).await, b"X\n");
    assert!(stays_quiet(&mut c).await, "the server closed");
    // Dropping the server closes the connection.
    server.shutdown().await;
    let mut rest = Vec::new();
    let end = tokio::time::timeout(WAIT, c.read_to_end(&mut rest)).await;
    assert!(end.is_ok(), "still open after shutdown");
}

#[tokio::test]
async fn dropping_the_server_closes_listener_and_clients() {
    let (server, mut c) = tcp("uppercase").await;
    let addr = server.local_addr();
    c.write_all(b"a\n").await.unwrap();
    assert_eq!(read_n(&mut c, 2).await, b"A\n");
    drop(server);
    let mut rest = Vec::new();
    let end = tokio::time::timeout(WAIT, c.read_to_end(&mut rest)).await;
    assert!(end.is_ok(), "client connection outlived the server");
    // The abort is processed by now: nothing listens on the port any more. (Through
    // /proc: a connect could reach another test that reused the freed port.)
    if let Ok(text) = std::fs::read_to_string("/proc/net/tcp") {
        let listening = text.lines().skip(1).any(|row| {
            let mut cols = row.split_whitespace().skip(1);
            let local = cols.next().unwrap_or("");
            let state = cols.nth(1).unwrap_or("");
            local.ends_with(&format!(":{:04X}", addr.port()))
                && local.starts_with("0100007F")
                && state == "0A"
        });
        assert!(!listening, "listener still open");
    }
}

async fn udp(name: &str) -> (BuiltinServer, UdpSocket) {
    let server = BuiltinServer::start(name, Protocol::Udp, any_port())
        .await
        .unwrap();
    let client = UdpSocket::bind(any_port()).await.unwrap();
    client.connect(server.local_addr()).await.unwrap();
    (server, client)
}

async fn recv_dgram(s: &UdpSocket, wait: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 65_536];
    match tokio::time::timeout(wait, s.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

#[tokio::test]
async fn udp_uppercase_and_echo_answer_each_datagram() {
    let (_u, c) = udp("uppercase").await;
    c.send(b"hi there").await.unwrap();
    c.send(b"again").await.unwrap();
    assert_eq!(recv_dgram(&c, WAIT).await.unwrap(), b"HI THERE");
    assert_eq!(recv_dgram(&c, WAIT).await.unwrap(), b"AGAIN");
    let (_e, c) = udp("echo").await;
    c.send(b"Mixed Case").await.unwrap();
    assert_eq!(recv_dgram(&c, WAIT).await.unwrap(), b"Mixed Case");
}

#[tokio::test]
async fn udp_fixed_reply_never_answers_the_sender() {
    let (server, c) = udp("uppercase-udp-fixed-reply").await;
    let port = udp::fixed_reply_port(server.local_addr().port());
    // If that port happens to be free, the answer can be seen arriving there.
    let witness = UdpSocket::bind(("127.0.0.1", port)).await.ok();
    c.send(b"hello").await.unwrap();
    assert_eq!(recv_dgram(&c, QUIET).await, None);
    if let Some(w) = witness {
        assert_eq!(recv_dgram(&w, WAIT).await.unwrap(), b"HELLO");
    }
}

#[tokio::test]
async fn udp_joins_glues_two_quick_datagrams_but_answers_a_single_one() {
    let (_server, c) = udp("uppercase-udp-joins").await;
    c.send(b"one").await.unwrap();
    assert_eq!(recv_dgram(&c, WAIT).await.unwrap(), b"ONE");
    c.send(b"ab").await.unwrap();
    c.send(b"cd").await.unwrap();
    assert_eq!(recv_dgram(&c, WAIT).await.unwrap(), b"ABCD");
    assert_eq!(recv_dgram(&c, QUIET).await, None);
}

#[tokio::test]
async fn small_buffer_cuts_a_line_of_1024_bytes() {
    let (_server, mut c) = tcp("uppercase-small-buffer").await;
    // 1023 letters and the newline fit one read: answered right.
    let mut line = vec![b'a'; 1023];
    line.push(b'\n');
    c.write_all(&line).await.unwrap();
    let mut want = vec![b'A'; 1023];
    want.push(b'\n');
    assert_eq!(read_n(&mut c, 1024).await, want);
    // 1024 letters and the newline do not: the newline comes back as an empty line.
    let mut line = vec![b'b'; 1024];
    line.push(b'\n');
    c.write_all(&line).await.unwrap();
    c.shutdown().await.unwrap();
    let mut want = vec![b'B'; 1024];
    want.extend_from_slice(b"\n\n");
    assert_eq!(read_to_eof(&mut c).await, want);
}

#[tokio::test]
async fn two_reads_cuts_a_line_in_three_pieces() {
    let (_server, mut c) = tcp("uppercase-two-reads").await;
    // Two pieces: the second read completes the line.
    c.write_all(b"he").await.unwrap();
    assert!(stays_quiet(&mut c).await);
    c.write_all(b"llo\n").await.unwrap();
    assert_eq!(read_n(&mut c, 6).await, b"HELLO\n");
    // Three pieces: after two reads it answers what it has as a line.
    c.write_all(b"ab").await.unwrap();
    assert!(stays_quiet(&mut c).await);
    c.write_all(b"cd").await.unwrap();
    assert_eq!(read_n(&mut c, 5).await, b"ABCD\n");
}

#[tokio::test]
async fn pool_serves_four_clients_and_makes_a_fifth_wait() {
    let (server, mut first) = tcp("uppercase-pool").await;
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(TcpStream::connect(server.local_addr()).await.unwrap());
    }
    for c in others.iter_mut().chain(std::iter::once(&mut first)) {
        c.write_all(b"x\n").await.unwrap();
        assert_eq!(read_n(c, 2).await, b"X\n");
    }
    let mut fifth = TcpStream::connect(server.local_addr()).await.unwrap();
    fifth.write_all(b"e\n").await.unwrap();
    assert!(
        stays_quiet(&mut fifth).await,
        "a fifth client served at once"
    );
    first.shutdown().await.unwrap();
    assert_eq!(read_to_eof(&mut first).await, b"");
    assert_eq!(read_n(&mut fifth, 2).await, b"E\n");
}

#[tokio::test]
async fn udp_512_cuts_a_longer_datagram() {
    let server = BuiltinServer::start("uppercase-udp-512", Protocol::Udp, any_port())
        .await
        .unwrap();
    let sock = UdpSocket::bind(any_port()).await.unwrap();
    let mut buf = vec![0u8; 2048];
    for (len, want) in [(512, 512), (513, 512), (1000, 512), (3, 3)] {
        sock.send_to(&vec![b'q'; len], server.local_addr())
            .await
            .unwrap();
        let (n, _) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
            .await
            .expect("answer in time")
            .unwrap();
        assert_eq!(n, want, "a datagram of {len} bytes");
        assert!(buf[..n].iter().all(|&b| b == b'Q'));
    }
}
