//! Benchmark of the `netdrill` binary as a whole, for two bars of the design notes:
//!
//! 1. 500 small scenarios run with `-j 100` take a small multiple of the slowest one
//!    alone, not the sum: prints the wall time of the batch, of one scenario alone, and
//!    their ratio (the sum would be ~500×).
//! 2. The runner's memory stays bounded against a target that floods it: runs a
//!    scenario whose `recv_until` never sees its delimiter against a server that sends
//!    without end, and prints netdrill's peak resident memory (getrusage of children).
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

fn main() {
    parallel();
    flood_memory();
}
