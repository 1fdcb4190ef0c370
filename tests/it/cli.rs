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

const TAGGED: &str = r#"name = "tagged"
tags = ["udp", "smoke"]
steps = [
  { send = "x" },
  { recv = "X" },
]
[target]
builtin = "uppercase"
protocol = "udp"
"#;

#[test]
fn tag_filters_and_jobs_keep_file_order() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.toml", PASSING);
    write(dir.path(), "b.toml", TAGGED);
    write(dir.path(), "c.toml", PASSING);
    let out = output(
        netdrill()
            .args(["run", "--format", "json", "--tag", "smoke"])
            .arg(dir.path()),
    );
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<&str> = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tagged"]);
    let out = output(
        netdrill()
            .args(["run", "-j", "3", "--format", "json"])
            .arg(dir.path()),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let files: Vec<String> = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["file"].as_str().unwrap().to_string())
        .collect();
    assert!(
        files[0].ends_with("a.toml")
            && files[1].ends_with("b.toml")
            && files[2].ends_with("c.toml"),
        "{files:?}"
    );
    assert_eq!(v["summary"]["passed"], 3);
}

#[test]
fn snapshots_are_written_then_compared() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.toml", PASSING);
    let run = |extra: &[&str]| {
        output(
            netdrill()
                .current_dir(dir.path())
                .env("CI", "true")
                .env_remove("NETDRILL_UPDATE_SNAPSHOTS")
                .args(["run", "a.toml", "--snapshots", "snaps"])
                .args(extra),
        )
    };
    // No snapshot yet: the run fails, says how to write one, and (in CI) writes nothing.
    let missing = run(&[]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stdout).contains("--update-snapshots"));
    assert!(!dir.path().join("snaps/a.snap.new").exists());
    assert_eq!(run(&["--update-snapshots"]).status.code(), Some(0));
    let stored = dir.path().join("snaps/a.snap");
    assert!(
        std::fs::read_to_string(&stored)
            .unwrap()
            .contains("recv_line \"HI\"")
    );
    assert_eq!(run(&[]).status.code(), Some(0));
    // A different transcript fails with a diff.
    std::fs::write(
        &stored,
        "---\nsource: a.toml\n---\n  1 client connect \"target\" -> ok\n",
    )
    .unwrap();
    let differs = run(&[]);
    assert_eq!(differs.status.code(), Some(1));
    let text = String::from_utf8_lossy(&differs.stdout);
    assert!(
        text.contains("differs from the stored snapshot") && text.contains("+  2 client send"),
        "{text}"
    );
}

#[test]
fn timeout_flag_replaces_the_files_default_wait() {
    let dir = tempfile::tempdir().unwrap();
    let sc = write(
        dir.path(),
        "slow.toml",
        "timeout = \"30s\"\nsteps = [\n  { connect = \"target\" },\n  { recv_line = \"never\" },\n]\n[target]\nbuiltin = \"uppercase\"\n",
    );
    let started = Instant::now();
    let out = output(
        netdrill()
            .args(["run", "--timeout", "300ms", "--format", "json"])
            .arg(&sc),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the file's 30s was used"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        v["scenarios"][0]["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("timed out")
    );
    let bad = output(netdrill().args(["run", "--timeout", "soon"]).arg(&sc));
    assert_eq!(bad.status.code(), Some(2), "a bad flag is invalid input");
}

#[test]
fn seed_flag_is_reported_on_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let sc = write(
        dir.path(),
        "lossy.toml",
        "timeout = \"200ms\"\nsteps = [\n  { send = \"x\" },\n  { recv = \"X\" },\n]\n[target]\nbuiltin = \"uppercase\"\nprotocol = \"udp\"\n[link.to_target]\nloss = 1.0\n",
    );
    let out = output(
        netdrill()
            .args(["run", "--seed", "4242", "--format", "json"])
            .arg(&sc),
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let message = v["scenarios"][0]["failure"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("--seed 4242"), "{message}");
}

#[test]
fn serve_lists_the_builtins() {
    let out = output(netdrill().args(["serve", "--list"]));
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "uppercase",
        "echo",
        "uppercase-iterative",
        "uppercase-one-recv",
        "uppercase-no-close",
        "uppercase-udp-fixed-reply",
        "uppercase-udp-joins",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
}

#[test]
fn target_port_starts_the_target_on_that_port() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = write(
        dir.path(),
        "fixed.toml",
        &format!(
            "timeout = \"2s\"\nsteps = [\n  {{ connect = \"127.0.0.1:{port}\" }},\n  {{ send = \"hi\\n\" }},\n  {{ recv_line = \"HI\" }},\n]\n[target]\nbuiltin = \"uppercase\"\n"
        ),
    );
    let out = output(
        netdrill()
            .args(["run", "--target-port", &port.to_string()])
            .arg(&file),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Without it the target takes an ephemeral port, and nothing listens on `port`.
    let out = output(netdrill().arg("run").arg(&file));
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn scenario_dir_finds_a_helper_beside_the_file_from_any_directory() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "helper.py", "print('helper here')\n");
    let file = write(
        dir.path(),
        "uses-helper.toml",
        "timeout = \"5s\"\nsteps = [\n  { p.spawn = \"python3 {{scenario.dir}}/helper.py\" },\n  { p.stdout_line = \"helper here\" },\n  { p.exit = 0 },\n]\n",
    );
    let out = output(netdrill().arg("run").arg("-v").arg(&file).current_dir("/"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // The transcript shows the command as written: no absolute path in it.
    assert!(
        text.contains("p spawn \"python3 {{scenario.dir}}/helper.py\""),
        "{text}"
    );
}

#[test]
fn a_server_targets_command_takes_the_files_vars() {
    let dir = tempfile::tempdir().unwrap();
    let server = repo("tests/fixtures/upper_server.py");
    let file = write(
        dir.path(),
        "vars.toml",
        &format!(
            "steps = [\n  {{ connect = \"target\" }},\n  {{ send = \"hi\\n\" }},\n  {{ recv_line = \"HI\" }},\n]\n[target]\ncommand = \"python3 {} {{{{port}}}} --sleep {{{{delay}}}}\"\n[vars]\ndelay = \"0.1\"\n",
            server.display()
        ),
    );
    let out = output(netdrill().arg("run").arg(&file));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_client_target_is_told_a_scripted_listeners_port() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "client.py",
        "import socket, sys\ns = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\ns.sendall(b'HELLO\\n')\ns.close()\n",
    );
    let file = write(
        dir.path(),
        "client.toml",
        "timeout = \"5s\"\nsteps = [\n  { srv.listen = true },\n  { target.spawn = true },\n  { srv.accept = \"conn\" },\n  { conn.recv_line = \"HELLO\" },\n  { target.exit = 0 },\n]\n[target]\ncommand = \"python3 {{scenario.dir}}/client.py {{srv.port}}\"\nrole = \"client\"\n",
    );
    let out = output(netdrill().arg("run").arg(&file));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_client_target_that_exits_before_connecting_fails_the_accept_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "gone.toml",
        "timeout = \"30s\"\nsteps = [\n  { srv.listen = true },\n  { target.spawn = true },\n  { srv.accept = \"conn\" },\n]\n[target]\ncommand = \"python3 -c 'import sys; print(\\\"no server given\\\", file=sys.stderr); sys.exit(3)' {{srv.port}}\"\nrole = \"client\"\n",
    );
    let out = output(netdrill().arg("run").arg(&file));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("the client (the target) exited with status 3 before connecting"),
        "{text}"
    );
    assert!(
        text.contains("no server given"),
        "its stderr explains: {text}"
    );
}

/// TCP sockets on local `port` in TIME_WAIT (state 06), read from /proc.
fn time_wait_on(port: u16) -> usize {
    let local = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .map(|t| {
            t.lines()
                .skip(1)
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .filter(|c| c.len() > 3 && c[1].ends_with(&local) && c[3] == "06")
                .count()
        })
        .sum()
}

#[test]
fn a_port_held_only_by_time_wait_is_not_another_program() {
    use std::io::Read;
    // A connection whose server side closes first leaves TIME_WAIT on the server's port.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (server_side, _) = listener.accept().unwrap();
    drop(server_side);
    let mut buf = [0u8; 1];
    assert_eq!(client.read(&mut buf).unwrap(), 0, "the server closed first");
    drop(client);
    drop(listener);
    let until = Instant::now() + Duration::from_secs(2);
    while time_wait_on(port) == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(time_wait_on(port) > 0, "no TIME_WAIT on {port}");

    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "restart.toml",
        &format!(
            "steps = [ {{ connect = \"target\" }} ]\n[target]\ncommand = \"python3 -c 'import socket,sys; s=socket.socket(); s.bind((\\\"127.0.0.1\\\", int(sys.argv[1]))); s.listen()' {{{{port}}}}\"\nport = {port}\n"
        ),
    );
    let out = output(netdrill().arg("run").arg(&file));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("in TIME_WAIT"), "{text}");
    assert!(text.contains("SO_REUSEADDR"), "{text}");
    assert!(!text.contains("another program;"), "{text}");
}
