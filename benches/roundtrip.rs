//! Benchmark: 10,000 send/recv round trips of a 32-byte line against the built-in
//! `uppercase` server, run by netdrill's engine and by a hand-written tokio client, in
//! the same process against the same server. Prints both times and the ratio (the bar
//! is netdrill ≤ 1.25× the hand-written client).
//!
//! Run: `cargo bench --bench roundtrip` (optional argument: round trips, default 10000).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use netdrill::builtin::BuiltinServer;
use netdrill::interp::engine::{self, RunOptions, Status, TargetOverride};
use netdrill::scenario::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// 31 characters that uppercase to themselves, and the newline: 32 bytes.
const LINE: &str = "0123456789ABCDEFGHIJKLMNOPQRSTU";

fn scenario_text(round_trips: usize) -> String {
    let mut s = String::from(
        "name = \"bench: round trips\"\ntimeout = \"5s\"\nsteps = [\n  { connect = \"target\" },\n",
    );
    for _ in 0..round_trips {
        s.push_str(&format!(
            "  {{ send = \"{LINE}\\n\" }},\n  {{ recv_line = \"{LINE}\" }},\n"
        ));
    }
    s.push_str("  { shutdown = \"write\" },\n  { recv_eof = true },\n]\n[target]\nbuiltin = \"uppercase\"\n");
    s
}

async fn hand_written(addr: SocketAddr, round_trips: usize) -> Duration {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let line = format!("{LINE}\n");
    let mut buf = Vec::with_capacity(4096);
    for _ in 0..round_trips {
        stream.write_all(line.as_bytes()).await.expect("write");
        loop {
            if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                assert_eq!(&buf[..pos], LINE.as_bytes());
                buf.drain(..=pos);
                break;
            }
            buf.reserve(4096);
            let n = stream.read_buf(&mut buf).await.expect("read");
            assert!(n > 0, "server closed early");
        }
    }
    stream.shutdown().await.expect("shutdown");
    let n = stream.read_buf(&mut buf).await.expect("read eof");
    assert_eq!(n, 0);
    start.elapsed()
}

async fn with_netdrill(scenario: &netdrill::Scenario, addr: SocketAddr) -> Duration {
    let opts = RunOptions {
        target: Some(TargetOverride::Address(addr.to_string())),
        ..RunOptions::default()
    };
    let start = Instant::now();
    let result = engine::run(scenario, &opts).await;
    let elapsed = start.elapsed();
    assert_eq!(
        result.status,
        Status::Passed,
        "{}",
        result.transcript.render()
    );
    elapsed
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let round_trips: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let scenario = netdrill::load_str(&scenario_text(round_trips), Path::new("bench.toml"))
        .expect("the benchmark scenario is valid");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let server =
            BuiltinServer::start("uppercase", Protocol::Tcp, "127.0.0.1:0".parse().unwrap())
                .await
                .expect("server");
        let addr = server.local_addr();
        // Warm up both paths once, then alternate so drift hits both equally.
        hand_written(addr, 500).await;
        with_netdrill(
            &netdrill::load_str(&scenario_text(500), Path::new("w.toml")).unwrap(),
            addr,
        )
        .await;
        let (mut hand, mut nd) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            hand.push(hand_written(addr, round_trips).await);
            nd.push(with_netdrill(&scenario, addr).await);
        }
        let (hand, nd) = (median(hand), median(nd));
        let per = |d: Duration| d.as_secs_f64() * 1e6 / round_trips as f64;
        println!(
            "round trips:       {round_trips} (32-byte line, built-in uppercase, median of 5)"
        );
        println!(
            "hand-written tokio: {:>8.1} ms  ({:.2} us/round trip)",
            hand.as_secs_f64() * 1e3,
            per(hand)
        );
        println!(
            "netdrill engine:    {:>8.1} ms  ({:.2} us/round trip)",
            nd.as_secs_f64() * 1e3,
            per(nd)
        );
        println!(
            "ratio netdrill/hand-written: {:.3} (bar: <= 1.25)",
            nd.as_secs_f64() / hand.as_secs_f64()
        );
    });
}
