/*!
Processes and the target lifecycle, against real programs (the Python scripts in tests/fixtures) and
real sockets on 127.0.0.1: readiness without fixed sleeps, early exits, teardown that
leaves no process behind, Ctrl-C.
*/

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use netdrill::interp::process::{ChildGroup, ExitInfo, ProcessError, kill_all_registered};
use netdrill::interp::target::{RunningTarget, TargetError, free_port};
use netdrill::scenario::Protocol;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const READY: Duration = Duration::from_secs(10);
const WAIT: Duration = Duration::from_secs(5);

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// True when process group `pgid` has no member at all (not even a zombie).
fn group_gone(pgid: i32) -> bool {
    kill(Pid::from_raw(-pgid), None) == Err(Errno::ESRCH)
}

/// The pids of the live (non-zombie) processes in group `pgid`.
fn live_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp …; comm may hold spaces, so split after ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" {
            out.push(pid);
        }
    }
    out
}

/// The pids of the processes whose command line holds `token`.
fn processes_with(token: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmd).contains(token)
        {
            out.push(pid);
        }
    }
    out
}

/// A token unique to this test run, to find a fixture by its command line.
fn token(name: &str) -> String {
    format!("nd-{name}-{}-{:?}", std::process::id(), Instant::now())
        .replace([' ', '{', '}', ':', '.'], "")
}

async fn start(args: &str, protocol: Protocol) -> Result<RunningTarget, TargetError> {
    RunningTarget::start_command(
        &format!("python3 upper_server.py {{{{port}}}} {args}"),
        &fixtures(),
        protocol,
        None,
        READY,
    )
    .await
}

async fn exchange_tcp(target: &RunningTarget) {
    let mut c = TcpStream::connect(target.addr)
        .await
        .expect("connect right after start");
    c.write_all(b"hi there\n").await.unwrap();
    let mut buf = [0u8; 9];
    tokio::time::timeout(WAIT, c.read_exact(&mut buf))
        .await
        .expect("answer in time")
        .unwrap();
    assert_eq!(&buf, b"HI THERE\n");
}

async fn stop_and_check_gone(target: &mut RunningTarget) -> String {
    let pgid = target.child_mut().expect("a spawned target").pgid();
    let how = target.stop().await;
    assert!(
        group_gone(pgid),
        "group {pgid} still has {:?}",
        live_members(pgid)
    );
    assert_eq!(target.stop().await, how, "stop is idempotent");
    how
}

#[tokio::test]
async fn tcp_server_binding_late_is_ready_at_once() {
    let mut target = start("--sleep 0.3", Protocol::Tcp).await.unwrap();
    assert!(target.addr.ip().is_loopback());
    exchange_tcp(&target).await;
    assert_eq!(target.has_exited(), None);
    stop_and_check_gone(&mut target).await;
}

#[tokio::test]
async fn udp_server_binding_late_is_ready_at_once() {
    let mut target = start("--udp --sleep 0.3", Protocol::Udp).await.unwrap();
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    c.send_to(b"ping", target.addr).await.unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = tokio::time::timeout(WAIT, c.recv_from(&mut buf))
        .await
        .expect("answer in time")
        .unwrap();
    assert_eq!(&buf[..n], b"PING");
    assert_eq!(from, target.addr);
    stop_and_check_gone(&mut target).await;
}

#[tokio::test]
async fn early_exit_reports_status_and_last_stderr_line() {
    let err = start(
        "--exit-early 'fatal: cannot open config.ini'",
        Protocol::Tcp,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, TargetError::ExitedEarly { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("exited with status 3"), "{msg}");
    assert!(msg.contains("fatal: cannot open config.ini"), "{msg}");
    assert!(msg.contains("starting up"), "{msg}");
}

#[tokio::test]
async fn never_ready_is_a_bounded_error_and_the_process_is_reaped() {
    let tag = token("never");
    let began = Instant::now();
    let err = RunningTarget::start_command(
        &format!("echo 'still loading {{{{port}}}}' >&2; sleep 30; : {tag}"),
        &fixtures(),
        Protocol::Tcp,
        None,
        Duration::from_secs(1),
    )
    .await
    .unwrap_err();
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "took {:?}",
        began.elapsed()
    );
    assert!(matches!(err, TargetError::NeverReady { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("within 1s"), "{msg}");
    assert!(msg.contains("still loading"), "{msg}");
    assert_eq!(processes_with(&tag), Vec::<i32>::new());
}

#[tokio::test]
async fn hard_coded_port_is_used_as_given() {
    let port = free_port(Protocol::Tcp).unwrap();
    let mut target = RunningTarget::start_command(
        &format!("python3 upper_server.py {port}"),
        &fixtures(),
        Protocol::Tcp,
        Some(port),
        READY,
    )
    .await
    .unwrap();
    assert_eq!(target.addr.port(), port);
    exchange_tcp(&target).await;
    stop_and_check_gone(&mut target).await;
}

#[tokio::test]
async fn a_port_already_taken_is_refused_before_spawning() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let tag = token("taken");
    let err = RunningTarget::start_command(
        &format!("python3 upper_server.py {{{{port}}}} --tag {tag}"),
        &fixtures(),
        Protocol::Tcp,
        Some(port),
        READY,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, TargetError::PortInUse { .. }), "{err:?}");
    assert!(err.to_string().contains(&port.to_string()));
    assert_eq!(processes_with(&tag), Vec::<i32>::new());
}

#[tokio::test]
async fn teardown_kills_a_server_that_ignores_sigterm() {
    let mut target = start("--ignore-term", Protocol::Tcp).await.unwrap();
    exchange_tcp(&target).await;
    // The python process ignores SIGTERM: only the SIGKILL after the grace ends it
    // (what the leader `sh` reports may be either signal).
    stop_and_check_gone(&mut target).await;
}

#[tokio::test]
async fn teardown_kills_a_forked_grandchild() {
    let mut target = start("--fork", Protocol::Tcp).await.unwrap();
    exchange_tcp(&target).await;
    let pgid = target.child_mut().unwrap().pgid();
    assert!(live_members(pgid).len() >= 2, "{:?}", live_members(pgid));
    stop_and_check_gone(&mut target).await;
}

#[tokio::test]
async fn builtin_target_serves_and_stops() {
    let mut target = RunningTarget::start_builtin("uppercase", Protocol::Tcp, None)
        .await
        .unwrap();
    exchange_tcp(&target).await;
    assert_eq!(target.stderr_tail(), None);
    let mut open = TcpStream::connect(target.addr).await.unwrap();
    assert_eq!(target.stop().await, "stopped");
    // Its connections are closed. (Connecting again is not a test: under load another
    // test may reuse the freed port at once.)
    let mut rest = Vec::new();
    let end = tokio::time::timeout(WAIT, open.read_to_end(&mut rest)).await;
    assert!(end.is_ok(), "a connection outlived the stop");
    let err = RunningTarget::start_builtin("nope", Protocol::Tcp, None)
        .await
        .unwrap_err();
    assert!(matches!(err, TargetError::Builtin(_)));
}

#[tokio::test]
async fn address_target_is_reached_as_is() {
    let server = RunningTarget::start_builtin("echo", Protocol::Tcp, None)
        .await
        .unwrap();
    let mut target =
        RunningTarget::at_address(&format!("localhost:{}", server.addr.port())).unwrap();
    assert_eq!(target.addr.port(), server.addr.port());
    TcpStream::connect(target.addr).await.unwrap();
    assert!(target.stop().await.contains("not started by netdrill"));
}

#[tokio::test]
async fn child_stdin_to_stdout_and_exit() {
    let mut cat = ChildGroup::spawn("cat", &fixtures(), &[]).unwrap();
    cat.write_stdin(b"one\r\ntwo\n").await.unwrap();
    assert_eq!(
        cat.next_stdout_line(WAIT).await.unwrap().as_deref(),
        Some("one")
    );
    assert_eq!(
        cat.next_stdout_line(WAIT).await.unwrap().as_deref(),
        Some("two")
    );
    cat.close_stdin();
    assert_eq!(cat.next_stdout_line(WAIT).await.unwrap(), None);
    assert_eq!(cat.wait_exit(WAIT).await.unwrap(), ExitInfo::Code(0));
    assert!(matches!(
        cat.write_stdin(b"late").await,
        Err(ProcessError::StdinClosed)
    ));
    let pgid = cat.pgid();
    assert_eq!(cat.terminate(WAIT).await, ExitInfo::Code(0));
    assert!(group_gone(pgid));
}

#[tokio::test]
async fn child_lines_then_exit_status() {
    let env = [("EXIT_CODE".to_string(), "3".to_string())];
    let mut p = ChildGroup::spawn(
        "python3 lines_then_exit.py alpha 'beta gamma'",
        &fixtures(),
        &env,
    )
    .unwrap();
    assert_eq!(
        p.next_stdout_line(WAIT).await.unwrap().as_deref(),
        Some("alpha")
    );
    assert_eq!(
        p.next_stdout_line(WAIT).await.unwrap().as_deref(),
        Some("beta gamma")
    );
    assert_eq!(p.next_stdout_line(WAIT).await.unwrap(), None);
    let exit = p.wait_exit(WAIT).await.unwrap();
    assert_eq!(exit.code(), Some(3));
    assert_eq!(p.try_exit(), Some(exit));
}

#[tokio::test]
async fn no_line_is_a_timeout_and_exit_wait_is_bounded() {
    let mut p = ChildGroup::spawn("sleep 30", &fixtures(), &[]).unwrap();
    let err = p
        .next_stdout_line(Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(matches!(err, ProcessError::Timeout { .. }), "{err:?}");
    let err = p.wait_exit(Duration::from_millis(100)).await.unwrap_err();
    assert!(matches!(err, ProcessError::Timeout { .. }), "{err:?}");
    assert_eq!(p.try_exit(), None);
    let pgid = p.pgid();
    let exit = p.terminate(Duration::from_secs(2)).await;
    assert!(
        matches!(exit, ExitInfo::Signal(15) | ExitInfo::Code(143)),
        "{exit}"
    );
    assert!(group_gone(pgid));
}

#[tokio::test]
async fn stderr_tail_keeps_only_the_last_lines() {
    let mut p = ChildGroup::spawn(
        "i=0; while [ $i -lt 100 ]; do i=$((i+1)); echo \"err $i\" >&2; done",
        &fixtures(),
        &[],
    )
    .unwrap();
    p.wait_exit(WAIT).await.unwrap();
    p.drain_stderr(WAIT).await;
    let tail = p.stderr_tail();
    let lines: Vec<&str> = tail.lines().collect();
    assert_eq!(lines.len(), 20, "{tail}");
    assert_eq!(lines[0], "err 81");
    assert_eq!(lines[19], "err 100");
}

#[tokio::test]
async fn dropping_a_child_group_kills_it() {
    let p = ChildGroup::spawn("sleep 30 & sleep 30", &fixtures(), &[]).unwrap();
    let pgid = p.pgid();
    drop(p);
    let deadline = Instant::now() + WAIT;
    while !live_members(pgid).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(live_members(pgid), Vec::<i32>::new());
}

/// Runs this test binary again, with only `test` and `NETDRILL_IT_HELPER` set, so that
/// process-wide actions (kill everything, exit on Ctrl-C) stay in their own process.
fn helper(test: &str) -> std::process::Child {
    helper_with(test, &[])
}

/// [`helper`] with more variables in its environment.
fn helper_with(test: &str, env: &[(&str, &str)]) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .envs(env.iter().copied())
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("NETDRILL_IT_HELPER", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Runs helper `test` (with `env` added) to its end; it must succeed. Its stdout.
fn helper_output(test: &str, env: &[(&str, &str)]) -> String {
    let mut child = helper_with(test, env);
    let status = wait_std(&mut child);
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(status.success(), "{out}");
    out
}

/// Waits (bounded) for a std child to exit.
fn wait_std(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("helper did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn kill_all_registered_ends_every_group() {
    let out = helper_output("procs::helper_kill_all", &[]);
    assert!(out.contains("killed 2 groups"), "{out}");
}

#[tokio::test]
#[ignore = "run by kill_all_registered_ends_every_group"]
async fn helper_kill_all() {
    if std::env::var_os("NETDRILL_IT_HELPER").is_none() {
        return;
    }
    let mut a = ChildGroup::spawn("sleep 30", &fixtures(), &[]).unwrap();
    let mut b = ChildGroup::spawn(
        "python3 upper_server.py 0 --never-bind --ignore-term",
        &fixtures(),
        &[],
    )
    .unwrap();
    kill_all_registered();
    for g in [&mut a, &mut b] {
        let exit = g.wait_exit(WAIT).await.unwrap();
        assert_eq!(exit, ExitInfo::Signal(Signal::SIGKILL as i32));
    }
    println!("killed 2 groups");
}

#[test]
fn interrupt_kills_registered_groups_and_exits_130() {
    let mut child = helper("procs::helper_interrupt");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let pgid: i32 = loop {
        let line = lines.next().expect("helper printed its group").unwrap();
        // libtest may print `test … ... ` on the same line first.
        if let Some((_, p)) = line.split_once("pgid ") {
            break p.trim().parse().unwrap();
        }
    };
    assert!(!live_members(pgid).is_empty());
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = wait_std(&mut child);
    assert_eq!(status.code(), Some(130));
    let deadline = Instant::now() + WAIT;
    while !live_members(pgid).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(live_members(pgid), Vec::<i32>::new());
}

#[tokio::test]
#[ignore = "run by interrupt_kills_registered_groups_and_exits_130"]
async fn helper_interrupt() {
    if std::env::var_os("NETDRILL_IT_HELPER").is_none() {
        return;
    }
    netdrill::interp::process::install_interrupt_handler().unwrap();
    let g = ChildGroup::spawn("sleep 30 & sleep 30", &fixtures(), &[]).unwrap();
    println!("pgid {}", g.pgid());
    // The parent sends SIGINT; the handler exits the process before this ends.
    tokio::time::sleep(Duration::from_secs(15)).await;
    panic!("no interrupt came");
}

/// `netdrill ARGS`, as a command line for [`ChildGroup::spawn`].
fn netdrill(args: &str) -> String {
    format!("exec '{}' {args}", env!("CARGO_BIN_EXE_netdrill"))
}

#[tokio::test]
async fn serve_prints_its_address_serves_and_ends_on_sigterm() {
    let mut p = ChildGroup::spawn(&netdrill("serve uppercase"), &fixtures(), &[]).unwrap();
    let line = p.next_stdout_line(READY).await.unwrap().unwrap();
    let addr = line
        .strip_prefix("serving uppercase (tcp) on ")
        .unwrap_or_else(|| panic!("{line}"));
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"abc\n").await.unwrap();
    let mut buf = [0u8; 4];
    tokio::time::timeout(WAIT, c.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"ABC\n");
    assert_eq!(p.terminate(WAIT).await, ExitInfo::Code(0));
}

#[tokio::test]
async fn serve_udp_on_a_given_port() {
    let port = free_port(Protocol::Udp).unwrap();
    let mut p = ChildGroup::spawn(
        &netdrill(&format!("serve echo --udp --port {port}")),
        &fixtures(),
        &[],
    )
    .unwrap();
    let line = p.next_stdout_line(READY).await.unwrap().unwrap();
    assert_eq!(line, format!("serving echo (udp) on 127.0.0.1:{port}"));
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    c.send_to(b"Hi", ("127.0.0.1", port)).await.unwrap();
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(WAIT, c.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"Hi");
    assert_eq!(p.terminate(WAIT).await, ExitInfo::Code(0));
}

#[tokio::test]
async fn serve_refuses_unknown_names_and_busy_ports_with_status_2() {
    let mut p = ChildGroup::spawn(&netdrill("serve upercase"), &fixtures(), &[]).unwrap();
    assert_eq!(p.wait_exit(WAIT).await.unwrap(), ExitInfo::Code(2));
    p.drain_stderr(WAIT).await;
    assert!(
        p.stderr_tail().contains("did you mean `uppercase`?"),
        "{}",
        p.stderr_tail()
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut p = ChildGroup::spawn(
        &netdrill(&format!("serve uppercase --port {port}")),
        &fixtures(),
        &[],
    )
    .unwrap();
    assert_eq!(p.wait_exit(WAIT).await.unwrap(), ExitInfo::Code(2));
    p.drain_stderr(WAIT).await;
    assert!(
        p.stderr_tail().contains("already in use"),
        "{}",
        p.stderr_tail()
    );

    let mut p = ChildGroup::spawn(&netdrill("serve --list"), &fixtures(), &[]).unwrap();
    let mut names = Vec::new();
    while let Some(line) = p.next_stdout_line(WAIT).await.unwrap() {
        names.push(line);
    }
    assert_eq!(p.wait_exit(WAIT).await.unwrap(), ExitInfo::Code(0));
    assert!(
        names.iter().any(|l| l.starts_with("uppercase-udp-joins")),
        "{names:?}"
    );
}

#[tokio::test]
async fn readiness_does_not_use_up_a_one_shot_server() {
    let mut target = start("--one-shot", Protocol::Tcp).await.unwrap();
    // The probe made no connection: the one client it serves is this one.
    let mut c = TcpStream::connect(target.addr).await.unwrap();
    c.write_all(b"only\n").await.unwrap();
    c.shutdown().await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(WAIT, c.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"ONLY\n");
    let exit = target.child_mut().unwrap().wait_exit(WAIT).await.unwrap();
    assert_eq!(exit, ExitInfo::Code(0));
    assert_eq!(target.has_exited().as_deref(), Some("exited with status 0"));
    stop_and_check_gone(&mut target).await;
}

#[tokio::test]
async fn unread_stdout_never_blocks_the_program() {
    let mut p = ChildGroup::spawn("seq 1 20000", &fixtures(), &[]).unwrap();
    assert_eq!(p.wait_exit(WAIT).await.unwrap(), ExitInfo::Code(0));
    assert_eq!(
        p.next_stdout_line(WAIT).await.unwrap().as_deref(),
        Some("1")
    );
    // Reading the rest ends (bounded queue), then EOF.
    let mut n = 1;
    while p.next_stdout_line(WAIT).await.unwrap().is_some() {
        n += 1;
    }
    assert!(n < 20000, "read {n} lines");
    assert_eq!(n as u64 + p.dropped_stdout_lines(), 20000);
}

/// True once `pid` runs nothing: no such process, or a zombie.
fn not_running(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH)
        || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
}

/// Polls (bounded) until `done`.
fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn read_pids(file: &std::path::Path) -> Vec<i32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// `netdrill run` on a scenario whose target leaves escapees (`escape_server.py MODE`):
/// the run passes, and afterwards no escapee is running.
fn run_with_escapees(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let escapees = run_with_escapees_at(mode, &pidfile);
    assert_eq!(escapees.len(), if mode == "daemon" { 1 } else { 2 });
    let all_gone = eventually(WAIT, || escapees.iter().all(|&p| not_running(p)));
    let left: Vec<i32> = escapees.into_iter().filter(|&p| !not_running(p)).collect();
    for &p in &left {
        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
    }
    assert!(
        all_gone,
        "escaped {mode} processes survived netdrill: {left:?}"
    );
}

/// Runs `netdrill run` on a scenario whose target is `escape_server.py MODE PIDFILE`;
/// the run must pass. Returns the escapees' pids the server wrote.
fn run_with_escapees_at(mode: &str, pidfile: &std::path::Path) -> Vec<i32> {
    let dir = pidfile.parent().unwrap();
    let scenario = dir.join("s.toml");
    std::fs::write(
        &scenario,
        format!(
            "timeout = \"5s\"\nsteps = [\n  {{ connect = \"target\" }},\n  {{ send = \"a\\n\" }},\n  {{ recv_line = \"A\" }},\n]\n[target]\ncommand = \"python3 {} {mode} {} {{{{port}}}}\"\n",
            fixtures().join("escape_server.py").display(),
            pidfile.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_netdrill"))
        .arg("run")
        .arg(&scenario)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    read_pids(pidfile)
}

#[test]
fn a_daemonizing_target_leaves_nothing_behind() {
    run_with_escapees("daemon");
}

/// SIGKILL of netdrill mid-scenario: nothing can clean up in netdrill, yet the target,
/// its daemon and its grandchildren end, because they live in a PID namespace whose
/// init follows netdrill.
#[test]
fn sigkill_of_netdrill_leaves_no_escapee_behind() {
    for mode in ["daemon", "setpgid"] {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pids");
        let scenario = dir.path().join("s.toml");
        let token = token(&format!("sigkill-{mode}"));
        std::fs::write(
            &scenario,
            format!(
                "timeout = \"5s\"\nsteps = [\n  {{ connect = \"target\" }},\n  {{ sleep = \"30s\" }},\n]\n[target]\ncommand = \"python3 {} {mode} {} {{{{port}}}} {token}\"\n",
                fixtures().join("escape_server.py").display(),
                pidfile.display()
            ),
        )
        .unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_netdrill"))
            .arg("run")
            .arg(&scenario)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        assert!(
            eventually(Duration::from_secs(10), || !read_pids(&pidfile).is_empty()),
            "the target never started"
        );
        let escapees = read_pids(&pidfile);
        let server = processes_with(&token);
        assert!(!server.is_empty(), "the server is not running");
        child.kill().unwrap();
        child.wait().unwrap();
        let all_gone = eventually(WAIT, || {
            escapees.iter().all(|&p| not_running(p)) && processes_with(&token).is_empty()
        });
        let mut left: Vec<i32> = escapees.into_iter().filter(|&p| !not_running(p)).collect();
        left.extend(processes_with(&token));
        for &p in &left {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        assert!(
            all_gone,
            "{mode}: processes survived SIGKILL of netdrill: {left:?}"
        );
    }
}

#[test]
fn children_that_change_their_process_group_leave_nothing_behind() {
    run_with_escapees("setpgid");
}

/// A server that answers the teardown's SIGTERM by starting a `setsid` child: the
/// child still ends with the run.
#[test]
fn a_child_spawned_on_sigterm_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    run_with_escapees_at("sigterm", &pidfile);
    let term = pidfile.with_extension("term");
    assert!(
        eventually(WAIT, || !read_pids(&term).is_empty()),
        "the server never got SIGTERM"
    );
    let spawned = read_pids(&term);
    let all_gone = eventually(WAIT, || spawned.iter().all(|&p| not_running(p)));
    for &p in &spawned {
        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
    }
    assert!(all_gone, "a child spawned on SIGTERM survived: {spawned:?}");
}

#[test]
fn escapees_are_reaped_and_killed_in_process() {
    // The fallback where no PID namespace wraps a program: escapees reach netdrill.
    let out = helper_output("procs::helper_escapees", &[("NETDRILL_NO_PIDNS", "1")]);
    assert!(out.contains("escapees ok"), "{out}");
}

/// Our children that are zombies.
fn zombie_children() -> Vec<i32> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 1 && f[0] == "Z" && f[1] == me {
            out.push(pid);
        }
    }
    out
}

#[tokio::test]
#[ignore = "run by escapees_are_reaped_and_killed_in_process"]
async fn helper_escapees() {
    use netdrill::interp::process::{kill_inherited, registered_groups};
    if std::env::var_os("NETDRILL_IT_HELPER").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A live group: teardowns below are not the last, so they kill no escapee.
    let mut keeper = ChildGroup::spawn("sleep 30", &fixtures(), &[]).unwrap();

    // 1. Escapees that end by themselves are reaped, not left as zombies (before the
    // fix, 100 scenarios left 100 zombies until exit).
    let mut short = Vec::new();
    for i in 0..5 {
        let file = dir.path().join(format!("short{i}"));
        let mut g = ChildGroup::spawn(
            &format!(
                "setsid sh -c 'echo $$ > {0}.tmp; mv {0}.tmp {0}; sleep 0.2' &",
                file.display()
            ),
            &fixtures(),
            &[],
        )
        .unwrap();
        // Out of the group (the pid is written after setsid) before the group ends.
        assert!(eventually(WAIT, || !read_pids(&file).is_empty()));
        g.terminate(WAIT).await;
        short.extend(read_pids(&file));
    }
    let reaped = eventually(WAIT, || {
        short
            .iter()
            .all(|&p| kill(Pid::from_raw(p), None) == Err(Errno::ESRCH))
    });
    assert!(
        reaped,
        "not reaped: {short:?}, zombies {:?}",
        zombie_children()
    );
    assert_eq!(zombie_children(), Vec::<i32>::new());

    // 2. A live escapee survives its group's teardown while another group runs;
    // kill_inherited ends it (and reaps it), and leaves registered groups alone.
    let file = dir.path().join("long");
    let mut g = ChildGroup::spawn(
        &format!(
            "setsid sh -c 'echo $$ > {0}.tmp; mv {0}.tmp {0}; exec sleep 30' &",
            file.display()
        ),
        &fixtures(),
        &[],
    )
    .unwrap();
    assert!(eventually(WAIT, || !read_pids(&file).is_empty()));
    g.terminate(WAIT).await;
    let daemon = read_pids(&file)[0];
    assert!(!not_running(daemon), "the escapee should have escaped");
    assert!(kill_inherited() >= 1);
    assert_eq!(kill(Pid::from_raw(daemon), None), Err(Errno::ESRCH));
    assert!(
        !live_members(keeper.pgid()).is_empty(),
        "the keeper was killed"
    );
    assert_eq!(registered_groups(), vec![keeper.pgid()]);

    // 3. When the last group is swept, escapees of finished runs are killed.
    let file = dir.path().join("idle");
    let mut g = ChildGroup::spawn(
        &format!(
            "setsid sh -c 'echo $$ > {0}.tmp; mv {0}.tmp {0}; exec sleep 30' &",
            file.display()
        ),
        &fixtures(),
        &[],
    )
    .unwrap();
    assert!(eventually(WAIT, || !read_pids(&file).is_empty()));
    g.terminate(WAIT).await;
    let daemon = read_pids(&file)[0];
    assert!(!not_running(daemon), "the escapee should have escaped");
    keeper.terminate(WAIT).await;
    assert!(eventually(WAIT, || kill(Pid::from_raw(daemon), None)
        == Err(Errno::ESRCH)));
    println!("escapees ok");
}

#[test]
fn spawn_limits_apply_to_every_spawned_program() {
    let out = helper_output("procs::helper_spawn_limits", &[]);
    assert!(out.contains("limits ok"), "{out}");
}

#[tokio::test]
#[ignore = "run by spawn_limits_apply_to_every_spawned_program"]
async fn helper_spawn_limits() {
    use netdrill::grade::Limits;
    use netdrill::grade::limits::PidsCgroup;
    use netdrill::interp::process::{set_spawn_limits, spawn_limits};
    if std::env::var_os("NETDRILL_IT_HELPER").is_none() {
        return;
    }
    let root = nix::unistd::geteuid().is_root();
    let cgroup = match PidsCgroup::create("it-limits", 6) {
        Ok(cg) => Some(cg),
        Err(why) => {
            assert!(!root, "as root a pids cgroup must be made: {why}");
            None
        }
    };
    let limits = Limits {
        cpu: Duration::from_secs(1),
        memory: 512 << 20,
        processes: 6,
        file_size: 4096,
        output: 1 << 20,
    };
    assert!(set_spawn_limits(
        limits,
        cgroup.as_ref().map(|c| c.procs_path().to_owned())
    ));
    assert!(!set_spawn_limits(Limits::default(), None), "set once");
    assert_eq!(spawn_limits(), Some(limits));

    let mut p =
        ChildGroup::spawn("cat /proc/self/limits /proc/self/cgroup", &fixtures(), &[]).unwrap();
    let mut lines = Vec::new();
    while let Some(l) = p.next_stdout_line(WAIT).await.unwrap() {
        lines.push(l);
    }
    let row = |name: &str| -> Vec<String> {
        let l = lines.iter().find(|l| l.starts_with(name)).unwrap();
        l[name.len()..]
            .split_whitespace()
            .take(2)
            .map(str::to_string)
            .collect()
    };
    assert_eq!(row("Max cpu time"), ["1", "2"]);
    assert_eq!(row("Max file size"), ["4096", "4096"]);
    assert_eq!(row("Max address space"), ["536870912", "536870912"]);
    assert_eq!(row("Max core file size"), ["0", "0"]);
    if let Some(cg) = &cgroup {
        let leaf = cg.dir().file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            lines.iter().any(|l| l.ends_with(&format!("/{leaf}"))),
            "not in {leaf}: {lines:?}"
        );
    }

    // CPU time: a busy loop is stopped by SIGXCPU after a second.
    let mut busy = ChildGroup::spawn("exec sh -c 'while :; do :; done'", &fixtures(), &[]).unwrap();
    let exit = busy.wait_exit(Duration::from_secs(20)).await.unwrap();
    busy.drain_stderr(WAIT).await;
    assert_eq!(
        exit,
        ExitInfo::Signal(Signal::SIGXCPU as i32),
        "{}",
        busy.stderr_tail()
    );

    // Processes: a fork loop hits pids.max.
    if let Some(cg) = &cgroup {
        let mut loop_ = ChildGroup::spawn(
            "for i in $(seq 20); do sleep 5 & done; wait",
            &fixtures(),
            &[],
        )
        .unwrap();
        assert!(
            eventually(WAIT, || cg.hit_limit() > 0),
            "pids.max never hit"
        );
        assert!(cg.pids().len() <= 6);
        loop_.terminate(Duration::from_millis(100)).await;
    }
    if let Some(cg) = cgroup {
        let dir = cg.dir().to_path_buf();
        cg.remove().unwrap();
        assert!(!dir.exists());
    }
    println!("limits ok");
}
