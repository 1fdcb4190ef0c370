//! `run` as a CI job uses it: report files read back with a JUnit parser, order under
//! `-j`, retries and flaky scenarios, selection, deadlines, Ctrl-C, file discovery, and
//! insta-format snapshots with their review flow.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use serde_json::Value;

fn netdrill() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_netdrill"));
    c.env_remove("NETDRILL_UPDATE_SNAPSHOTS")
        .env_remove("NO_COLOR");
    c
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).expect("write scenario");
    p
}

fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("netdrill runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An uppercase exchange against the built-in server, named `name`, tagged `tags`.
fn uppercase(name: &str, tags: &str, expect: &str) -> String {
    format!(
        r#"name = "{name}"
tags = [{tags}]
timeout = "1s"
steps = [
  {{ connect = "target" }},
  {{ send = "hi\n" }},
  {{ recv_line = "{expect}" }},
]
[target]
builtin = "uppercase"
"#
    )
}

const INVALID: &str = "name = \"broken\"\nsteps = [ { conect = \"target\" } ]\n";

#[test]
fn report_files_are_written_beside_the_human_output_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s/a-pass.toml", &uppercase("passes", "", "HI"));
    write(dir.path(), "s/b-fail.toml", &uppercase("fails", "", "hi"));
    write(dir.path(), "s/c-invalid.toml", INVALID);
    let out = output(
        netdrill()
            .current_dir(dir.path())
            .args(["run", "s", "--report-junit", "out/r.xml", "--report-json"])
            .arg("out/r.json"),
    );
    // Invalid input wins over a failure: exit 2, and the human report is on stdout.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let human = text(&out.stdout);
    assert!(human.contains("FAIL  s/b-fail.toml"), "{human}");
    assert!(human.ends_with("1 passed, 1 failed, 1 error\n"), "{human}");

    let xml = std::fs::read_to_string(dir.path().join("out/r.xml")).unwrap();
    let report = Report::deserialize_from_str(&xml).expect("JUnit parses");
    let cases = &report.test_suites[0].test_cases;
    assert_eq!(cases.len(), 3);
    assert_eq!(cases[0].name.as_str(), "passes");
    assert!(matches!(cases[0].status, TestCaseStatus::Success { .. }));
    match &cases[1].status {
        TestCaseStatus::NonSuccess { kind, message, .. } => {
            assert_eq!(*kind, NonSuccessKind::Failure);
            let m = message.as_ref().unwrap().as_str();
            assert!(m.starts_with("step 3 (line 7) client recv_line:"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    let out_text = cases[1].system_out.as_ref().unwrap().as_str();
    assert!(
        out_text.contains("3 client recv_line \"hi\" -> FAILED"),
        "{out_text}"
    );
    assert!(matches!(
        &cases[2].status,
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Error,
            ..
        }
    ));

    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/r.json")).unwrap())
            .unwrap();
    assert_eq!(json["summary"]["failed"], 1);
    assert_eq!(json["scenarios"][1]["failure"]["step"], 3);
}

#[test]
fn order_is_the_input_order_under_j8_over_200_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..200 {
        // Every tenth one waits a little, so later ones finish first.
        let pause = if i % 10 == 0 {
            "  { sleep = \"30ms\" },\n"
        } else {
            ""
        };
        let sc = format!(
            "name = \"n{i:03}\"\nsteps = [\n{pause}  {{ connect = \"target\" }},\n  {{ send = \"x{i}\\n\" }},\n  {{ recv_line = \"X{i}\" }},\n]\n[target]\nbuiltin = \"uppercase\"\n"
        );
        write(dir.path(), &format!("s/{i:03}.toml"), &sc);
    }
    let run = || {
        let out = output(
            netdrill()
                .current_dir(dir.path())
                .args(["run", "s", "-j", "8", "--format", "json"]),
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let expected: Vec<String> = (0..200).map(|i| format!("n{i:03}")).collect();
    assert_eq!(run(), expected);
    assert_eq!(run(), expected);
}

/// A scenario against the fixture that is wrong on every other start.
fn every_other(dir: &Path) -> PathBuf {
    let script = repo("tests/fixtures/every_other_run.py");
    let state = dir.join("count");
    write(
        dir,
        "flaky.toml",
        &format!(
            r#"name = "flaky server"
timeout = "2s"
steps = [
  {{ connect = "target" }},
  {{ send = "hi\n" }},
  {{ recv_line = "HI" }},
]
[target]
command = "python3 {} {} {{{{port}}}}"
"#,
            script.display(),
            state.display()
        ),
    )
}

#[test]
fn a_scenario_that_passes_only_on_a_retry_is_flaky() {
    let dir = tempfile::tempdir().unwrap();
    let file = every_other(dir.path());
    // Without retries the first start fails.
    let once = output(netdrill().arg("run").arg(&file));
    assert_eq!(once.status.code(), Some(1), "{}", text(&once.stdout));
    // Its second start passes: with one retry the second attempt passes, flaky.
    std::fs::remove_file(dir.path().join("count")).unwrap();
    let junit = dir.path().join("r.xml");
    let out = output(
        netdrill()
            .arg("run")
            .arg(&file)
            .args(["--retries", "2", "--format", "json", "--report-junit"])
            .arg(&junit),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["scenarios"][0];
    assert_eq!(s["status"], "passed");
    assert_eq!(s["flaky"], true);
    assert_eq!(s["attempts"], 2);
    assert_eq!(v["summary"]["passed"], 1);
    let report = Report::deserialize_from_str(&std::fs::read_to_string(&junit).unwrap()).unwrap();
    match &report.test_suites[0].test_cases[0].status {
        TestCaseStatus::Success { flaky_runs } => {
            assert_eq!(flaky_runs.len(), 1);
            assert_eq!(flaky_runs[0].kind, NonSuccessKind::Failure);
            let m = flaky_runs[0].message.as_ref().unwrap().as_str();
            assert!(m.contains("recv_line"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("<flakyFailure")
    );
    // The human summary says it too.
    std::fs::remove_file(dir.path().join("count")).unwrap();
    let human = output(netdrill().arg("run").arg(&file).args(["--retries", "1"]));
    let h = text(&human.stdout);
    assert!(h.contains("flaky: passed on attempt 2"), "{h}");
    assert!(
        h.contains("attempt 1 failed: step 3 (line 6) client recv_line"),
        "{h}"
    );
    assert!(
        h.ends_with("1 passed (1 flaky), 0 failed, 0 error\n"),
        "{h}"
    );
}

#[test]
fn tags_filters_and_list_select_without_running() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s/tcp.toml",
        &uppercase("tcp one", "\"tcp\"", "HI"),
    );
    write(
        dir.path(),
        "s/slow.toml",
        &uppercase("tcp slow", "\"tcp\", \"slow\"", "HI"),
    );
    write(
        dir.path(),
        "s/udp.toml",
        &uppercase("udp one", "\"udp\"", "hi"),
    );
    let list = |extra: &[&str]| {
        let out = output(
            netdrill()
                .current_dir(dir.path())
                .args(["run", "s", "--list"])
                .args(extra),
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(
        list(&["--tag", "tcp", "--skip-tag", "slow"]),
        "s/tcp.toml  tcp one  [tcp]\n"
    );
    assert_eq!(list(&["--filter", "^udp"]), "s/udp.toml  udp one  [udp]\n");
    assert_eq!(list(&["--filter", "slow\\.toml$"]).lines().count(), 1);
    // --list ran nothing: the failing udp scenario did not make it exit 1.
    let none = output(
        netdrill()
            .current_dir(dir.path())
            .args(["run", "s", "--tag", "nope"]),
    );
    assert_eq!(none.status.code(), Some(2));
    assert!(text(&none.stderr).contains("no scenario matches the selection"));
}

#[test]
fn a_deadline_bounds_a_run_of_endless_silence() {
    let dir = tempfile::tempdir().unwrap();
    let steps: String = (0..2000).map(|_| "  { silence = \"300ms\" },\n").collect();
    let endless = format!(
        "name = \"endless\"\nsteps = [\n  {{ connect = \"target\" }},\n{steps}]\n[target]\nbuiltin = \"uppercase\"\n"
    );
    write(dir.path(), "s/a.toml", &endless);
    write(dir.path(), "s/b.toml", &endless);
    write(dir.path(), "s/c.toml", &uppercase("after", "", "HI"));
    let out = output(netdrill().current_dir(dir.path()).args([
        "run",
        "s",
        "-j",
        "1",
        "--deadline",
        "1s",
        "--format",
        "json",
    ]));
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let msg = |i: usize| {
        v["scenarios"][i]["failure"]["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(msg(0).contains("the run's deadline of 1s (--deadline) was reached during this step"));
    assert!(msg(1).contains("passed before it started"), "{}", msg(1));
    assert!(msg(2).contains("passed before it started"), "{}", msg(2));

    // The per-scenario wall limit, on one of them, covers `silence` too.
    let out = output(netdrill().current_dir(dir.path()).args([
        "run",
        "s/a.toml",
        "--scenario-timeout",
        "500ms",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("the scenario's wall limit of 500ms (--scenario-timeout)"));
}

#[test]
fn ctrl_c_writes_the_reports_of_what_finished_then_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s/a.toml", &uppercase("first", "", "HI"));
    write(
        dir.path(),
        "s/b.toml",
        "name = \"long\"\nsteps = [ { p.spawn = \"sleep 60\" }, { p.exit = 0, timeout = \"120s\" } ]\n",
    );
    write(dir.path(), "s/c.toml", &uppercase("never", "", "HI"));
    let mut child = netdrill()
        .current_dir(dir.path())
        .args([
            "run",
            "s",
            "-j",
            "1",
            "--report-json",
            "r.json",
            "--report-junit",
            "r.xml",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("PASS  s/a.toml"), "{first}");
    // The first scenario is reported; the second one is running (or about to).
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(rest.ends_with("1 passed, 0 failed, 2 error\n"), "{rest}");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(v["scenarios"][0]["status"], "passed");
    for i in [1, 2] {
        assert_eq!(v["scenarios"][i]["status"], "error");
        let m = v["scenarios"][i]["failure"]["message"].as_str().unwrap();
        assert!(m.contains("interrupted"), "{m}");
    }
    let xml = std::fs::read_to_string(dir.path().join("r.xml")).unwrap();
    assert_eq!(Report::deserialize_from_str(&xml).unwrap().tests, 3);
}

#[test]
fn a_fifo_is_skipped_in_a_directory_and_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s/a.toml", &uppercase("ok", "", "HI"));
    let fifo = dir.path().join("s/pipe.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    for cmd in ["check", "run"] {
        let out = output(netdrill().current_dir(dir.path()).args([cmd, "s"]));
        assert_eq!(out.status.code(), Some(0), "{cmd}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("skipped s/pipe.toml: it is a FIFO"),
            "{}",
            text(&out.stderr)
        );
        let named = output(
            netdrill()
                .current_dir(dir.path())
                .args([cmd, "s/pipe.toml"]),
        );
        assert_eq!(named.status.code(), Some(2));
        assert!(text(&named.stderr).contains("it is a FIFO (named pipe), not a scenario file"));
    }
}

#[test]
fn check_and_run_agree_that_an_empty_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["check", "run"] {
        let out = output(netdrill().arg(cmd).arg(dir.path()));
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        assert!(
            text(&out.stderr).contains("no scenario files (*.toml)"),
            "{cmd}"
        );
    }
}

#[test]
fn github_format_annotates_the_failing_step() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s/b.toml", &uppercase("fails, badly", "", "hi"));
    let out = output(
        netdrill()
            .current_dir(dir.path())
            .args(["run", "s", "--format", "github"]),
    );
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out.stdout);
    let line = t.lines().find(|l| l.starts_with("::error ")).expect(&t);
    assert!(
        line.starts_with(
            "::error file=s/b.toml,line=7,title=fails%2C badly::step 3 (line 7) client recv_line:"
        ),
        "{line}"
    );
    assert!(
        t.contains("FAIL  s/b.toml"),
        "the human report is there too"
    );
}

#[test]
fn color_follows_the_flag_and_no_color() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b.toml", &uppercase("fails", "", "hi"));
    let run = |args: &[&str], no_color: bool| {
        let mut c = netdrill();
        c.current_dir(dir.path())
            .arg("run")
            .arg("b.toml")
            .args(args);
        if no_color {
            c.env("NO_COLOR", "1");
        }
        text(&output(&mut c).stdout)
    };
    assert!(run(&["--color", "always"], false).contains("\x1b["));
    assert!(!run(&["--color", "never"], false).contains("\x1b["));
    // Not a terminal: no colour unless asked.
    assert!(!run(&[], false).contains("\x1b["));
    assert!(!run(&[], true).contains("\x1b["));
}

#[test]
fn snapshots_round_trip_in_insta_format_with_review() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "scenarios/tcp/one.toml", &uppercase("one", "", "HI"));
    let run = |cwd: &Path, path: &Path, env: Option<&str>| {
        let mut c = netdrill();
        c.current_dir(cwd)
            .env("CI", "")
            .arg("run")
            .arg(path)
            .arg("--snapshots")
            .arg(root.join("snapshots/cli"));
        if let Some(mode) = env {
            c.env("NETDRILL_UPDATE_SNAPSHOTS", mode);
        }
        output(&mut c)
    };
    let snap = root.join("snapshots/cli/scenarios__tcp__one.snap");
    let pending = root.join("snapshots/cli/scenarios__tcp__one.snap.new");
    // New, off CI: the run fails and leaves a pending snapshot for review.
    let first = run(root, Path::new("scenarios"), None);
    assert_eq!(first.status.code(), Some(1));
    assert!(text(&first.stdout).contains("netdrill snapshots review"));
    assert!(pending.exists() && !snap.exists());
    // In CI nothing is written.
    std::fs::remove_file(&pending).unwrap();
    let ci = output(netdrill().current_dir(root).env("CI", "true").args([
        "run",
        "scenarios",
        "--snapshots",
        "snapshots/cli",
    ]));
    assert_eq!(ci.status.code(), Some(1));
    assert!(!pending.exists());
    // Pending again, then accepted: it becomes the stored snapshot.
    run(root, Path::new("scenarios"), Some("new"));
    let accept =
        output(
            netdrill()
                .current_dir(root)
                .args(["snapshots", "accept", "snapshots/cli"]),
        );
    assert_eq!(accept.status.code(), Some(0));
    assert!(snap.exists() && !pending.exists());
    // insta's own parser reads it.
    let parsed = insta::Snapshot::from_file(&snap).expect("insta reads the .snap");
    assert_eq!(parsed.metadata().source(), Some("scenarios/tcp/one.toml"));
    assert_eq!(
        parsed.metadata().expression(),
        Some("netdrill run scenarios/tcp/one.toml")
    );
    let body = parsed.as_text().expect("a text snapshot").to_string();
    assert!(
        body.starts_with("  1 client connect \"target\" -> ok"),
        "{body}"
    );
    // The same name however the path is spelled, from wherever it is run.
    for (cwd, path) in [
        (
            root.to_path_buf(),
            PathBuf::from("./scenarios/tcp/one.toml"),
        ),
        (root.join("scenarios"), PathBuf::from("tcp")),
        (std::env::temp_dir(), root.join("scenarios")),
    ] {
        let out = run(&cwd, &path, Some("no"));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{path:?}: {}",
            text(&out.stdout)
        );
    }
    // A changed transcript: a coloured diff when asked, a pending file, and review.
    let stored = std::fs::read_to_string(&snap).unwrap();
    std::fs::write(&snap, stored.replace("\"hi\\n\"", "\"ho\\n\"")).unwrap();
    let differs = output(netdrill().current_dir(root).env("CI", "").args([
        "--color",
        "always",
        "run",
        "scenarios",
        "--snapshots",
        "snapshots/cli",
    ]));
    assert_eq!(differs.status.code(), Some(1));
    let d = text(&differs.stdout);
    assert!(
        d.contains("\x1b[31m-  2 client send \"ho\\n\" -> ok"),
        "{d}"
    );
    assert!(pending.exists());
    let mut review = netdrill()
        .current_dir(root)
        .args(["snapshots", "review", "snapshots/cli"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    review.stdin.take().unwrap().write_all(b"r\n").unwrap();
    let reviewed = review.wait_with_output().unwrap();
    let r = text(&reviewed.stdout);
    assert!(r.contains("+  2 client send \"hi\\n\" -> ok"), "{r}");
    assert!(r.ends_with("0 accepted, 1 rejected, 0 skipped\n"), "{r}");
    assert!(!pending.exists());
    assert!(
        std::fs::read_to_string(&snap)
            .unwrap()
            .contains("\"ho\\n\"")
    );
}

#[test]
fn report_files_are_readable_by_others_like_any_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.toml", &uppercase("passes", "", "HI"));
    let out = output(netdrill().current_dir(dir.path()).args([
        "run",
        "a.toml",
        "--report-json",
        "r.json",
        "--report-junit",
        "r.xml",
    ]));
    assert_eq!(out.status.code(), Some(0));
    for f in ["r.json", "r.xml"] {
        let mode = std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "{f}: {mode:o}");
    }
}

#[test]
fn a_snapshot_is_never_taken_from_a_run_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s/slow.toml",
        "name = \"slow\"\nsteps = [ { sleep = \"5s\" } ]\n",
    );
    let out = output(netdrill().current_dir(dir.path()).args([
        "run",
        "s",
        "--snapshots",
        "snaps",
        "--update-snapshots",
        "--deadline",
        "300ms",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.path().join("snaps/s__slow.snap").exists());
}

#[test]
fn durations_beyond_a_year_are_refused_not_a_panic() {
    for flag in ["--deadline", "--scenario-timeout", "--timeout"] {
        let out = output(netdrill().args(["run", flag, "300000000000y", "scenarios"]));
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert!(text(&out.stderr).contains("at most a year"), "{flag}");
    }
}
