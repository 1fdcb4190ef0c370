//! Benchmark: UDP round trips through the link with no impairment, against the same
//! round trips sent directly, in one run (the bar: at most 1.5× the direct time).
//!
//! "Direct" is a plain tokio socket doing send_to / recv_from against a UDP echo
//! server on loopback. "Through the link" is a netdrill UDP actor whose traffic with
//! the echo server goes through [`DatagramLink`], configured so that every datagram in
//! both directions is decided (a `drop` list naming a datagram that never comes) but
//! none is impaired: the full per-datagram cost of the link, with nothing dropped.
//! The two alternate in blocks so that machine load hits both alike.
//!
//! Run: `cargo bench --bench link` (optional argument: round trips, default 20000).
//! `LINK_BENCH_CURRENT_THREAD=1` uses a current-thread runtime.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use netdrill::interp::link::Link;
use netdrill::interp::udp::UdpActor;
use netdrill::scenario::model::{LinkDirection, LinkSpec};
use tokio::net::UdpSocket;

const BLOCKS: usize = 20;
const PAYLOAD: [u8; 32] = *b"0123456789abcdefghijklmnopqrstuv";

async fn echo_server() -> SocketAddr {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind echo");
    let addr = sock.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let _ = sock.send_to(&buf[..n], from).await;
        }
    });
    addr
}

async fn direct(sock: &UdpSocket, echo: SocketAddr, n: usize) -> Duration {
    let mut buf = vec![0u8; 65_536];
    let start = Instant::now();
    for _ in 0..n {
        sock.send_to(&PAYLOAD, echo).await.expect("send");
        let (len, _) = sock.recv_from(&mut buf).await.expect("recv");
        assert_eq!(&buf[..len], &PAYLOAD);
    }
    start.elapsed()
}

async fn through_link(actor: &mut UdpActor, echo: SocketAddr, n: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        actor.send_to(&PAYLOAD, echo).await.expect("send");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let (got, _) = actor
            .recv_by(deadline)
            .await
            .expect("recv")
            .expect("a datagram within 5 s");
        assert_eq!(got, PAYLOAD);
    }
    start.elapsed()
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let current = std::env::var_os("LINK_BENCH_CURRENT_THREAD").is_some();
    let rt = if current {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    }
    .expect("runtime");
    rt.block_on(async {
        let echo = echo_server().await;
        let inert = LinkDirection {
            drop: vec![u64::MAX],
            ..LinkDirection::default()
        };
        let link = Link::new(
            &LinkSpec {
                to_target: inert.clone(),
                from_target: inert,
                seed: Some(1),
            },
            1,
        );
        let mut actor = UdpActor::bind((Ipv4Addr::LOCALHOST, 0).into()).await.expect("bind");
        actor.attach_link(link.datagram("bench", echo).expect("a deciding link"));
        let plain = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind");
        // Warm-up.
        direct(&plain, echo, 500).await;
        through_link(&mut actor, echo, 500).await;
        let per_block = n / BLOCKS;
        let (mut d_total, mut l_total) = (Duration::ZERO, Duration::ZERO);
        let mut ratios = Vec::new();
        for _ in 0..BLOCKS {
            let d = direct(&plain, echo, per_block).await;
            let l = through_link(&mut actor, echo, per_block).await;
            d_total += d;
            l_total += l;
            ratios.push(l.as_secs_f64() / d.as_secs_f64());
        }
        assert!(actor.take_decisions().is_empty(), "nothing was impaired");
        ratios.sort_by(f64::total_cmp);
        let us = |d: Duration| d.as_secs_f64() * 1e6 / (per_block * BLOCKS) as f64;
        println!(
            "link bench ({} runtime): {} sequential UDP round trips of 32 bytes, {BLOCKS} alternating blocks",
            if current { "current-thread" } else { "multi-thread" },
            per_block * BLOCKS
        );
        println!("  direct:        {:?}  ({:.1} µs/round trip)", d_total, us(d_total));
        println!("  through link:  {:?}  ({:.1} µs/round trip)", l_total, us(l_total));
        println!(
            "  ratio:        {:.2} overall, {:.2} median of blocks (target ≤ 1.5)",
            l_total.as_secs_f64() / d_total.as_secs_f64(),
            ratios[ratios.len() / 2]
        );
    });
}
