//! Benchmark of netdrill's step loop: 10,000 round trips of a 32-byte line (send it,
//! read the uppercased line back) by three clients, each a separate process, against ONE
//! server that the bench starts on a free 127.0.0.1 port and ends (SIGTERM, then
//! SIGKILL; reaped by pid, also on panic) when it is done. The server is, by default, a
//! lean C server as a student writes it (`benches/roundtrip_server.c`: blocking reads
//! and writes, a process per client, compiled with gcc), so the clients' own costs show;
//! `SERVER=builtin` uses `netdrill serve uppercase` (a tokio server, costlier per
//! round trip, which narrows every ratio) instead. The clients:
//!
//! - `netdrill`: the `netdrill` binary running a generated scenario of 10,000
//!   `{ send = "<31 chars>\n" }, { recv_line = "<31 chars>" }` pairs with
//!   `--target-addr 127.0.0.1:PORT`;
//! - `tokio`: a hand-written current-thread tokio client doing the same exchanges (this
//!   bench binary re-executed with `NETDRILL_ROUNDTRIP_CLIENT` set);
//! - `python`: `benches/roundtrip_client.py`, a plain socket client (TCP_NODELAY,
//!   `sendall` + `readline`), run by the interpreter that `python3` names (its
//!   `sys.executable`, so a pyenv shim's shell is not timed).
//!
//! Two configurations: pinned (the server's threads and the client on CPU 0: the server
//! by `sched_setaffinity`, the client under `taskset -c 0`) and unpinned (both free).
//! Every round runs every client in both configurations, in a rotating order, so drift
//! hits all of them alike. Each time is a whole client process, spawn to exit: wall time,
//! and CPU time (user + sys) from `getrusage(RUSAGE_CHILDREN)` deltas around the reaped
//! child. The same clients with 0 round trips (connect, half-close, EOF) are measured in
//! every round too, so the fixed cost of a process can be told from the per-step cost,
//! and so is `netdrill check` of the 20,000-step file (what loading it costs).
//!
//! Printed per configuration: the median wall and CPU time of each client, the ratios
//! netdrill/tokio (wall and CPU) and python/netdrill (wall) next to their bars (wall ≤
//! 1.2× tokio, CPU ≤ 1.5× tokio, ≥ 1.5× faster than Python when pinned), and the same
//! ratios net of the 0-round-trip cost.
//!
//! Run: `cargo bench --bench roundtrip` (optional argument: round trips, default 10000;
//! `ROUNDS=N` sets the rounds, default 7; `SERVER=c|builtin` the server). Needs
//! `python3`, `gcc` and `/usr/bin/taskset`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// 31 characters that uppercase to themselves, and the newline: 32 bytes.
const LINE: &str = "0123456789ABCDEFGHIJKLMNOPQRSTU";
/// Set (to `ADDR ROUND_TRIPS`) when this binary is re-executed as the tokio client.
const CLIENT_ENV: &str = "NETDRILL_ROUNDTRIP_CLIENT";
const TASKSET: &str = "/usr/bin/taskset";

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

/// The tokio client (in the re-executed child): the same exchanges as the scenario.
async fn hand_written(addr: SocketAddr, round_trips: usize) {
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
    assert_eq!(n, 0, "bytes after the last answer");
}

fn tokio_client_main(spec: &str) {
    let (addr, n) = spec.split_once(' ').expect("ADDR ROUND_TRIPS");
    let addr: SocketAddr = addr.parse().expect("address");
    let n: usize = n.parse().expect("round trips");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(hand_written(addr, n));
}

/// A child process that is ended (if still running) and reaped by pid when dropped.
struct Reaped {
    child: Child,
    what: &'static str,
}

impl Reaped {
    fn spawn(cmd: &mut Command, what: &'static str) -> Reaped {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Reaped { child, what }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Waits for the exit, panicking unless it is a success.
    fn wait_ok(mut self) {
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "{} failed: {status}", self.what);
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // Politely first (the server shuts down on SIGTERM), then for sure.
        let _ = kill(self.pid(), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server process (its stdout kept open so its one line of output never meets a
/// closed pipe).
struct Server {
    name: &'static str,
    process: Reaped,
    _stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl Server {
    /// Starts the server that `SERVER` names: `c` (the default; compiled with gcc into
    /// `dir`) or `builtin` (`netdrill serve uppercase`).
    fn start(dir: &Path) -> Server {
        let which = std::env::var("SERVER").unwrap_or_else(|_| "c".into());
        let mut process = match which.as_str() {
            "c" => {
                let exe = dir.join("roundtrip_server");
                let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/roundtrip_server.c");
                let status = Command::new("gcc")
                    .args(["-O2", "-o"])
                    .arg(&exe)
                    .arg(&src)
                    .status()
                    .expect("gcc runs");
                assert!(status.success(), "gcc failed on {}", src.display());
                Reaped::spawn(
                    Command::new(&exe)
                        .stdout(Stdio::piped())
                        .stderr(Stdio::inherit()),
                    "the C uppercase server",
                )
            }
            "builtin" => Reaped::spawn(
                Command::new(env!("CARGO_BIN_EXE_netdrill"))
                    .args(["serve", "uppercase"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit()),
                "netdrill serve uppercase",
            ),
            other => panic!("SERVER={other}: use `c` or `builtin`"),
        };
        // Both listen on a free port and name it last on their first line:
        // "serving uppercase (tcp) on 127.0.0.1:PORT", "listening on 127.0.0.1:PORT".
        let mut stdout = BufReader::new(process.child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the server's first line");
        let addr: SocketAddr = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in the server's line {line:?}"));
        assert!(addr.ip().is_loopback(), "server not on 127.0.0.1: {addr}");
        Server {
            name: if which == "c" {
                "a C server (benches/roundtrip_server.c, one process per client)"
            } else {
                "netdrill serve uppercase"
            },
            process,
            _stdout: stdout,
            addr,
        }
    }

    /// Sets the CPU affinity of every thread of the server.
    fn set_affinity(&self, cpus: &CpuSet) {
        let pid = self.process.pid();
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("server threads");
        for task in tasks {
            let tid: i32 = task
                .expect("task")
                .file_name()
                .to_string_lossy()
                .parse()
                .expect("tid");
            // A thread that ended since the listing is no error.
            let _ = sched_setaffinity(Pid::from_raw(tid), cpus);
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Client {
    Netdrill,
    Tokio,
    Python,
}

const CLIENTS: [Client; 3] = [Client::Netdrill, Client::Tokio, Client::Python];

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::Netdrill => "netdrill",
            Client::Tokio => "tokio",
            Client::Python => "python",
        }
    }
}

#[derive(Clone, Copy)]
struct Config {
    pinned: bool,
}

/// The scenario files and the Python client's path.
struct Files {
    _dir: tempfile::TempDir,
    full: PathBuf,
    empty: PathBuf,
    python: PathBuf,
    /// `python3` resolved to the interpreter itself (a pyenv shim would add ~100 ms
    /// of shell to every run).
    python_exe: String,
}

#[derive(Clone, Copy, Default)]
struct Sample {
    wall: Duration,
    user: Duration,
    sys: Duration,
}

impl Sample {
    fn cpu(&self) -> Duration {
        self.user + self.sys
    }
}

fn children_usage() -> (Duration, Duration) {
    let u = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let d = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    (d(u.user_time()), d(u.system_time()))
}

/// Runs one client process to its exit and measures it.
fn run_client(
    client: Client,
    config: Config,
    addr: SocketAddr,
    round_trips: usize,
    files: &Files,
) -> Sample {
    let mut argv: Vec<String> = Vec::new();
    if config.pinned {
        argv.extend([TASKSET.into(), "-c".into(), "0".into()]);
    }
    let mut envs: Vec<(&str, String)> = Vec::new();
    match client {
        Client::Netdrill => {
            let scenario = if round_trips == 0 {
                &files.empty
            } else {
                &files.full
            };
            argv.extend([
                env!("CARGO_BIN_EXE_netdrill").into(),
                "run".into(),
                "--target-addr".into(),
                addr.to_string(),
                scenario.display().to_string(),
            ]);
        }
        Client::Tokio => {
            let me = std::env::current_exe().expect("current exe");
            argv.push(me.display().to_string());
            envs.push((CLIENT_ENV, format!("{addr} {round_trips}")));
        }
        Client::Python => {
            argv.extend([
                files.python_exe.clone(),
                files.python.display().to_string(),
                addr.ip().to_string(),
                addr.port().to_string(),
                round_trips.to_string(),
            ]);
        }
    }
    measure(&argv, envs, client.name())
}

/// `netdrill check` of the full scenario: what loading its 20,000 steps costs.
fn run_check(config: Config, files: &Files) -> Sample {
    let mut argv: Vec<String> = Vec::new();
    if config.pinned {
        argv.extend([TASKSET.into(), "-c".into(), "0".into()]);
    }
    argv.extend([
        env!("CARGO_BIN_EXE_netdrill").into(),
        "check".into(),
        files.full.display().to_string(),
    ]);
    measure(&argv, Vec::new(), "netdrill check")
}

/// Runs `argv` to its exit: its wall time and the CPU time of the reaped child.
fn measure(argv: &[String], envs: Vec<(&str, String)>, what: &'static str) -> Sample {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .envs(envs)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let (user0, sys0) = children_usage();
    let start = Instant::now();
    Reaped::spawn(&mut cmd, what).wait_ok();
    let wall = start.elapsed();
    let (user1, sys1) = children_usage();
    Sample {
        wall,
        user: user1 - user0,
        sys: sys1 - sys0,
    }
}

/// The interpreter that `python3` runs.
fn python_executable() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .stderr(Stdio::inherit())
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "python3 failed: {}", out.status);
    let exe = String::from_utf8(out.stdout).expect("utf-8");
    let exe = exe.trim();
    assert!(!exe.is_empty(), "python3 names no executable");
    exe.to_string()
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

/// Medians of one client in one configuration.
struct Stats {
    wall: Duration,
    cpu: Duration,
    user: Duration,
    sys: Duration,
    wall0: Duration,
    cpu0: Duration,
}

fn stats(full: &[Sample], empty: &[Sample]) -> Stats {
    // The user/sys split shown is that of the sample with the median CPU time.
    let mut by_cpu = full.to_vec();
    by_cpu.sort_by_key(Sample::cpu);
    let mid = by_cpu[by_cpu.len() / 2];
    let walls = |s: &[Sample]| s.iter().map(|x| x.wall).collect::<Vec<_>>();
    let cpus = |s: &[Sample]| s.iter().map(Sample::cpu).collect::<Vec<_>>();
    Stats {
        wall: median(&walls(full)),
        cpu: mid.cpu(),
        user: mid.user,
        sys: mid.sys,
        wall0: median(&walls(empty)),
        cpu0: median(&cpus(empty)),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

fn report(config: Config, round_trips: usize, s: &[Stats; 3], checks: &[Sample]) {
    let [nd, tk, py] = s;
    println!();
    if config.pinned {
        println!("pinned (server threads and client on CPU 0):");
    } else {
        println!("unpinned (server and client free on every CPU):");
    }
    println!(
        "  {:<9} {:>9} {:>9} {:>17} {:>12} {:>11} {:>16}",
        "client",
        "wall ms",
        "CPU ms",
        "(user+sys ms)",
        "0-trip wall",
        "0-trip CPU",
        "net us/trip w/c"
    );
    for (client, st) in CLIENTS.iter().zip(s) {
        let net = |a: Duration, b: Duration| {
            (a.as_secs_f64() - b.as_secs_f64()) * 1e6 / round_trips as f64
        };
        println!(
            "  {:<9} {:>9.1} {:>9.1} {:>17} {:>12.1} {:>11.1} {:>16}",
            client.name(),
            ms(st.wall),
            ms(st.cpu),
            format!("({:.1}+{:.1})", ms(st.user), ms(st.sys)),
            ms(st.wall0),
            ms(st.cpu0),
            format!(
                "{:.2} / {:.2}",
                net(st.wall, st.wall0),
                net(st.cpu, st.cpu0)
            ),
        );
    }
    let check_cpu = checks.iter().map(Sample::cpu).collect::<Vec<_>>();
    println!(
        "  (netdrill check of the same file, loading only: wall {:.1} ms, CPU {:.1} ms)",
        ms(median(&checks.iter().map(|c| c.wall).collect::<Vec<_>>())),
        ms(median(&check_cpu))
    );
    let wall = ratio(nd.wall, tk.wall);
    let cpu = ratio(nd.cpu, tk.cpu);
    let py_wall = ratio(py.wall, nd.wall);
    // Net of the 0-round-trip run (signed: noise can make a difference negative).
    let net = |a: Duration, a0: Duration, b: Duration, b0: Duration| {
        (a.as_secs_f64() - a0.as_secs_f64()) / (b.as_secs_f64() - b0.as_secs_f64())
    };
    let net_wall = net(nd.wall, nd.wall0, tk.wall, tk.wall0);
    let net_cpu = net(nd.cpu, nd.cpu0, tk.cpu, tk.cpu0);
    let net_py = net(py.wall, py.wall0, nd.wall, nd.wall0);
    println!(
        "  netdrill/tokio  wall {wall:.3}  (bar <= 1.2)  {:<6} net of 0-trip: {net_wall:.3}",
        verdict(wall <= 1.2)
    );
    println!(
        "  netdrill/tokio  CPU  {cpu:.3}  (bar <= 1.5)  {:<6} net of 0-trip: {net_cpu:.3}",
        verdict(cpu <= 1.5)
    );
    if config.pinned {
        println!(
            "  python/netdrill wall {py_wall:.3}  (bar >= 1.5)  {:<6} net of 0-trip: {net_py:.3}",
            verdict(py_wall >= 1.5)
        );
    } else {
        println!(
            "  python/netdrill wall {py_wall:.3}  (bar is for pinned) net of 0-trip: {net_py:.3}"
        );
    }
}

fn main() {
    if let Ok(spec) = std::env::var(CLIENT_ENV) {
        tokio_client_main(&spec);
        return;
    }
    let round_trips: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7)
        .max(1);

    let dir = tempfile::tempdir().expect("tempdir");
    let files = Files {
        full: dir.path().join("roundtrip.toml"),
        empty: dir.path().join("roundtrip0.toml"),
        python: Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/roundtrip_client.py"),
        python_exe: python_executable(),
        _dir: dir,
    };
    std::fs::write(&files.full, scenario_text(round_trips)).expect("write scenario");
    std::fs::write(&files.empty, scenario_text(0)).expect("write scenario");

    let server = Server::start(files._dir.path());
    let addr = server.addr;
    let everywhere = sched_getaffinity(Pid::from_raw(0)).expect("own affinity");
    let mut cpu0 = CpuSet::new();
    cpu0.set(0).expect("cpu 0");
    let configs = [Config { pinned: true }, Config { pinned: false }];

    println!(
        "round trips: {round_trips} of a 32-byte line; server: {} (pid {}) on {addr}",
        server.name,
        server.process.pid()
    );
    println!(
        "each client is its own process, timed spawn to exit; CPU = user+sys of the child \
         (getrusage); median of {rounds} interleaved rounds"
    );
    println!(
        "(the kernel splits user/sys by sampling, the sum is exact; 0-trip = the same \
         client with 0 round trips; net = per round trip after subtracting it)"
    );

    // samples[config][client] = (full, empty)
    let mut samples: Vec<Vec<(Vec<Sample>, Vec<Sample>)>> =
        vec![vec![(Vec::new(), Vec::new()); CLIENTS.len()]; configs.len()];
    let mut checks: Vec<Vec<Sample>> = vec![Vec::new(); configs.len()];
    // Round 0 is a warm-up (page cache, the server's first connections): not counted.
    for round in 0..=rounds {
        for (ci, &config) in configs.iter().enumerate() {
            server.set_affinity(if config.pinned { &cpu0 } else { &everywhere });
            for k in 0..CLIENTS.len() {
                let li = (k + round) % CLIENTS.len();
                let client = CLIENTS[li];
                let full = run_client(client, config, addr, round_trips, &files);
                let empty = run_client(client, config, addr, 0, &files);
                if round > 0 {
                    samples[ci][li].0.push(full);
                    samples[ci][li].1.push(empty);
                }
            }
            let check = run_check(config, &files);
            if round > 0 {
                checks[ci].push(check);
            }
        }
    }
    for (ci, &config) in configs.iter().enumerate() {
        let s = &samples[ci];
        let st = [0, 1, 2].map(|i| stats(&s[i].0, &s[i].1));
        report(config, round_trips, &st, &checks[ci]);
    }
    drop(server);
}
