/*!
Namespaces per submission ([`netdrill::grade::isolate`]), against real processes: a
program started through `enter_namespaces` (called in `pre_exec`, so that only the
spawned process enters them) has its own loopback and sees only its own processes;
statuses and SIGTERM cross the boundary; killing the outer process ends the namespace.

As root these must work (this machine); elsewhere the probe must say why not.
*/

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netdrill::grade::isolate::{Isolation, enter_namespaces, probe};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The namespace a link in /proc/self/ns points to (`net:[4026531840]`).
fn ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

/// Whether namespaces work here: they must as root; otherwise the reason is checked
/// and printed, and the caller stops (the rest needs them).
fn namespaces_available() -> bool {
    match probe() {
        Isolation::Namespaces { user_ns } => {
            assert_eq!(
                user_ns,
                !root(),
                "a user namespace is needed only without root"
            );
            true
        }
        Isolation::None { why } => {
            assert!(!root(), "as root, namespaces must work: {why}");
            assert!(why.contains(':'), "{why}");
            eprintln!("namespaces are not available here: {why}");
            false
        }
    }
}

/// `python3 -c SCRIPT ARGS…` entering new namespaces first (in the spawned process).
fn isolated_python(script: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs between fork and exec in a single-threaded child; it
    // allocates (glibc's malloc is usable after fork) and enters the namespaces.
    unsafe {
        cmd.pre_exec(|| match enter_namespaces() {
            Isolation::Namespaces { .. } => Ok(()),
            Isolation::None { why } => {
                let msg = format!("not isolated: {why}\n");
                nix::libc::write(2, msg.as_ptr().cast(), msg.len());
                Err(std::io::Error::other("not isolated"))
            }
        });
    }
    cmd
}

fn wait_bounded(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the isolated program did not end within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    s
}

/// True once `pid` runs nothing: no such process, or a zombie.
fn gone(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH)
        || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
}

fn children_of(pid: u32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn probe_says_whether_namespaces_work_and_changes_nothing() {
    let before = (ns("net"), ns("pid"), ns("mnt"), ns("user"));
    namespaces_available();
    assert_eq!(
        (ns("net"), ns("pid"), ns("mnt"), ns("user")),
        before,
        "probe moved the calling process"
    );
}

const LOOPBACK_SCRIPT: &str = r#"
import os, socket, sys
host_port = int(sys.argv[1])
srv = socket.socket()
srv.bind(("127.0.0.1", 12000))
srv.listen(1)
c = socket.create_connection(("127.0.0.1", 12000))
a, _ = srv.accept()
c.sendall(b"ping")
print("echo", a.recv(4).decode())
print("pid", os.getpid())
print("procs", " ".join(sorted(p for p in os.listdir("/proc") if p.isdigit())))
tcp = open("/proc/net/tcp").read()
print("listening", " ".join(sorted({l.split()[1].split(":")[1] for l in tcp.splitlines()[1:] if l.split()[3] == "0A"})))
print("host_port_seen", (":%04X " % host_port) in tcp)
"#;

#[test]
fn a_namespace_has_its_own_loopback_and_sees_only_its_processes() {
    if !namespaces_available() {
        return;
    }
    // 127.0.0.1:12000 is taken on the host (by us, or already by someone else).
    let _ours = std::net::TcpListener::bind("127.0.0.1:12000");
    let host_tcp = std::fs::read_to_string("/proc/net/tcp").unwrap();
    assert!(host_tcp.contains(":2EE0 "), "nothing on 12000 on the host");
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other_port = other.local_addr().unwrap().port().to_string();

    let out = isolated_python(LOOPBACK_SCRIPT, &[&other_port])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "echo ping",
            "pid 1",
            "procs 1",
            "listening 2EE0",
            "host_port_seen False"
        ],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_exit_status_crosses_the_boundary() {
    if !namespaces_available() {
        return;
    }
    let status = isolated_python("import sys; sys.exit(7)", &[])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(7));
}

/// Starts `script` isolated, waits for its "ready" line, sends SIGTERM to the outer
/// process, and returns how it ended and how long that took.
fn terminate_isolated(script: &str) -> (std::process::ExitStatus, Duration) {
    let mut child = isolated_python(script, &[]).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    match lines.next() {
        Some(Ok(l)) if l == "ready" => {}
        other => panic!("{other:?}: {}", stderr_of(&mut child)),
    }
    let began = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(15));
    (status, began.elapsed())
}

#[test]
fn sigterm_is_forwarded_and_an_ignoring_program_is_killed_after_the_grace() {
    if !namespaces_available() {
        return;
    }
    let handles = "import signal, sys, time\n\
                   signal.signal(signal.SIGTERM, lambda *_: sys.exit(5))\n\
                   print('ready', flush=True)\n\
                   time.sleep(30)\n";
    let (status, took) = terminate_isolated(handles);
    assert_eq!(status.code(), Some(5), "{status:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");

    // PID 1 of a namespace ignores a signal it has no handler for: SIGKILL follows.
    let ignores = "import time\nprint('ready', flush=True)\ntime.sleep(30)\n";
    let (status, took) = terminate_isolated(ignores);
    assert_eq!(status.signal(), Some(9), "{status:?}");
    assert!(took >= Duration::from_secs(2), "took {took:?}");
}

#[test]
fn killing_the_outer_process_ends_everything_in_the_namespace() {
    if !namespaces_available() {
        return;
    }
    // PID 1 starts a daemon in its own session, then waits.
    let script = "import os, subprocess, time\n\
                  subprocess.Popen(['setsid', 'sleep', '60'])\n\
                  print('ready', flush=True)\n\
                  time.sleep(60)\n";
    let mut child = isolated_python(script, &[]).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    match lines.next() {
        Some(Ok(l)) if l == "ready" => {}
        other => panic!("{other:?}: {}", stderr_of(&mut child)),
    }
    let outer = child.id();
    let inner = children_of(outer);
    assert_eq!(inner.len(), 1, "PID 1 of the namespace, seen from the host");
    let mut daemons = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while daemons.is_empty() && Instant::now() < deadline {
        daemons = children_of(inner[0] as u32);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(daemons.len(), 1, "the daemon, seen from the host");
    kill(Pid::from_raw(outer as i32), Signal::SIGKILL).unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(5));
    assert_eq!(status.signal(), Some(9));
    let deadline = Instant::now() + Duration::from_secs(5);
    let all = [inner[0], daemons[0]];
    while !all.iter().all(|&p| gone(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let left: Vec<i32> = all.into_iter().filter(|&p| !gone(p)).collect();
    assert!(left.is_empty(), "still running: {left:?}");
}
