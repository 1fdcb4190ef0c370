//! Benchmark of `netdrill grade` at class scale: the fixture class of
//! tests/fixtures/class scaled to 50 submissions × 5 scenarios, graded with `--jobs 1`,
//! `2` and `4`.
//!
//! The submissions are 10 copies each of five kinds whose tests mostly wait: a correct
//! server, an iterative one and one that never closes (each waits out a 1 s timeout in
//! one test), one that answers its first recv only, and one that drips its answers a
//! byte every 30 ms. With a namespace per submission, submissions that wait overlap, so
//! `--jobs 4` should take well under half of `--jobs 1` even on two cores.
//!
//! Prints, per `--jobs`: the wall time, its ratio to `--jobs 1`, the peak resident
//! memory of all netdrill processes together (the grader and its workers, sampled from
//! /proc every 50 ms) and the largest peak of any one process (getrusage of children,
//! which includes the student programs).
//!
//! Run: `cargo bench --bench grade`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const KINDS: [&str; 5] = [
    "correct-py",
    "iterative",
    "never-closes",
    "one-recv",
    "slow-drip",
];
const COPIES: usize = 10;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

/// The sum of VmRSS (KiB) of every live process running `exe`.
fn netdrill_rss_kib(exe: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        if std::fs::read_link(entry.path().join("exe")).ok().as_deref() != Some(exe) {
            continue;
        }
        if let Ok(status) = std::fs::read_to_string(entry.path().join("status"))
            && let Some(line) = status.lines().find(|l| l.starts_with("VmRSS:"))
        {
            total += line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

struct Measured {
    wall: Duration,
    peak_total_kib: u64,
}

fn grade(root: &Path, subs: &[PathBuf], jobs: usize, out: &Path) -> Measured {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_netdrill"));
    let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
    let running = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let running = Arc::clone(&running);
        let peak = Arc::clone(&peak);
        let exe = exe.clone();
        std::thread::spawn(move || {
            while running.load(Ordering::Relaxed) {
                peak.fetch_max(netdrill_rss_kib(&exe), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let start = Instant::now();
    let status = Command::new(&exe)
        .arg("grade")
        .arg(root.join("rubric.toml"))
        .args(subs)
        .arg("--out")
        .arg(out)
        .arg("--jobs")
        .arg(jobs.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("netdrill runs");
    let wall = start.elapsed();
    running.store(false, Ordering::Relaxed);
    let _ = sampler.join();
    assert_eq!(status.code(), Some(0), "grade --jobs {jobs} failed");
    Measured {
        wall,
        peak_total_kib: peak.load(Ordering::Relaxed),
    }
}

fn max_child_rss_kib() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map(|u| u.max_rss())
        .unwrap_or(0)
}

fn main() {
    let class = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/class");
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    std::fs::copy(class.join("rubric.toml"), root.join("rubric.toml")).expect("rubric");
    copy_tree(&class.join("scenarios"), &root.join("scenarios"));
    let mut subs = Vec::new();
    for kind in KINDS {
        for n in 0..COPIES {
            let dest = root.join("submissions").join(format!("{kind}-{n:02}"));
            copy_tree(&class.join("submissions").join(kind), &dest);
            subs.push(dest);
        }
    }
    println!(
        "grading {} submissions × 5 scenarios (10 each of {})",
        subs.len(),
        KINDS.join(", ")
    );
    let mut base = None;
    for jobs in [1, 2, 4] {
        let m = grade(root, &subs, jobs, &root.join(format!("out-{jobs}")));
        let base_wall = *base.get_or_insert(m.wall);
        println!(
            "  --jobs {jobs}: {:>7.1} s  ({:.2}× of --jobs 1)  peak RSS of netdrill processes together: {:.1} MiB",
            m.wall.as_secs_f64(),
            m.wall.as_secs_f64() / base_wall.as_secs_f64(),
            m.peak_total_kib as f64 / 1024.0
        );
    }
    println!(
        "  largest peak RSS of any one process (netdrill or a student program): {:.1} MiB",
        max_child_rss_kib() as f64 / 1024.0
    );
}
