//! What a failing step shows a student (`tests/failing/`): what arrived in full (a line
//! diff for text, a hex dump for binary, what arrived against a pattern), the same
//! however the peer's bytes were split into reads, and in the JSON report the scenario's
//! `about`, the failing step's source with the author's comment, and the transcript.

use std::path::Path;
use std::process::{Command, Stdio};

use proptest::prelude::*;

fn netdrill() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_netdrill"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.stdin(Stdio::null());
    c
}

/// The human report of a run, with the run's duration taken out.
fn human(file: &str) -> String {
    let out = netdrill()
        .args(["run", file])
        .output()
        .expect("netdrill runs");
    assert_eq!(out.status.code(), Some(1), "{file} must fail");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    regex::Regex::new(r"\(\d+ ms\)")
        .unwrap()
        .replace_all(&text, "([TIME])")
        .into_owned()
}

fn json_failure(file: &Path) -> serde_json::Value {
    let out = netdrill()
        .args(["run", "--format", "json"])
        .arg(file)
        .output()
        .expect("netdrill runs");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    report["scenarios"][0]["failure"].clone()
}

#[test]
fn failure_output_snapshots() {
    insta::glob!("../failing", "*.toml", |path| {
        let rel = path
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .to_string_lossy()
            .into_owned();
        insta::with_settings!({
            snapshot_path => "../../snapshots/failures",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!("failure", human(&rel));
        });
    });
}

#[test]
fn the_header_that_differs_in_a_long_reply_is_shown() {
    let text = human("tests/failing/long-reply.toml");
    assert!(text.contains("- Content-Type: text/plain\\r"), "{text}");
    assert!(text.contains("+ Content-Type: text/html\\r"), "{text}");
    // The transcript line stays short: the report, not the transcript, shows it all.
    assert!(text.contains("… (116 bytes, sha256"), "{text}");
}

#[test]
fn a_pattern_mismatch_shows_what_arrived_and_no_caret() {
    let text = human("tests/failing/pattern-reply.toml");
    assert!(
        text.contains("arrived: \"554 5.7.1 no service for you\" (28 bytes)"),
        "{text}"
    );
    assert!(!text.contains("^ first difference"), "{text}");
}

#[test]
fn the_json_failure_carries_about_source_comment_transcript_and_comparison() {
    let f =
        json_failure(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/failing/long-reply.toml"));
    assert_eq!(
        f["about"],
        "A web server's reply, checked whole: the one header that differs must be visible."
    );
    let source = f["source"].as_str().unwrap();
    assert!(
        source.contains("11 |   # The assignment asks for plain text"),
        "{source}"
    );
    assert!(
        source.contains("12 |   { recv = \"HTTP/1.1 200 OK"),
        "{source}"
    );
    assert!(f["transcript"].as_str().unwrap().contains("7 client recv"));
    let comparison = f["comparison"].as_str().unwrap();
    assert!(
        comparison.contains("- Content-Type: text/plain\\r"),
        "{comparison}"
    );
    // `actual` is given in full (not shortened with a digest).
    let actual = f["actual"].as_str().unwrap();
    assert!(actual.contains("Content-Type: text/html\\r\\n"), "{actual}");
    assert!(!actual.contains("sha256"), "{actual}");
}

/// The wrong line, sent by the scripted peer in writes of the given sizes.
fn split_line_scenario(chunks: &[usize]) -> String {
    let sizes = chunks
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"name = "split"
timeout = "3s"
steps = [
  {{ srv.listen = true }},
  {{ connect = "srv" }},
  {{ srv.accept = "conn" }},
  {{ conn.send = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX: y\r\n\r\n", chunks = [{sizes}], pause = "2ms" }},
  {{ recv = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX: y\r\n\r\n" }},
]
"#
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// However the peer's bytes fall into reads, the failure reads the same.
    #[test]
    fn a_flawed_peer_fails_the_same_way_however_its_bytes_are_split(
        chunks in proptest::collection::vec(1usize..20, 1..8)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let whole = dir.path().join("whole.toml");
        std::fs::write(&whole, split_line_scenario(&[1000])).unwrap();
        let split = dir.path().join("split.toml");
        std::fs::write(&split, split_line_scenario(&chunks)).unwrap();
        let a = json_failure(&whole);
        let b = json_failure(&split);
        for key in ["message", "expected", "actual", "comparison"] {
            prop_assert_eq!(&a[key], &b[key], "{}", key);
        }
    }
}
