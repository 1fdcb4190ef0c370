/*!
The impairing link: properties of its decisions, and real-socket relays on loopback.
*/

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netdrill::interp::link::{Direction, Link, decide};
use netdrill::interp::udp::UdpActor;
use netdrill::scenario::model::{LinkDirection, LinkSpec};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::timeout;

/// Bound on every wait for something that should happen.
const WAIT: Duration = Duration::from_secs(3);
/// How long to wait for something that should not happen.
const QUIET: Duration = Duration::from_millis(300);

fn probs(loss: f64, duplicate: f64, reorder: f64) -> LinkDirection {
    LinkDirection {
        loss,
        duplicate,
        reorder,
        ..LinkDirection::default()
    }
}

/// |observed − p| within 4.5 standard deviations of a binomial proportion.
fn within_bound(hits: usize, n: usize, p: f64) -> bool {
    let observed = hits as f64 / n as f64;
    (observed - p).abs() <= 4.5 * (p * (1.0 - p) / n as f64).sqrt() + 1e-12
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn same_seed_same_verdicts(
        seed: u64,
        flow in "[a-z]{1,8}",
        loss in 0.0f64..1.0,
        dup in 0.0f64..1.0,
        reorder in 0.0f64..1.0,
        jitter in 0u64..50,
    ) {
        let dir = LinkDirection { jitter: Duration::from_millis(jitter), ..probs(loss, dup, reorder) };
        let run = || -> Vec<_> {
            (1..=200).map(|s| decide(&dir, seed, &flow, Direction::ToTarget, s)).collect()
        };
        prop_assert_eq!(run(), run());
    }

    #[test]
    fn drop_list_drops_exactly_those(seed: u64, list in proptest::collection::btree_set(1u64..300, 0..20)) {
        let dir = LinkDirection { drop: list.iter().copied().collect(), ..LinkDirection::default() };
        let dropped: std::collections::BTreeSet<u64> = (1..=300)
            .filter(|&s| decide(&dir, seed, "f", Direction::FromTarget, s).drop)
            .collect();
        prop_assert_eq!(dropped, list);
    }

    #[test]
    fn rates_match_probabilities(
        seed: u64,
        loss in 0.0f64..=1.0,
        dup in 0.0f64..=1.0,
        reorder in 0.0f64..=1.0,
    ) {
        let dir = probs(loss, dup, reorder);
        let n = 10_000;
        let verdicts: Vec<_> = (1..=n as u64)
            .map(|s| decide(&dir, seed, "flow", Direction::ToTarget, s))
            .collect();
        let dropped = verdicts.iter().filter(|v| v.drop).count();
        prop_assert!(within_bound(dropped, n, loss), "loss {loss}: {dropped}/{n}");
        let kept: Vec<_> = verdicts.iter().filter(|v| !v.drop).collect();
        if kept.len() >= 1000 {
            let dups = kept.iter().filter(|v| v.duplicate).count();
            let held = kept.iter().filter(|v| v.hold).count();
            prop_assert!(within_bound(dups, kept.len(), dup), "duplicate {dup}: {dups}/{}", kept.len());
            prop_assert!(within_bound(held, kept.len(), reorder), "reorder {reorder}: {held}/{}", kept.len());
        }
    }

    #[test]
    fn another_flow_changes_nothing(seed: u64, loss in 0.0f64..1.0, other in "[a-z]{1,6}") {
        // decide() is keyed by the flow alone, so the verdicts of "a" are the same
        // whether they are computed alone or interleaved with any other flow's.
        let dir = probs(loss, 0.3, 0.3);
        let alone: Vec<_> = (1..=100).map(|s| decide(&dir, seed, "a", Direction::ToTarget, s)).collect();
        let mut mixed = Vec::new();
        for s in 1..=100 {
            let _ = decide(&dir, seed, &other, Direction::ToTarget, s);
            mixed.push(decide(&dir, seed, "a", Direction::ToTarget, s));
        }
        prop_assert_eq!(alone, mixed);
    }
}

/// A UDP echo server on 127.0.0.1:0 that records every source address it sees.
async fn udp_echo() -> (SocketAddr, Arc<Mutex<Vec<SocketAddr>>>) {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind echo");
    let addr = sock.local_addr().expect("echo addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            log.lock().expect("log").push(from);
            let _ = sock.send_to(&buf[..n], from).await;
        }
    });
    (addr, seen)
}

fn link_to(to_target: LinkDirection, from_target: LinkDirection, seed: u64) -> Link {
    Link::new(
        &LinkSpec {
            to_target,
            from_target,
            seed: Some(seed),
        },
        seed,
    )
}

/// A UDP actor on 127.0.0.1:0 whose traffic with `target` goes through the link.
async fn linked(target: SocketAddr, to: LinkDirection, from: LinkDirection, seed: u64) -> UdpActor {
    let mut actor = UdpActor::bind((Ipv4Addr::LOCALHOST, 0).into())
        .await
        .expect("bind actor");
    let link = link_to(to, from, seed)
        .datagram("c", target)
        .expect("an impairing link");
    actor.attach_link(link);
    actor
}

async fn send(actor: &mut UdpActor, to: SocketAddr, data: &[u8]) {
    actor.send_to(data, to).await.expect("send");
}

/// The next datagram delivered within `wait`, if any.
async fn recv_within(actor: &mut UdpActor, wait: Duration) -> Option<Vec<u8>> {
    let deadline = tokio::time::Instant::now() + wait;
    actor
        .recv_by(deadline)
        .await
        .ok()
        .flatten()
        .map(|(data, _)| data)
}

fn whats(actor: &mut UdpActor) -> Vec<(String, Direction, u64, String)> {
    actor
        .take_decisions()
        .into_iter()
        .map(|d| (d.flow, d.direction, d.seq, d.what))
        .collect()
}

#[tokio::test]
async fn udp_listed_drop_loses_exactly_that_datagram() {
    let (echo, seen) = udp_echo().await;
    let dir = LinkDirection {
        drop: vec![2],
        ..LinkDirection::default()
    };
    let mut a = linked(echo, dir, LinkDirection::default(), 1).await;
    for (i, msg) in [&b"one"[..], b"two", b"three"].into_iter().enumerate() {
        send(&mut a, echo, msg).await;
        let wait = if i == 1 { QUIET } else { WAIT };
        let got = recv_within(&mut a, wait).await;
        if i == 1 {
            assert_eq!(got, None, "the 2nd datagram must be lost");
        } else {
            assert_eq!(got.as_deref(), Some(msg));
        }
    }
    assert_eq!(seen.lock().expect("seen").len(), 2, "the target got two");
    assert_eq!(
        whats(&mut a),
        vec![(
            "c".into(),
            Direction::ToTarget,
            2,
            "dropped (listed)".into()
        )]
    );
}

#[tokio::test]
async fn udp_duplicate_arrives_twice() {
    let (echo, seen) = udp_echo().await;
    let mut a = linked(echo, probs(0.0, 1.0, 0.0), LinkDirection::default(), 2).await;
    send(&mut a, echo, b"twice").await;
    assert_eq!(
        recv_within(&mut a, WAIT).await.as_deref(),
        Some(&b"twice"[..])
    );
    assert_eq!(
        recv_within(&mut a, WAIT).await.as_deref(),
        Some(&b"twice"[..])
    );
    assert_eq!(recv_within(&mut a, QUIET).await, None);
    assert_eq!(
        seen.lock().expect("seen").len(),
        2,
        "the target got it twice"
    );
    assert_eq!(
        whats(&mut a),
        vec![("c".into(), Direction::ToTarget, 1, "duplicated".into())]
    );
}

#[tokio::test]
async fn udp_duplicate_from_target_is_delivered_twice() {
    let (echo, seen) = udp_echo().await;
    let mut a = linked(echo, LinkDirection::default(), probs(0.0, 1.0, 0.0), 2).await;
    send(&mut a, echo, b"once").await;
    assert_eq!(
        recv_within(&mut a, WAIT).await.as_deref(),
        Some(&b"once"[..])
    );
    assert_eq!(
        recv_within(&mut a, WAIT).await.as_deref(),
        Some(&b"once"[..])
    );
    assert_eq!(recv_within(&mut a, QUIET).await, None);
    assert_eq!(
        seen.lock().expect("seen").len(),
        1,
        "the target got it once"
    );
}

/// A seed under which, with `reorder = 0.5`, datagram 1 of flow "c" is held and 2 is not.
fn seed_holding_first(dir: &LinkDirection, direction: Direction) -> u64 {
    (0..10_000)
        .find(|&seed| {
            decide(dir, seed, "c", direction, 1).hold && !decide(dir, seed, "c", direction, 2).hold
        })
        .expect("such a seed among the first 10,000")
}

#[tokio::test]
async fn udp_held_back_arrives_after_the_next() {
    let (echo, seen) = udp_echo().await;
    let dir = probs(0.0, 0.0, 0.5);
    let seed = seed_holding_first(&dir, Direction::ToTarget);
    let mut a = linked(echo, dir, LinkDirection::default(), seed).await;
    send(&mut a, echo, b"first").await;
    send(&mut a, echo, b"second").await;
    assert_eq!(
        recv_within(&mut a, WAIT).await.as_deref(),
        Some(&b"second"[..])
    );
    assert_eq!(
        recv_within(&mut a, WAIT).await.as_deref(),
        Some(&b"first"[..])
    );
    assert_eq!(seen.lock().expect("seen").len(), 2);
    let decisions = whats(&mut a);
    assert_eq!(
        decisions.first(),
        Some(&("c".into(), Direction::ToTarget, 1, "held back".into()))
    );
    assert!(!decisions.iter().any(|d| d.2 == 2), "{decisions:?}");
}

#[tokio::test]
async fn udp_held_back_from_target_is_delivered_after_the_next() {
    let (echo, _) = udp_echo().await;
    let dir = probs(0.0, 0.0, 0.5);
    let seed = seed_holding_first(&dir, Direction::FromTarget);
    let mut a = linked(echo, LinkDirection::default(), dir, seed).await;
    send(&mut a, echo, b"first").await;
    send(&mut a, echo, b"second").await;
    assert_eq!(
        recv_within(&mut a, WAIT).await.as_deref(),
        Some(&b"second"[..])
    );
    assert_eq!(
        recv_within(&mut a, WAIT).await.as_deref(),
        Some(&b"first"[..])
    );
}

#[tokio::test]
async fn udp_held_back_alone_is_released() {
    let (echo, _) = udp_echo().await;
    for direction in [Direction::ToTarget, Direction::FromTarget] {
        let dir = probs(0.0, 0.0, 0.5);
        let seed = seed_holding_first(&dir, direction);
        let (to, from) = match direction {
            Direction::ToTarget => (dir, LinkDirection::default()),
            Direction::FromTarget => (LinkDirection::default(), dir),
        };
        let mut a = linked(echo, to, from, seed).await;
        send(&mut a, echo, b"lonely").await;
        assert_eq!(
            recv_within(&mut a, WAIT).await.as_deref(),
            Some(&b"lonely"[..]),
            "{direction}"
        );
    }
}

#[tokio::test]
async fn udp_from_target_drop() {
    let (echo, seen) = udp_echo().await;
    let dir = LinkDirection {
        drop: vec![1],
        ..LinkDirection::default()
    };
    let mut a = linked(echo, LinkDirection::default(), dir, 3).await;
    send(&mut a, echo, b"a").await;
    assert_eq!(recv_within(&mut a, QUIET).await, None);
    send(&mut a, echo, b"b").await;
    assert_eq!(recv_within(&mut a, WAIT).await.as_deref(), Some(&b"b"[..]));
    assert_eq!(seen.lock().expect("seen").len(), 2, "the target got both");
    assert_eq!(
        whats(&mut a),
        vec![(
            "c".into(),
            Direction::FromTarget,
            1,
            "dropped (listed)".into()
        )]
    );
}

#[tokio::test]
async fn udp_delay_is_recorded_and_delivered_in_order() {
    let (echo, _) = udp_echo().await;
    let dir = LinkDirection {
        delay: Duration::from_millis(20),
        ..LinkDirection::default()
    };
    for (to, from) in [
        (dir.clone(), LinkDirection::default()),
        (LinkDirection::default(), dir.clone()),
    ] {
        let mut a = linked(echo, to, from, 4).await;
        for msg in [&b"x"[..], b"y", b"z"] {
            send(&mut a, echo, msg).await;
        }
        for msg in [&b"x"[..], b"y", b"z"] {
            assert_eq!(recv_within(&mut a, WAIT).await.as_deref(), Some(msg));
        }
        let decisions = whats(&mut a);
        assert_eq!(decisions.len(), 3);
        assert!(
            decisions.iter().all(|d| d.3 == "delayed 20ms"),
            "{decisions:?}"
        );
    }
}

#[tokio::test]
async fn udp_silence_ignores_what_the_link_drops() {
    let (echo, _) = udp_echo().await;
    let dir = LinkDirection {
        drop: vec![1],
        ..LinkDirection::default()
    };
    let mut a = linked(echo, LinkDirection::default(), dir, 3).await;
    send(&mut a, echo, b"lost").await;
    a.silence(QUIET)
        .await
        .expect("the dropped answer is never seen");
}

#[tokio::test]
async fn no_impairment_means_no_datagram_link() {
    let (echo, _) = udp_echo().await;
    let link = link_to(probs(0.0, 0.0, 0.0), LinkDirection::default(), 5);
    assert!(link.datagram("a", echo).is_none());
    let tcp_only = link_to(
        LinkDirection {
            slice: Some(3),
            ..LinkDirection::default()
        },
        LinkDirection::default(),
        5,
    );
    assert!(tcp_only.datagram("a", echo).is_none());
}

#[tokio::test]
async fn udp_decisions_do_not_depend_on_other_flows() {
    let (echo, _) = udp_echo().await;
    let dir = probs(0.4, 0.0, 0.0);
    let run = |with_other: bool| {
        let dir = dir.clone();
        async move {
            let link = link_to(dir.clone(), LinkDirection::default(), 11);
            let mut a = UdpActor::bind((Ipv4Addr::LOCALHOST, 0).into())
                .await
                .expect("bind");
            a.attach_link(link.datagram("a", echo).expect("link a"));
            let mut other = if with_other {
                let mut b = UdpActor::bind((Ipv4Addr::LOCALHOST, 0).into())
                    .await
                    .expect("bind");
                b.attach_link(link.datagram("b", echo).expect("link b"));
                Some(b)
            } else {
                None
            };
            for i in 0..20u8 {
                send(&mut a, echo, &[i]).await;
                if let Some(o) = other.as_mut() {
                    send(o, echo, &[i]).await;
                }
            }
            a.take_decisions()
        }
    };
    let alone = run(false).await;
    let expected = (1..=20)
        .filter(|&s| decide(&dir, 11, "a", Direction::ToTarget, s).drop)
        .count();
    assert_eq!(alone.len(), expected);
    assert!(!alone.is_empty());
    assert_eq!(alone, run(true).await);
}

fn tcp_whats(link: &Link) -> Vec<(String, Direction, u64, String)> {
    link.decisions()
        .into_iter()
        .map(|d| (d.flow, d.direction, d.seq, d.what))
        .collect()
}

/// A TCP server on 127.0.0.1:0 running `serve` on its one connection.
async fn tcp_server<F, Fut>(serve: F) -> (SocketAddr, tokio::task::JoinHandle<Fut::Output>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        stream.set_nodelay(true).expect("nodelay");
        serve(stream).await
    });
    (addr, task)
}

async fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    timeout(WAIT, stream.read_to_end(&mut all))
        .await
        .expect("end of stream in time")
        .expect("read");
    all
}

#[tokio::test]
async fn tcp_slice_writes_small_pieces_intact() {
    let (target, server) = tcp_server(|mut s| async move { read_to_end(&mut s).await }).await;
    let dir = LinkDirection {
        slice: Some(3),
        ..LinkDirection::default()
    };
    let link = link_to(dir, LinkDirection::default(), 0);
    let via = link.tcp_flow("t", target).await.expect("tcp_flow");
    let mut c = TcpStream::connect(via).await.expect("connect");
    c.write_all(b"0123456789").await.expect("write");
    c.shutdown().await.expect("shutdown");
    let got = timeout(WAIT, server)
        .await
        .expect("server done")
        .expect("join");
    assert_eq!(got, b"0123456789");
    assert!(link.tcp_writes() >= 4, "{} writes", link.tcp_writes());
    assert_eq!(
        tcp_whats(&link),
        vec![(
            "t".into(),
            Direction::ToTarget,
            1,
            "pieces of at most 3 bytes".into()
        )]
    );
}

#[tokio::test]
async fn tcp_half_close_passes_through() {
    let (target, server) = tcp_server(|mut s| async move {
        let got = read_to_end(&mut s).await;
        s.write_all(&got.to_ascii_uppercase())
            .await
            .expect("answer");
        got
    })
    .await;
    let link = link_to(
        LinkDirection {
            delay: Duration::from_millis(5),
            ..LinkDirection::default()
        },
        LinkDirection {
            slice: Some(2),
            ..LinkDirection::default()
        },
        0,
    );
    let via = link.tcp_flow("t", target).await.expect("tcp_flow");
    let mut c = TcpStream::connect(via).await.expect("connect");
    c.write_all(b"hello").await.expect("write");
    c.shutdown().await.expect("half-close");
    assert_eq!(read_to_end(&mut c).await, b"HELLO");
    let got = timeout(WAIT, server)
        .await
        .expect("server done")
        .expect("join");
    assert_eq!(got, b"hello");
}

#[tokio::test]
async fn tcp_reset_from_target_passes_through() {
    let (target, _server) = tcp_server(|s| async move {
        let mut s = s;
        let mut one = [0u8; 1];
        let _ = s.read(&mut one).await;
        s.set_zero_linger().expect("linger");
        drop(s);
    })
    .await;
    let link = link_to(LinkDirection::default(), LinkDirection::default(), 0);
    let via = link.tcp_flow("t", target).await.expect("tcp_flow");
    let mut c = TcpStream::connect(via).await.expect("connect");
    c.write_all(b"x").await.expect("write");
    let mut buf = [0u8; 16];
    let got = timeout(WAIT, c.read(&mut buf))
        .await
        .expect("an outcome in time");
    let err = got.expect_err("a reset, not data or EOF");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn tcp_reset_from_actor_passes_through() {
    let (target, server) = tcp_server(|mut s| async move {
        let mut buf = [0u8; 16];
        loop {
            match s.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(_) => continue,
                Err(e) => return Err(e.kind()),
            }
        }
    })
    .await;
    let link = link_to(LinkDirection::default(), LinkDirection::default(), 0);
    let via = link.tcp_flow("t", target).await.expect("tcp_flow");
    let mut c = TcpStream::connect(via).await.expect("connect");
    c.write_all(b"x").await.expect("write");
    c.set_zero_linger().expect("linger");
    drop(c);
    let outcome = timeout(WAIT, server)
        .await
        .expect("server done")
        .expect("join");
    assert_eq!(outcome, Err(std::io::ErrorKind::ConnectionReset));
}

#[tokio::test]
async fn tcp_refused_target_closes_the_actor() {
    let closed = {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        l.local_addr().expect("addr")
    };
    let link = link_to(LinkDirection::default(), LinkDirection::default(), 0);
    let via = link.tcp_flow("t", closed).await.expect("tcp_flow");
    let mut c = TcpStream::connect(via).await.expect("connect");
    let mut buf = [0u8; 16];
    let got = timeout(WAIT, c.read(&mut buf))
        .await
        .expect("an outcome in time");
    assert!(matches!(got, Ok(0) | Err(_)), "{got:?}");
}

#[tokio::test]
async fn shutdown_stops_the_relays() {
    let (echo, _) = udp_echo().await;
    let link = link_to(LinkDirection::default(), LinkDirection::default(), 0);
    let tcp = link.tcp_flow("t", echo).await.expect("tcp_flow");
    link.shutdown();
    assert!(link.tcp_flow("u", echo).await.is_err());
    // The listener goes away with its task: connecting is refused soon.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match TcpStream::connect(tcp).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            _ if tokio::time::Instant::now() > deadline => panic!("listener still open"),
            _ => tokio::task::yield_now().await,
        }
    }
}
