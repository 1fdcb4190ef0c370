//! Benchmark of the `netdrill` binary as a whole, for two bars of the design notes:
//!
//! 1. 500 small scenarios run with `-j 100` take a small multiple of the slowest one
//!    alone, not the sum: prints the wall time of the batch, of one scenario alone, and
//!    their ratio (the sum would be ~500×).
//! 2. The runner's memory stays bounded against a target that floods it: runs a
//!    scenario whose `recv_until` never sees its delimiter against a server that sends
//!    without end, and prints netdrill's peak resident memory (getrusage of children).
//!
//! 3. Memory does not multiply with `parallel` copies: N copies sending one 3 MB
//!    `[vars]` value, for N = 100, 1,000 and 10,000, with netdrill's peak RSS.
//!
//! 4. A suite's per-scenario cost: 500 small scenarios (one line each, no sleep) with
//!    `-j 1` and with the default `-j` (the number of cores), interleaved, medians of 5:
//!    the time per scenario at `-j 1` (an upper bound on the runner's own overhead, the
//!    exchange included), the overhead beyond one scenario alone, and the speed-up.
//!
//! Run: `cargo bench --bench runner`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SMALL: &str = r#"name = "small {{N}}"
timeout = "2s"
steps = [
  { connect = "target" },
  { send = "hello {{N}}\n" },
  { sleep = "50ms" },
  { recv_line = "HELLO {{N}}" },
  { shutdown = "write" },
  { recv_eof = true },
]
[target]
builtin = "uppercase"
"#;

fn netdrill(args: &[&str], dir: &Path) -> Duration {
    let start = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_netdrill"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .expect("netdrill runs");
    let elapsed = start.elapsed();
    assert_eq!(status.code(), Some(0), "netdrill {args:?} failed");
    elapsed
}

fn parallel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let many = dir.path().join("many");
    std::fs::create_dir(&many).expect("mkdir");
    for n in 0..500 {
        let text = SMALL.replace("{{N}}", &n.to_string());
        std::fs::write(many.join(format!("s{n:03}.toml")), text).expect("write");
    }
    let one = netdrill(&["run", "many/s000.toml"], dir.path());
    let all = netdrill(&["run", "-j", "100", "many"], dir.path());
    println!("500 small scenarios (each sleeps 50 ms), -j 100:");
    println!("  one alone:   {:>8.1} ms", one.as_secs_f64() * 1e3);
    println!("  all 500:     {:>8.1} ms", all.as_secs_f64() * 1e3);
    println!(
        "  ratio:       {:.1}× the single run (the sum would be about 500×)",
        all.as_secs_f64() / one.as_secs_f64()
    );
}

fn flood_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile_server.py");
    let scenario = format!(
        "timeout = \"20s\"\nsteps = [\n  {{ connect = \"target\" }},\n  {{ recv_until = \"\\n\\n\" }},\n]\n[target]\ncommand = \"python3 {} flood {{{{port}}}}\"\n",
        server.display()
    );
    std::fs::write(dir.path().join("flood.toml"), scenario).expect("write");
    let start = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_netdrill"))
        .args(["run", "flood.toml"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .status()
        .expect("netdrill runs");
    let elapsed = start.elapsed();
    assert_eq!(status.code(), Some(1), "the flood must fail the scenario");
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    // ru_maxrss is in KiB on Linux; it is the largest of the children waited for so
    // far, which here is netdrill (the benchmark ran only small ones before).
    println!("a target flooding without end, against recv_until:");
    println!(
        "  verdict after {:.1} s (failed: step buffer cap hit)",
        elapsed.as_secs_f64()
    );
    println!(
        "  netdrill peak RSS: {:.1} MiB",
        usage.max_rss() as f64 / 1024.0
    );
}

/// Peak RSS (KiB) of `netdrill ARGS` in `dir`, measured in a child of its own so that
/// earlier runs do not count (`/usr/bin/time` is not everywhere: a `sh` in between
/// waits for netdrill, and its RUSAGE_CHILDREN is netdrill's alone).
fn peak_kib(dir: &Path, file: &str) -> (u64, Duration) {
    let start = Instant::now();
    let out = Command::new("python3")
        .args([
            "-c",
            "import resource,subprocess,sys; r=subprocess.run(sys.argv[1:]); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)",
            env!("CARGO_BIN_EXE_netdrill"),
            "run",
            file,
        ])
        .current_dir(dir)
        .stderr(Stdio::inherit())
        .output()
        .expect("python3 runs netdrill");
    // The last line is python's peak RSS; netdrill's report comes before it.
    let elapsed = start.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    // Passed, or failed with a verdict (the receive budget): never anything else.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{file}: {:?}\n{text}",
        out.status
    );
    if out.status.code() == Some(1) {
        let verdict = text
            .lines()
            .find(|l| l.contains(" copies: ") && l.contains("FAILED"))
            .unwrap_or("(failed)");
        println!(
            "    verdict: {}",
            verdict.trim().chars().take(160).collect::<String>()
        );
    }
    let kib = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("a peak RSS");
    (kib, elapsed)
}

/// `parallel = N` copies sending one 3 MB `[vars]` value to an echo server: memory must
/// not grow with N (the value is rendered once and shared by every copy; what the echo
/// sends back counts against one receive budget for the whole run, and a copy that
/// would go over it fails with a verdict that says so).
fn shared_values_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = "x".repeat(3_000_000);
    println!("parallel = N copies, each sending a 3 MB [vars] value to the echo server:");
    for n in [100, 1_000, 10_000] {
        let text = format!(
            "timeout = \"60s\"\nsteps = [\n  {{ parallel = {n}, steps = [ {{ connect = \"target\" }}, {{ send = \"{{{{a}}}}\" }} ] }},\n]\n[vars]\na = \"{big}\"\n[target]\nbuiltin = \"echo\"\n"
        );
        let file = format!("p{n}.toml");
        std::fs::write(dir.path().join(&file), text).expect("write");
        let (kib, took) = peak_kib(dir.path(), &file);
        println!(
            "  N = {n:>6}: peak RSS {:>7.1} MiB, {:.1} s",
            kib as f64 / 1024.0,
            took.as_secs_f64()
        );
    }
}

const QUICK: &str = r#"name = "quick {{N}}"
timeout = "2s"
steps = [
  { connect = "target" },
  { send = "hello {{N}}\n" },
  { recv_line = "HELLO {{N}}" },
]
[target]
builtin = "uppercase"
"#;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn suite_overhead() {
    let dir = tempfile::tempdir().expect("tempdir");
    let many = dir.path().join("quick");
    std::fs::create_dir(&many).expect("mkdir");
    for n in 0..500 {
        let text = QUICK.replace("{{N}}", &n.to_string());
        std::fs::write(many.join(format!("q{n:03}.toml")), text).expect("write");
    }
    let (mut one, mut serial, mut default) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        one.push(netdrill(&["run", "-j", "1", "quick/q000.toml"], dir.path()).as_secs_f64());
        serial.push(netdrill(&["run", "-j", "1", "quick"], dir.path()).as_secs_f64());
        default.push(netdrill(&["run", "quick"], dir.path()).as_secs_f64());
    }
    let (one, serial, default) = (median(one), median(serial), median(default));
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("500 small scenarios (one line each), medians of 5 interleaved rounds:");
    println!("  one alone, -j 1:      {:>8.1} ms", one * 1e3);
    println!("  all 500, -j 1:        {:>8.1} ms", serial * 1e3);
    println!("  all 500, default -j ({cores}): {:>8.1} ms", default * 1e3);
    println!(
        "  per scenario at -j 1: {:>8.3} ms (exchange included; beyond the first: {:.3} ms)",
        serial * 1e3 / 500.0,
        (serial - one) * 1e3 / 499.0
    );
    println!(
        "  speed-up of the default over -j 1: {:.2}×",
        serial / default
    );
}

fn main() {
    suite_overhead();
    parallel();
    flood_memory();
    shared_values_memory();
}
