/*!
Benchmark of the link's overhead: sequential 32-byte UDP round trips against an echo
server on loopback, sent directly and through an unimpaired `Link::udp_flow`, in one
run, in alternating blocks. Prints both times and their ratio (target: at most 1.5).

Run with `cargo bench --bench link` (release). `LINK_BENCH_N` sets the number of round
trips (default 20,000);
`LINK_BENCH_CURRENT_THREAD=1` runs on a current-thread runtime instead of the
multi-thread one.
*/

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use netdrill::interp::link::Link;
use netdrill::scenario::model::LinkSpec;
use tokio::net::UdpSocket;

/// Blocks of round trips, alternating direct and through the link.
const BLOCKS: usize = 20;

/// A UDP echo server on 127.0.0.1:0; returns its address.
async fn echo() -> SocketAddr {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind echo");
    let addr = sock.local_addr().expect("echo addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let _ = sock.send_to(&buf[..n], from).await;
        }
    });
    addr
}

/// `n` sequential round trips to `to`; the time they took.
async fn round_trips(to: SocketAddr, n: usize) -> Duration {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind client");
    sock.connect(to).await.expect("connect");
    let msg = [0x5au8; 32];
    let mut buf = [0u8; 64];
    let start = Instant::now();
    for _ in 0..n {
        sock.send(&msg).await.expect("send");
        let got = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
            .await
            .expect("an answer within 2s")
            .expect("recv");
        assert_eq!(got, msg.len());
    }
    start.elapsed()
}

fn main() {
    let n: usize = std::env::var("LINK_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let current_thread = std::env::var_os("LINK_BENCH_CURRENT_THREAD").is_some();
    let rt = if current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()
    .expect("runtime");
    rt.block_on(async {
        let target = echo().await;
        let link = Link::new(&LinkSpec::default(), 0);
        let via = link.udp_flow("bench", target).await.expect("udp_flow");
        // Warm up both paths.
        round_trips(target, n / 10).await;
        round_trips(via, n / 10).await;
        // Alternate blocks so that load from elsewhere on the machine hits both alike.
        let block = (n / BLOCKS).max(1);
        let (mut direct, mut linked) = (Duration::ZERO, Duration::ZERO);
        let mut ratios = Vec::with_capacity(BLOCKS);
        for _ in 0..BLOCKS {
            let d = round_trips(target, block).await;
            let l = round_trips(via, block).await;
            direct += d;
            linked += l;
            ratios.push(l.as_secs_f64() / d.as_secs_f64());
        }
        ratios.sort_by(f64::total_cmp);
        let total = block * BLOCKS;
        let per = |d: Duration| d.as_secs_f64() * 1e6 / total as f64;
        let flavor = if current_thread {
            "current-thread"
        } else {
            "multi-thread"
        };
        println!(
            "link bench ({flavor} runtime): {total} sequential UDP round trips of 32 bytes, \
             {BLOCKS} alternating blocks"
        );
        println!(
            "  direct:       {:>10.3?}  ({:.1} µs/round trip)",
            direct,
            per(direct)
        );
        println!(
            "  through link: {:>10.3?}  ({:.1} µs/round trip)",
            linked,
            per(linked)
        );
        println!(
            "  ratio:        {:.2} overall, {:.2} median of blocks (target ≤ 1.5)",
            linked.as_secs_f64() / direct.as_secs_f64(),
            ratios[BLOCKS / 2]
        );
        link.shutdown();
    });
}
