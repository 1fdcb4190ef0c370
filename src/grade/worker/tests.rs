/*!
Unit tests of what a worker tells students: diagnoses, sizes, fences.
*/

use super::markdown::fenced;
use super::*;
use crate::grade::model::Limits;

#[test]
fn setup_mistakes_are_named() {
    let l = Limits::default();
    let d = diagnose(
        "the target could not be started: the target listens on 127.0.0.1:12000, not on its port 127.0.0.1:[PORT]: it must use the port",
        &l,
        false,
        Some("./server {{port}}"),
    );
    assert!(
        d.starts_with("Your program (`./server <port>`) listens on 127.0.0.1:12000"),
        "{d}"
    );
    let d = diagnose(
        "the target could not be started: the target exited with status 0 before it was ready; it wrote nothing on stderr",
        &l,
        false,
        None,
    );
    assert!(d.contains("do not daemonize"), "{d}");
    let d = diagnose(
        "the target could not be started: the target exited with status 1 before it was ready\nthe end of its stderr:\n  | MemoryError",
        &l,
        false,
        None,
    );
    assert!(d.contains("memory limit (1GiB"), "{d}");
    assert!(
        d.contains("exited with status 1 right after it started"),
        "{d}"
    );
    let d = diagnose(
        "recv_line: no line within 1s; meanwhile the target killed by signal 24 (SIGXCPU)",
        &l,
        false,
        None,
    );
    assert!(d.contains("CPU time limit (10s)"), "{d}");
    assert!(d.contains("crashed during the test"), "{d}");
    let d = diagnose("x", &l, true, None);
    assert!(d.contains("process limit"), "{d}");
    assert!(d.contains("64"), "{d}");
    // Through a shell: status 128 + N.
    let d = diagnose(
        "recv_line: no line within 1s; meanwhile the target exited with status 152",
        &l,
        false,
        None,
    );
    assert!(d.contains("CPU time limit"), "{d}");
    let d = diagnose(
        "recv_line: no line; meanwhile the target exited with status 139",
        &l,
        false,
        None,
    );
    assert!(d.contains("killed by signal 11 (SIGSEGV)"), "{d}");
    let d = diagnose(
        "the target could not be started: the target exited with status 1 before it was ready\nthe end of its stderr:\n  | OSError: [Errno 27] File too large",
        &l,
        false,
        None,
    );
    assert!(d.contains("file size limit (16MiB)"), "{d}");
    let d = diagnose(
        "the target could not be started: the target exited with status 1 before it was ready\nthe end of its stderr:\n  | BlockingIOError: [Errno 11] Resource temporarily unavailable (fork)",
        &l,
        false,
        None,
    );
    assert!(d.contains("probably hit the process limit (64"), "{d}");
}

#[test]
fn sizes_read_like_the_rubric() {
    assert_eq!(human_size(1 << 30), "1GiB");
    assert_eq!(human_size(16 << 20), "16MiB");
    assert_eq!(human_size(1000), "1000 bytes");
}

#[test]
fn fences_are_never_closed_by_the_text() {
    let f = fenced("a ``` b");
    assert!(f.starts_with("````text\n"), "{f}");
}
