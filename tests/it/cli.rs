//! The `netdrill` binary: exit statuses, the JSON report of contract §4, and no process
//! left behind — after a normal run and after Ctrl-C mid-scenario.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn netdrill() -> Command {
    Command::new(env!("CARGO_BIN_EXE_netdrill"))
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write scenario");
    p
}

fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("netdrill runs")
}

const PASSING: &str = r#"name = "passes"
steps = [
  { connect = "target" },
  { send = "hi\n" },
  { recv_line = "HI" },
]
[target]
builtin = "uppercase"
"#;

const FAILING: &str = r#"name = "fails"
timeout = "1s"
steps = [
  { connect = "target" },
  { send = "hi\n" },
  { recv_line = "hi" },
]
[target]
builtin = "uppercase"
"#;

#[test]
fn exit_status_is_0_when_all_pass_and_1_when_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    let pass = write(dir.path(), "a.toml", PASSING);
    let fail = write(dir.path(), "b.toml", FAILING);
    assert_eq!(
        output(netdrill().arg("run").arg(&pass)).status.code(),
        Some(0)
    );
    let out = output(netdrill().arg("run").arg(&pass).arg(&fail));
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("step 3 failed"), "{text}");
    assert!(text.contains("1 passed, 1 failed, 0 error"), "{text}");
}

#[test]
fn an_invalid_file_is_status_2_and_is_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let pass = write(dir.path(), "a.toml", PASSING);
    let bad = write(
        dir.path(),
        "bad.toml",
        "steps = [ { conect = \"target\" } ]\n",
    );
    let out = output(
        netdrill()
            .args(["run", "--format", "json"])
            .arg(&pass)
            .arg(&bad),
    );
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["summary"]["passed"], 1);
    assert_eq!(v["summary"]["error"], 1);
    assert_eq!(v["scenarios"][1]["status"], "error");
    assert_eq!(v["scenarios"][1]["failure"]["line"], 1);
}

#[test]
fn json_report_has_the_contract_shape() {
    let dir = tempfile::tempdir().unwrap();
    let pass = write(dir.path(), "a.toml", PASSING);
    let fail = write(dir.path(), "b.toml", FAILING);
    let out = output(
        netdrill()
            .args(["run", "--format", "json"])
            .arg(&pass)
            .arg(&fail),
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let passed = &v["scenarios"][0];
    assert_eq!(passed["name"], "passes");
    assert_eq!(passed["file"], pass.display().to_string());
    assert_eq!(passed["status"], "passed");
    assert!(passed["duration_ms"].is_u64());
    assert!(passed.get("failure").is_none());
    let failed = &v["scenarios"][1];
    assert_eq!(failed["status"], "failed");
    let f = &failed["failure"];
    assert_eq!(f["step"], 3);
    assert_eq!(f["line"], 6);
    assert_eq!(f["actor"], "client");
    assert_eq!(f["action"], "recv_line");
    assert_eq!(f["expected"], "\"hi\"");
    assert_eq!(f["actual"], "\"HI\"");
    assert!(f["message"].as_str().unwrap().contains("differs"));
    assert_eq!(
        v["summary"],
        serde_json::json!({"passed": 1, "failed": 1, "error": 0})
    );
}

#[test]
fn junit_and_tap_report_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let fail = write(dir.path(), "b.toml", FAILING);
    let tap = output(netdrill().args(["run", "--format", "tap"]).arg(&fail));
    let tap = String::from_utf8_lossy(&tap.stdout);
    assert!(
        tap.starts_with("TAP version 14\n1..1\nnot ok 1 - fails"),
        "{tap}"
    );
    let junit = output(netdrill().args(["run", "--format", "junit"]).arg(&fail));
    let junit = String::from_utf8_lossy(&junit.stdout);
    assert!(
        junit.contains("<failure") && junit.contains("recv_line"),
        "{junit}"
    );
}

/// True while `pid` runs: a zombie (ended, not yet reaped by whoever inherited it)
/// counts as gone.
fn pid_alive(pid: i32) -> bool {
    if matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH)) {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_none_or(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_gone(pid: i32) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if !pid_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn pids(pidfile: &Path) -> (i32, i32) {
    let text = std::fs::read_to_string(pidfile).expect("pid file");
    let mut it = text
        .split_whitespace()
        .map(|s| s.parse::<i32>().expect("pid"));
    (it.next().expect("pid"), it.next().expect("grandchild"))
}

fn pid_server_scenario(dir: &Path, pidfile: &Path, steps: &str) -> PathBuf {
    write(
        dir,
        "s.toml",
        &format!(
            "timeout = \"5s\"\nsteps = [\n{steps}\n]\n[target]\ncommand = \"python3 {} {} {{{{port}}}}\"\n",
            repo("tests/fixtures/pid_server.py").display(),
            pidfile.display()
        ),
    )
}

#[test]
fn a_normal_run_leaves_no_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let sc = pid_server_scenario(
        dir.path(),
        &pidfile,
        "{ connect = \"target\" },\n{ send = \"a\\n\" },\n{ recv_line = \"A\" },",
    );
    let out = output(netdrill().arg("run").arg(&sc));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (server, grandchild) = pids(&pidfile);
    assert!(wait_gone(server), "server {server} survived");
    assert!(wait_gone(grandchild), "grandchild {grandchild} survived");
}

#[test]
fn ctrl_c_mid_scenario_leaves_no_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let sc = pid_server_scenario(
        dir.path(),
        &pidfile,
        "{ connect = \"target\" },\n{ sleep = \"60s\" },",
    );
    let mut child = netdrill()
        .arg("run")
        .arg(&sc)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn netdrill");
    // The pid file appears once the server listens, i.e. before the steps start.
    let until = Instant::now() + Duration::from_secs(10);
    while !pidfile.exists() {
        assert!(Instant::now() < until, "the target never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (server, grandchild) = pids(&pidfile);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("SIGINT");
    let until = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("netdrill did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(130));
    assert!(wait_gone(server), "server {server} survived Ctrl-C");
    assert!(
        wait_gone(grandchild),
        "grandchild {grandchild} survived Ctrl-C"
    );
}
