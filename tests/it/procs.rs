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
    std::process::Command::new(std::env::current_exe().unwrap())
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
    let mut child = helper("procs::helper_kill_all");
    let status = wait_std(&mut child);
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(status.success(), "{out}");
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
