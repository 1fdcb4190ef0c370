//! `netdrill init`: the starter suite it writes checks and passes as written, a second
//! `init` overwrites nothing, and the schema it writes is `netdrill schema`'s.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn netdrill() -> Command {
    Command::new(env!("CARGO_BIN_EXE_netdrill"))
}

fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("netdrill runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `netdrill init DIR` and expects it to succeed.
fn init(dir: &Path) -> String {
    let out = output(netdrill().arg("init").arg(dir));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

const FILES: [&str; 6] = [
    "scenarios/tcp-uppercase.toml",
    "scenarios/udp-uppercase.toml",
    "scenarios/client.toml",
    "netdrill.schema.json",
    ".taplo.toml",
    ".github/workflows/netdrill.yml",
];

#[test]
fn init_writes_a_suite_that_checks_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite");
    let text = init(&suite);
    for file in FILES {
        assert!(suite.join(file).is_file(), "{file} missing");
        let line = format!("wrote {}", suite.join(file).display());
        assert!(text.contains(&line), "{line:?} not in\n{text}");
    }
    assert!(text.contains("next: cd "), "{text}");

    let check = output(netdrill().args(["check", "scenarios"]).current_dir(&suite));
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}{}",
        stdout(&check),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        stdout(&check).contains("checked 3 scenario files: all valid"),
        "{}",
        stdout(&check)
    );

    let run = output(
        netdrill()
            .args(["run", "scenarios", "--format", "json"])
            .current_dir(&suite),
    );
    assert_eq!(run.status.code(), Some(0), "{}", stdout(&run));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).expect("json");
    assert_eq!(
        report["summary"],
        serde_json::json!({"passed": 3, "failed": 0, "error": 0}),
        "{report:#}"
    );
    let mut files: Vec<&str> = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["file"].as_str().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "scenarios/client.toml",
            "scenarios/tcp-uppercase.toml",
            "scenarios/udp-uppercase.toml"
        ]
    );
}

#[test]
fn init_without_dir_writes_into_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(netdrill().arg("init").current_dir(dir.path()));
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for file in FILES {
        assert!(dir.path().join(file).is_file(), "{file} missing");
        assert!(text.contains(&format!("wrote {file}\n")), "{text}");
    }
    assert!(
        text.contains("next: netdrill check scenarios/ && netdrill run scenarios/"),
        "{text}"
    );
}

#[test]
fn a_second_init_writes_nothing_and_reports_skips() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let mine = dir.path().join("scenarios/tcp-uppercase.toml");
    std::fs::write(&mine, "# my own scenario\n").unwrap();
    let out = output(netdrill().arg("init").current_dir(dir.path()));
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(!text.contains("wrote"), "{text}");
    for file in FILES {
        let line = format!("skipped {file}: already exists");
        assert!(text.contains(&line), "{line:?} not in\n{text}");
    }
    assert_eq!(
        std::fs::read_to_string(&mine).unwrap(),
        "# my own scenario\n"
    );
}

#[test]
fn init_fills_in_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".taplo.toml"), "# mine\n").unwrap();
    let out = output(netdrill().arg("init").current_dir(dir.path()));
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("skipped .taplo.toml: already exists"),
        "{text}"
    );
    assert!(text.contains("wrote netdrill.schema.json"), "{text}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".taplo.toml")).unwrap(),
        "# mine\n"
    );
}

#[test]
fn the_written_schema_is_what_netdrill_schema_prints() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let schema = output(netdrill().arg("schema"));
    assert_eq!(schema.status.code(), Some(0));
    let written = std::fs::read(dir.path().join("netdrill.schema.json")).unwrap();
    assert!(written == schema.stdout, "the written schema differs");
}

#[test]
fn the_taplo_file_wires_the_schema_to_the_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let taplo = std::fs::read_to_string(dir.path().join(".taplo.toml")).unwrap();
    assert!(
        taplo.contains(r#"include = ["scenarios/**/*.toml"]"#),
        "{taplo}"
    );
    assert!(
        taplo.contains(r#"path = "./netdrill.schema.json""#),
        "{taplo}"
    );
}

#[test]
fn the_workflow_checks_runs_and_keeps_the_junit_report() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let wf = std::fs::read_to_string(dir.path().join(".github/workflows/netdrill.yml")).unwrap();
    let check = wf.find("netdrill check scenarios/").expect("check step");
    let run = wf.find("netdrill run scenarios/").expect("run step");
    assert!(check < run, "{wf}");
    for needle in [
        "--report-junit netdrill-junit.xml",
        "--format github",
        "actions/upload-artifact",
        "if: always()",
        "REPLACE-ME",
    ] {
        assert!(wf.contains(needle), "{needle:?} not in\n{wf}");
    }
}

#[test]
fn a_dir_that_cannot_be_created_is_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let out = output(netdrill().arg("init").arg(&file));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a directory"), "{err}");

    let out = output(netdrill().arg("init").arg(file.join("below")));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot create"), "{err}");
}
