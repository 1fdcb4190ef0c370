//! `netdrill explore` against the flawed built-ins it is meant to catch: each bug found
//! within 200 cases and shrunk to its boundary, the saved case failing against the
//! flawed server and passing against the reference; the correct built-in surviving 500
//! cases of every example; the same seed giving the same result.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn netdrill() -> Command {
    Command::new(env!("CARGO_BIN_EXE_netdrill"))
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("netdrill runs")
}

/// The command that serves built-in `name` as a target.
fn serve(name: &str, udp: bool) -> String {
    format!(
        "{} serve {name}{} --port {{{{port}}}}",
        env!("CARGO_BIN_EXE_netdrill"),
        if udp { " --udp" } else { "" }
    )
}

/// Explores `example` against flawed built-in `flawed`; the JSON report.
fn explore_flawed(example: &str, flawed: &str, udp: bool, save: &Path, seed: u64) -> Value {
    let out = output(
        netdrill()
            .args(["explore", "--cases", "200", "--format", "json", "--seed"])
            .arg(seed.to_string())
            .arg("--save")
            .arg(save)
            .arg("--target-cmd")
            .arg(serve(flawed, udp))
            .arg(repo(example)),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{example} against {flawed}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["explorations"][0].clone()
}

/// Runs the saved case against `target` (a command, or the file's own target).
fn run_saved(saved: &str, target: Option<String>) -> i32 {
    let mut c = netdrill();
    c.args(["run", saved]);
    if let Some(t) = target {
        c.arg("--target-cmd").arg(t);
    }
    output(&mut c).status.code().unwrap_or(-1)
}

/// The checks every flawed example shares; returns the shrunk case.
fn found_and_reproduced(example: &str, flawed: &str, udp: bool) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let r = explore_flawed(example, flawed, udp, dir.path(), 0);
    assert!(r["cases_run"].as_u64().unwrap() <= 200);
    assert_eq!(r["confirmed"], true, "{r}");
    let saved = r["saved"].as_str().unwrap().to_string();
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(text.starts_with("# The minimal failing case found by `netdrill explore`"));
    assert!(text.contains("seed 0"), "{text}");
    assert_eq!(run_saved(&saved, Some(serve(flawed, udp))), 1, "{text}");
    assert_eq!(run_saved(&saved, None), 0, "against the reference:\n{text}");
    r["shrunk"]["case"].clone()
}

fn var_len(case: &Value) -> usize {
    case["vars"][0][1].as_str().unwrap().len()
}

#[test]
fn a_single_read_of_1024_bytes_is_shrunk_to_a_1024_letter_line() {
    let case = found_and_reproduced(
        "scenarios/explore/tcp-long-line.toml",
        "uppercase-small-buffer",
        false,
    );
    // 1024 letters and the newline: one byte more than the server reads.
    assert_eq!(var_len(&case), 1024, "{case}");
}

#[test]
fn two_reads_per_line_is_shrunk_to_three_pieces() {
    let case = found_and_reproduced(
        "scenarios/explore/tcp-pieces.toml",
        "uppercase-two-reads",
        false,
    );
    assert_eq!(case["splits"][0]["pieces"], 3, "{case}");
}

#[test]
fn a_pool_of_four_is_shrunk_to_five_clients() {
    let case = found_and_reproduced(
        "scenarios/explore/tcp-clients.toml",
        "uppercase-pool",
        false,
    );
    assert_eq!(case["clients"], 5, "{case}");
}

#[test]
fn a_512_byte_buffer_is_shrunk_to_a_513_byte_datagram() {
    let case = found_and_reproduced(
        "scenarios/explore/udp-datagram.toml",
        "uppercase-udp-512",
        true,
    );
    assert_eq!(var_len(&case), 513, "{case}");
}

#[test]
fn the_correct_builtins_survive_500_cases_of_every_example() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(
        netdrill()
            .args([
                "explore", "--cases", "500", "-j", "16", "--format", "json", "--save",
            ])
            .arg(dir.path())
            .arg(repo("scenarios/explore")),
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v}");
    let all = v["explorations"].as_array().unwrap();
    assert_eq!(all.len(), 4);
    for e in all {
        assert_eq!(e["cases_run"], 500, "{e}");
        assert!(e["first"].is_null(), "{e}");
    }
}

#[test]
fn the_same_seed_finds_and_shrinks_to_the_same_case() {
    let runs: Vec<Value> = (0..2)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            explore_flawed(
                "scenarios/explore/tcp-long-line.toml",
                "uppercase-small-buffer",
                false,
                dir.path(),
                7,
            )
        })
        .collect();
    // The same cases, found and shrunk the same way (the failure's wording may differ
    // with timing: whether the stray line and the end arrive in one read or two).
    for key in ["cases_run", "shrink_steps", "shrink_runs"] {
        assert_eq!(runs[0][key], runs[1][key], "{key}");
    }
    for key in ["first", "shrunk"] {
        assert_eq!(runs[0][key]["case"], runs[1][key]["case"], "{key}");
        assert_eq!(runs[0][key]["summary"], runs[1][key]["summary"], "{key}");
    }
    // Another seed draws other cases.
    let dir = tempfile::tempdir().unwrap();
    let other = explore_flawed(
        "scenarios/explore/tcp-long-line.toml",
        "uppercase-small-buffer",
        false,
        dir.path(),
        8,
    );
    assert_ne!(other["first"]["case"], runs[0]["first"]["case"]);
}

#[test]
fn differential_mode_compares_transcripts_with_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(
        netdrill()
            .args([
                "explore",
                "--cases",
                "50",
                "--format",
                "json",
                "--reference",
            ])
            .arg("builtin:uppercase")
            .arg("--target-cmd")
            .arg(serve("uppercase-small-buffer", false))
            .arg("--save")
            .arg(dir.path())
            .arg(repo("scenarios/explore/tcp-long-line.toml")),
    );
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &v["explorations"][0];
    assert_eq!(e["mode"], "differential");
    assert!(
        e["first"]["failure"]
            .as_str()
            .unwrap()
            .starts_with("the transcript differs from the reference's"),
        "{e}"
    );
    // A reference that fails the scenario's own expectations is a scenario bug.
    let bug = output(
        netdrill()
            .args(["explore", "--cases", "5", "--reference", "builtin:echo"])
            .arg(repo("scenarios/explore/tcp-long-line.toml")),
    );
    assert_eq!(bug.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bug.stderr).contains("scenario bug"));
}

#[test]
fn a_scenario_without_explore_is_refused() {
    let out = output(
        netdrill()
            .args(["explore"])
            .arg(repo("scenarios/tcp/one-line.toml")),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no [explore] table"));
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_lossy_case_is_saved_with_its_link_seed_and_fails_again() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "lossy.toml",
        r#"name = "udp: no resend"
timeout = "300ms"
steps = [
  { send = "{{msg}}" },
  { recv = "{{msg | upper}}", from = "target" },
]
[target]
builtin = "uppercase"
protocol = "udp"
[explore]
loss = [0.2, 0.6]
[explore.vars]
msg = { regex = "[a-z]{1,30}", default = "hello" }
"#,
    );
    let out = output(
        netdrill()
            .args(["explore", "--format", "json", "-j", "4", "--save"])
            .arg(dir.path().join("saved"))
            .arg(&file),
    );
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &v["explorations"][0];
    // Shrunk towards the least loss that still loses this datagram.
    let loss = e["shrunk"]["case"]["loss_permille"].as_u64().unwrap();
    assert!((200..=600).contains(&loss), "{e}");
    let saved = e["saved"].as_str().unwrap();
    let text = std::fs::read_to_string(saved).unwrap();
    assert!(text.contains("[link]\nseed = "), "{text}");
    // The link's seed makes the saved case fail the same way every time.
    for _ in 0..3 {
        assert_eq!(run_saved(saved, None), 1, "{text}");
    }
}

#[test]
fn every_generator_and_coalescing_hold_against_echo() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "frames.toml",
        r#"name = "echo: frames"
timeout = "2s"
steps = [
  { connect = "target" },
  { send_hex = "{{payload | len | u16be}} {{payload}}" },
  { send = "{{word}}" },
  { send = "{{count}}\n" },
  { recv_hex = "{{payload | len | u16be}} {{payload}}" },
  { recv_line = "{{word}}{{count}}" },
]
[target]
builtin = "echo"
[explore]
chunking = true
pause_max = "2ms"
coalesce = true
[explore.vars]
payload = { bytes = [0, 300], default = "00 01" }
word = { regex = "[a-z]{1,10}", default = "hi" }
count = { int = [0, 99999], default = 7 }
"#,
    );
    let run = output(netdrill().arg("run").arg(&file));
    assert_eq!(run.status.code(), Some(0), "the defaults pass under `run`");
    let out = output(
        netdrill()
            .args([
                "explore", "--cases", "60", "-j", "4", "--format", "json", "--save",
            ])
            .arg(dir.path())
            .arg(&file),
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["explorations"][0]["cases_run"], 60);
}

#[test]
fn the_time_budget_ends_an_exploration_that_finds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(
        netdrill()
            .args([
                "explore", "--cases", "1000000", "--time", "1s", "--format", "json",
            ])
            .arg("--save")
            .arg(dir.path())
            .arg(repo("scenarios/explore/tcp-long-line.toml")),
    );
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &v["explorations"][0];
    assert_eq!(e["out_of_time"], true, "{e}");
    assert!(e["cases_run"].as_u64().unwrap() < 1_000_000);
}

#[test]
fn cases_with_a_fixed_port_never_overlap_under_j() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let file = write(
        dir.path(),
        "fixed.toml",
        &format!(
            r#"name = "fixed port"
timeout = "2s"
steps = [
  {{ connect = "target" }},
  {{ send = "{{{{line}}}}\n" }},
  {{ recv_line = "{{{{line | upper}}}}" }},
]
[target]
command = "python3 {} {{{{port}}}}"
port = {port}
[explore]
[explore.vars]
line = {{ regex = "[a-z]{{1,20}}", default = "hi" }}
"#,
            repo("tests/fixtures/upper_server.py").display()
        ),
    );
    let out = output(
        netdrill()
            .args(["explore", "--cases", "6", "-j", "4", "--save"])
            .arg(dir.path())
            .arg(&file),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_string_with_control_characters_builds_a_valid_case() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "del.toml",
        "name = \"del\"\ntimeout = \"2s\"\nsteps = [\n  { connect = \"target\" },\n  { send = \"a\\u007fb\\u0001\\\"q\\\\ {{x}}\\n\" },\n  { recv_line = \"a\\u007fb\\u0001\\\"q\\\\ {{x}}\" },\n]\n[target]\nbuiltin = \"echo\"\n[explore]\nchunking = true\npause_max = \"10ms\"\n[explore.vars]\nx = { regex = \"[a-z]{1,5}\", default = \"y\" }\n",
    );
    let out = output(
        netdrill()
            .args(["explore", "--cases", "20", "-j", "4", "--save"])
            .arg(dir.path())
            .arg(&file),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
