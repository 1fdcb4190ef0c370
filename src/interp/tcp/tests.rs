//! Unit tests of the TCP actor, against real loopback sockets.
use super::*;

#[test]
fn line_prefix_rules() {
    assert!(line_prefix_ok(b"", b"HI"));
    assert!(line_prefix_ok(b"H", b"HI"));
    assert!(line_prefix_ok(b"HI", b"HI"));
    assert!(line_prefix_ok(b"HI\r", b"HI"));
    assert!(!line_prefix_ok(b"h", b"HI"));
    assert!(!line_prefix_ok(b"HIX", b"HI"));
    assert_eq!(strip_eol(b"ab\r\n"), b"ab");
    assert_eq!(strip_eol(b"ab\n"), b"ab");
}

/// A connected pair on loopback: (our actor, the peer's stream).
async fn pair() -> (TcpActor, TcpStream) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (p, _) = l.accept().await.unwrap();
    (TcpActor::new(c), p)
}

#[tokio::test]
async fn what_comes_next_is_named_against_what_was_expected() {
    let soon = || Instant::now() + Duration::from_secs(2);
    let t = Duration::from_secs(2);
    // EOF: recv_eof passes; silence and recv_reset name the close.
    let (mut a, p) = pair().await;
    drop(p);
    let f = a.silence(Duration::from_secs(2)).await.unwrap_err();
    assert_eq!(
        f.message,
        "expected silence, but the peer closed the connection"
    );
    assert_eq!(f.actual.as_deref(), Some("EOF"));
    let f = a.recv_reset(soon(), t).await.unwrap_err();
    assert_eq!(f.message, "expected a reset, but the peer closed normally");
    a.recv_eof(soon(), t).await.unwrap();
    // Data: recv_eof shows the bytes; silence after them says they were waiting.
    let (mut a, mut p) = pair().await;
    tokio::io::AsyncWriteExt::write_all(&mut p, b"hi")
        .await
        .unwrap();
    let f = a.recv_eof(soon(), t).await.unwrap_err();
    assert_eq!(f.message, "expected EOF, but bytes arrived");
    assert_eq!(
        (f.expected.as_deref(), f.actual.as_deref()),
        (Some("EOF"), Some("\"hi\""))
    );
    let f = a.silence(Duration::from_millis(50)).await.unwrap_err();
    assert_eq!(f.message, "expected silence, but bytes had already arrived");
    // Nothing: silence passes; recv_eof times out with its own words.
    let (mut a, _p) = pair().await;
    a.silence(Duration::from_millis(50)).await.unwrap();
    let wait = Duration::from_millis(50);
    let f = a.recv_eof(Instant::now() + wait, wait).await.unwrap_err();
    assert_eq!(
        f.message,
        "no EOF within 50ms: the peer kept the connection open"
    );
}

#[test]
fn find_delimiters() {
    assert_eq!(find(b"abc\r\n\r\nx", b"\r\n\r\n"), Some(3));
    assert_eq!(find(b"abc", b"d"), None);
}
