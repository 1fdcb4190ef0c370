/*!
Unit tests of spawned programs' plumbing: lines, the stderr tail, `/proc` stat,
inherited processes, `exec` of simple commands, exit descriptions.
*/

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::BufReader;
use tokio::sync::mpsc;

use super::orphans::{ProcStat, Us};
use super::output::{Kept, Tail, pump_stdout};
use super::*;
use crate::interp::lock;

async fn lines(input: &[u8], cap: usize) -> Vec<String> {
    let mut r = BufReader::with_capacity(4, input);
    let mut out = Vec::new();
    while let Some(l) = read_capped_line(&mut r, cap).await.unwrap() {
        out.push(l);
    }
    out
}

#[tokio::test]
async fn lines_are_split_stripped_and_capped() {
    assert_eq!(
        lines(b"ab\r\ncd\n\nlast", 100).await,
        ["ab", "cd", "", "last"]
    );
    assert_eq!(lines(b"abcdefgh\nxy\n", 3).await, ["abc", "xy"]);
    assert!(lines(b"", 3).await.is_empty());
}

#[tokio::test]
async fn stdout_lines_go_to_the_queue_and_the_kept_output_while_they_have_room() {
    let (tx, mut rx) = mpsc::channel(2);
    let dropped = Arc::new(AtomicU64::new(0));
    let kept = Arc::new(Mutex::new(Kept {
        cap: 8,
        ..Kept::default()
    }));
    let input: &[u8] = b"ab\r\ncd\nefgh\nlast";
    pump_stdout(input, tx, Arc::clone(&dropped), Arc::clone(&kept)).await;
    assert_eq!(rx.recv().await.as_deref(), Some("ab"));
    assert_eq!(rx.recv().await.as_deref(), Some("cd"));
    assert_eq!(rx.recv().await, None);
    // The queue held 2: "efgh" and "last" were counted, not queued.
    assert_eq!(dropped.load(Ordering::Relaxed), 2);
    let k = lock(&kept);
    assert_eq!(k.text, "ab\ncd\n");
    assert_eq!(k.dropped, 5 + 5);
}

#[test]
fn tail_keeps_the_last_lines_within_bounds() {
    let mut t = Tail::default();
    for i in 0..100 {
        t.push(format!("line {i}"));
    }
    assert_eq!(t.lines.len(), STDERR_LINES);
    assert_eq!(t.lines.back().map(String::as_str), Some("line 99"));
    t.push("é".repeat(STDERR_BYTES));
    assert_eq!(t.lines.len(), 1);
    assert!(t.bytes <= STDERR_BYTES);
    assert_eq!(t.bytes, t.lines[0].len());
}

#[test]
fn proc_stat_is_parsed_even_with_odd_names() {
    let s = ProcStat::parse(42, "42 (a (b) c) Z 7 42 40 34816 0 0").unwrap();
    assert_eq!(
        s,
        ProcStat {
            pid: 42,
            state: b'Z',
            ppid: 7,
            pgrp: 42,
            session: 40
        }
    );
    assert!(s.dead());
    assert_eq!(ProcStat::parse(1, "garbage"), None);
    assert_eq!(ProcStat::parse(1, "1 (x) S 0"), None);
}

#[test]
fn only_children_that_left_our_group_or_session_are_inherited() {
    let us = Us {
        pid: 10,
        pgrp: 5,
        session: 5,
    };
    let registered = BTreeSet::from([20]);
    let p = |pid, ppid, pgrp, session| ProcStat {
        pid,
        state: b'S',
        ppid,
        pgrp,
        session,
    };
    let daemon = p(30, 10, 30, 30);
    let own_group = p(31, 10, 31, 5);
    let orphan_of_live_group = p(32, 10, 20, 5);
    let orphan_of_finished_group = p(33, 10, 25, 5);
    for q in [daemon, own_group, orphan_of_finished_group] {
        assert!(us.inherited(&q, &registered) && us.escaped(&q, &registered));
    }
    assert!(us.inherited(&orphan_of_live_group, &registered));
    assert!(!us.escaped(&orphan_of_live_group, &registered));
    let leader = p(20, 10, 20, 5);
    let started_directly = p(34, 10, 5, 5);
    let not_ours = p(35, 11, 35, 35);
    for q in [leader, started_directly, not_ours] {
        assert!(!us.inherited(&q, &registered), "{q:?}");
    }
}

#[test]
fn simple_commands_are_exec_ed_and_others_left_alone() {
    assert_eq!(exec_if_simple("./server 1234"), "exec ./server 1234");
    assert_eq!(
        exec_if_simple("python3 /a/b-c/server.py 80"),
        "exec python3 /a/b-c/server.py 80"
    );
    for same in [
        "cd x && ./server 1",
        "FOO=1 ./server",
        "./server 1 > log",
        "exec ./server",
        "cd sub",
        "sleep 1; echo $x",
        "echo 'a b'",
        "",
    ] {
        assert_eq!(exec_if_simple(same), same);
    }
}

#[test]
fn exit_info_reads_well() {
    assert_eq!(ExitInfo::Code(3).to_string(), "exited with status 3");
    assert_eq!(
        ExitInfo::Signal(9).to_string(),
        "killed by signal 9 (SIGKILL)"
    );
}
