//! Benchmark of `netdrill explore`: cases per second of the long-line example
//! (`scenarios/explore/tcp-long-line.toml`, lines of 1 to 3000 bytes), against the
//! built-in `uppercase` server (in-process, one start per case) and against a Python
//! server (a command target: one process per case), with `-j 1` and `-j 8`; medians of
//! 3 interleaved rounds.
//!
//! Run: `cargo bench --bench explore`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

fn cases_per_second(cases: u32, jobs: u32, target: Option<&str>) -> f64 {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let save = tempfile::tempdir().expect("tempdir");
    let mut c = Command::new(env!("CARGO_BIN_EXE_netdrill"));
    c.args([
        "explore",
        "--cases",
        &cases.to_string(),
        "-j",
        &jobs.to_string(),
    ])
    .arg("--save")
    .arg(save.path())
    .arg(repo.join("scenarios/explore/tcp-long-line.toml"))
    .stdout(Stdio::null());
    if let Some(t) = target {
        c.arg("--target-cmd").arg(t);
    }
    let start = Instant::now();
    let status = c.status().expect("netdrill runs");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(status.code(), Some(0), "a correct server failed a case");
    f64::from(cases) / secs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // The interpreter itself, not a version manager's shim (which can double the
    // start-up time of every case).
    let interpreter = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "python3".into());
    let python = format!(
        "{interpreter} {} {{{{port}}}}",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/upper_server.py")
            .display()
    );
    type Row<'a> = (&'a str, u32, u32, Option<&'a str>, Vec<f64>);
    let mut rows: Vec<Row> = vec![
        ("builtin uppercase, -j 1", 500, 1, None, Vec::new()),
        ("builtin uppercase, -j 8", 500, 8, None, Vec::new()),
        (
            "python3 server,    -j 1",
            100,
            1,
            Some(python.as_str()),
            Vec::new(),
        ),
        (
            "python3 server,    -j 8",
            100,
            8,
            Some(python.as_str()),
            Vec::new(),
        ),
    ];
    for _ in 0..3 {
        for (_, cases, jobs, target, got) in rows.iter_mut() {
            got.push(cases_per_second(*cases, *jobs, *target));
        }
    }
    println!("netdrill explore, scenarios/explore/tcp-long-line.toml (medians of 3):");
    for (name, cases, _, _, got) in rows {
        println!("  {name}: {:>8.1} cases/s ({cases} cases)", median(got));
    }
}
