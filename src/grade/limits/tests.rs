/*!
Unit tests of the limits: rlimits in force in a child, mountinfo, a pids cgroup
capping a fork loop.
*/

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::resource::Resource;
use nix::sys::signal::kill;
use nix::unistd::Pid;

use super::cgroup::sanitize;
use super::mountinfo::parse_mountinfo;
use super::*;
use crate::grade::model::Limits;

#[test]
fn rlimit_values_follow_the_rubric() {
    let limits = Limits {
        cpu: Duration::from_millis(2500),
        memory: 256 << 20,
        processes: 16,
        file_size: 1 << 20,
        output: 1 << 20,
    };
    let plan = rlimit_plan(&limits);
    let get = |r| plan.iter().find(|p| p.resource == r).copied().unwrap();
    assert_eq!(get(Resource::RLIMIT_CPU).soft, 3);
    assert_eq!(get(Resource::RLIMIT_CPU).hard, 4);
    assert_eq!(get(Resource::RLIMIT_AS).soft, 256 << 20);
    assert_eq!(get(Resource::RLIMIT_AS).hard, 256 << 20);
    assert_eq!(get(Resource::RLIMIT_FSIZE).soft, 1 << 20);
    assert_eq!(get(Resource::RLIMIT_NPROC).hard, 16);
    assert_eq!(get(Resource::RLIMIT_CORE).soft, 0);
    assert_eq!(get(Resource::RLIMIT_CORE).hard, 0);
    let tiny = Limits {
        cpu: Duration::from_millis(10),
        ..limits
    };
    assert_eq!(rlimit_plan(&tiny)[0].soft, 1, "at least one second");
    assert_eq!(
        rlimit_plan(&Limits::default())[0],
        RlimitPlan {
            resource: Resource::RLIMIT_CPU,
            soft: 10,
            hard: 11
        }
    );
}

/// The value of a row of /proc/self/limits ("Max cpu time  3  4  seconds").
fn limit_row(text: &str, row: &str) -> (String, String) {
    let line = text.lines().find(|l| l.starts_with(row)).unwrap();
    let cols: Vec<&str> = line[row.len()..].split_whitespace().collect();
    (cols[0].to_string(), cols[1].to_string())
}

#[test]
fn rlimits_are_in_force_in_the_child() {
    let limits = Limits {
        cpu: Duration::from_secs(3),
        memory: 512 << 20,
        processes: 40,
        file_size: 4096,
        output: 1 << 20,
    };
    let mut cmd = std::process::Command::new("cat");
    cmd.arg("/proc/self/limits");
    // SAFETY: apply_rlimits is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || apply_rlimits(&limits));
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(limit_row(&text, "Max cpu time"), ("3".into(), "4".into()));
    let mem = (512u64 << 20).to_string();
    assert_eq!(
        limit_row(&text, "Max address space"),
        (mem.clone(), mem),
        "{text}"
    );
    assert_eq!(
        limit_row(&text, "Max file size"),
        ("4096".into(), "4096".into())
    );
    assert_eq!(
        limit_row(&text, "Max processes"),
        ("40".into(), "40".into())
    );
    assert_eq!(
        limit_row(&text, "Max core file size"),
        ("0".into(), "0".into())
    );

    // Writing past file_size ends the writer.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", "head -c 10000 /dev/zero > big"])
        .current_dir(dir.path())
        .stderr(std::process::Stdio::null());
    // SAFETY: as above.
    unsafe {
        cmd.pre_exec(move || apply_rlimits(&limits));
    }
    let status = cmd.status().unwrap();
    assert!(!status.success());
    assert_eq!(
        std::fs::metadata(dir.path().join("big")).unwrap().len(),
        4096
    );
}

#[test]
fn decimal_digits_without_allocation() {
    let mut buf = [0u8; 20];
    assert_eq!(format_decimal(0, &mut buf), b"0");
    assert_eq!(format_decimal(4_194_304, &mut buf), b"4194304");
    assert_eq!(format_decimal(u64::MAX, &mut buf), b"18446744073709551615");
}

#[test]
fn mountinfo_lines_are_parsed() {
    let text = "\
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:5 - cgroup2 cgroup2 rw
50 31 0:40 / /mnt/with\\040space rw - tmpfs tmpfs rw
garbage";
    let m = parse_mountinfo(text);
    assert_eq!(m.len(), 3);
    assert_eq!(m[0].point, Path::new("/sys/fs/cgroup/pids"));
    assert_eq!(
        (m[0].fstype.as_str(), m[0].options.as_str()),
        ("cgroup", "rw,pids")
    );
    assert_eq!(m[1].fstype, "cgroup2");
    assert_eq!(m[2].point, Path::new("/mnt/with space"));
    assert_eq!(sanitize("ab/c d-é_1"), "ab_c_d-__1");
}

/// Whether a writable pids hierarchy is mounted (then root must get a cgroup).
fn pids_hierarchy_writable() -> bool {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    parse_mountinfo(&text).iter().any(|m| {
        let opts = |s: &str| m.options.split(',').any(|o| o == s);
        let rw = text
            .lines()
            .any(|l| l.contains(&format!(" {} rw", m.point.display())));
        rw && ((m.fstype == "cgroup" && opts("pids"))
            || (m.fstype == "cgroup2"
                && std::fs::read_to_string(m.point.join("cgroup.controllers"))
                    .is_ok_and(|c| c.split_whitespace().any(|c| c == "pids"))))
    })
}

/// True once `pid` is no process (or only a zombie, which runs nothing).
fn gone(pid: i32) -> bool {
    let _ = nix::sys::wait::waitpid(
        Pid::from_raw(pid),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    );
    kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH)
        || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
}

#[test]
fn a_pids_cgroup_caps_a_fork_loop_and_leaves_nothing() {
    let root = nix::unistd::geteuid().is_root();
    let cg = match PidsCgroup::create("unit test", 5) {
        Ok(cg) => cg,
        Err(why) => {
            assert!(
                !(root && pids_hierarchy_writable()),
                "root with a writable pids hierarchy must get a cgroup: {why}"
            );
            assert!(why.starts_with("no pids cgroup: "), "{why}");
            eprintln!("not tested here (no cgroup): {why}");
            return;
        }
    };
    let dir = cg.dir().to_path_buf();
    let leaf = dir.file_name().unwrap().to_string_lossy().into_owned();
    let prefix = format!("netdrill-unit_test-{}-", std::process::id());
    assert!(leaf.starts_with(&prefix), "{leaf}");
    assert_eq!(leaf.len(), prefix.len() + 8, "{leaf}");
    assert_eq!(
        std::fs::read_to_string(dir.join("pids.max"))
            .unwrap()
            .trim(),
        "5"
    );
    let procs = cg.procs_path().to_owned();
    let mut cmd = std::process::Command::new("sh");
    // The shell waits for a line before it forks: a shell whose fork fails may exit at
    // once, so it is seen in the cgroup first.
    cmd.args(["-c", "read go; for i in $(seq 20); do sleep 5 & done; wait"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    // SAFETY: join_cgroup is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || join_cgroup(&procs));
    }
    let mut child = cmd.spawn().unwrap();
    let shell = child.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cg.pids().contains(&shell) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(cg.pids().contains(&shell), "the shell is not in the cgroup");
    {
        use std::io::Write as _;
        let mut go = child.stdin.take().unwrap();
        go.write_all(b"go\n").unwrap();
    }
    let mut seen = std::collections::BTreeSet::from([shell]);
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    // The loop forks 20 sleeps (and a subshell for `seq`): at most 5 at once. Watch
    // until a fork failed, and a little longer.
    let mut extra = 20;
    while extra > 0 && Instant::now() < deadline {
        if cg.hit_limit() > 0 {
            extra -= 1;
        }
        let now = cg.pids();
        most = most.max(now.len());
        seen.extend(now);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(cg.hit_limit() > 0, "pids.max was never hit");
    assert!(most <= 5, "{most} processes at once");
    drop(cg);
    assert!(!dir.exists(), "{} left behind", dir.display());
    // Killed, or ended by its shell on the failed fork: either way it is reaped.
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.iter().all(|&p| gone(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let left: Vec<i32> = seen.into_iter().filter(|&p| !gone(p)).collect();
    assert!(left.is_empty(), "still running: {left:?}");

    // A cgroup never dropped (the process exits without running destructors) is
    // removed, and its processes killed, by remove_created_cgroups.
    let cg = PidsCgroup::create("unit test forgotten", 5).unwrap();
    let dir = cg.dir().to_path_buf();
    let procs = cg.procs_path().to_owned();
    std::mem::forget(cg);
    let mut cmd = std::process::Command::new("sleep");
    cmd.arg("30");
    // SAFETY: join_cgroup is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || join_cgroup(&procs));
    }
    let mut sleeper = cmd.spawn().unwrap();
    assert!(remove_created_cgroups().unwrap() >= 1);
    assert!(!dir.exists(), "{} left behind", dir.display());
    let status = sleeper.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
}
