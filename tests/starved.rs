/*!
A server starved of CPU while it starts is not failed for the machine's load.

This is its own test binary so that it runs alone: it loads one CPU on purpose (cargo
runs test binaries one after another, so the load never slows another test).

Four endless Python loops and a server that needs 0.6 s of CPU before it listens share
one CPU (the first this process may use), so the server gets about a fifth of it and
starts in about 3 s of wall time, past its 2 s readiness wait. The time it spent waiting
for the CPU is not counted, so the start succeeds.
*/

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netdrill::interp::target::RunningTarget;
use netdrill::scenario::Protocol;
use nix::sched::{CpuSet, sched_getaffinity};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(2);

/// The endless loops, killed by pid and reaped when dropped.
struct Load(Vec<Child>);

impl Drop for Load {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The first CPU this process may run on.
fn first_cpu() -> usize {
    let set = sched_getaffinity(Pid::from_raw(0)).expect("sched_getaffinity");
    (0..CpuSet::count())
        .find(|&i| set.is_set(i).unwrap_or(false))
        .expect("some CPU")
}

#[tokio::test]
async fn a_start_slowed_by_waiting_for_a_cpu_is_not_failed_for_it() {
    let cpu = first_cpu().to_string();
    let load = Load(
        (0..4)
            .map(|_| {
                Command::new("taskset")
                    .args(["-c", &cpu, "python3", "-c", "while 1: pass"])
                    .stdin(Stdio::null())
                    .spawn()
                    .expect("taskset and python3")
            })
            .collect(),
    );
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let began = Instant::now();
    let started = RunningTarget::start_command(
        &format!("taskset -c {cpu} python3 upper_server.py {{{{port}}}} --cpu 0.6"),
        &fixtures,
        Protocol::Tcp,
        None,
        WAIT,
    )
    .await;
    let took = began.elapsed();
    drop(load);
    let mut target = started.expect("a start slowed only by the load is not failed");
    assert!(
        took > WAIT,
        "the server was ready after {took:?}, within the {WAIT:?} wait: the load did not \
         slow it, so this run shows nothing about the rule"
    );
    let mut c = TcpStream::connect(target.addr).await.unwrap();
    c.write_all(b"hi\n").await.unwrap();
    let mut buf = [0u8; 3];
    tokio::time::timeout(Duration::from_secs(5), c.read_exact(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    assert_eq!(&buf, b"HI\n");
    target.stop().await;
}
