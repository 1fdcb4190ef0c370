//! `netdrill grade` on a fixture class (tests/fixtures/class): the expected scores and
//! feedback, shards and merge, `--gradescope`, PrairieLearn output, an interrupt
//! mid-grade, and no student process left behind (found by a marker in their
//! environment, checked by pid).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The tests that grade the whole class take turns: each already grades several
/// submissions at once, and two at a time would starve a 2-core machine.
static WHOLE_CLASS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn whole_class() -> std::sync::MutexGuard<'static, ()> {
    WHOLE_CLASS.lock().unwrap_or_else(|p| p.into_inner())
}

fn netdrill() -> Command {
    Command::new(env!("CARGO_BIN_EXE_netdrill"))
}

fn class_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/class")
}

/// A copy of the class in a temporary directory: builds write into submissions.
fn class_copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_tree(&class_dir(), tmp.path());
    tmp
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

fn submissions(root: &Path, only: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root.join("submissions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .filter(|p| only.is_empty() || only.contains(&p.file_name().unwrap().to_str().unwrap()))
        .collect();
    out.sort();
    out
}

/// A marker put in netdrill's environment; every student process inherits it.
fn marker(name: &str) -> String {
    format!(
        "nd-grade-{name}-{}-{:?}",
        std::process::id(),
        Instant::now()
    )
    .replace([' ', '{', '}', ':', '.'], "")
}

/// The pids of live processes whose environment holds `marker`.
fn processes_marked(marker: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(env) = std::fs::read(entry.path().join("environ"))
            && String::from_utf8_lossy(&env).contains(marker)
        {
            // A zombie has an empty environ; anything found here is alive.
            out.push(pid);
        }
    }
    out
}

fn assert_nothing_left(marker: &str) {
    // Processes killed by the kernel with their namespace may take a moment to vanish
    // from /proc: poll, bounded.
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let left = processes_marked(marker);
        if left.is_empty() {
            return;
        }
        if Instant::now() > until {
            let cmds: Vec<String> = left
                .iter()
                .map(|p| {
                    let c = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                    format!("{p}: {}", String::from_utf8_lossy(&c).replace('\0', " "))
                })
                .collect();
            panic!("processes left behind: {cmds:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("netdrill runs")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

fn expected() -> BTreeMap<String, Value> {
    let v = read_json(&class_dir().join("expected.json"));
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Checks one submission's results.json against expected.json.
fn check_submission(out: &Path, name: &str, want: &Value) {
    let results = read_json(&out.join(name).join("results.json"));
    let score = results["score"].as_f64().unwrap();
    let all_output: String = results["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["output"].as_str().unwrap_or("").to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        score,
        want["score"].as_f64().unwrap(),
        "score of {name}; its tests said:\n{all_output}"
    );
    let failed: Vec<String> = results["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "failed")
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    let mut want_failed: Vec<String> = want["failed_tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    want_failed.sort();
    let mut got_failed = failed.clone();
    got_failed.sort();
    assert_eq!(got_failed, want_failed, "failed tests of {name}");
    for word in want["feedback_words"].as_array().unwrap() {
        let word = word.as_str().unwrap();
        assert!(
            all_output.contains(word),
            "the feedback of {name} does not say {word:?}:\n{all_output}"
        );
    }
}

/// Gradescope's documented results.json fields, and only those.
fn check_gradescope_shape(results: &Value) {
    let top: Vec<&str> = results
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    let mut top = top;
    top.sort();
    assert_eq!(
        top,
        [
            "execution_time",
            "output",
            "output_format",
            "score",
            "tests"
        ]
    );
    assert!(results["score"].is_number());
    assert!(results["execution_time"].is_u64());
    assert_eq!(results["output_format"], "md");
    for t in results["tests"].as_array().unwrap() {
        let mut keys: Vec<&str> = t.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "max_score",
                "name",
                "number",
                "output",
                "output_format",
                "score",
                "status",
                "tags",
                "visibility"
            ]
        );
        assert!(t["number"].is_string());
        assert!(["passed", "failed"].contains(&t["status"].as_str().unwrap()));
        assert!(
            ["visible", "hidden", "after_due_date", "after_published"]
                .contains(&t["visibility"].as_str().unwrap())
        );
        assert!(t["score"].as_f64().unwrap() <= t["max_score"].as_f64().unwrap());
    }
}

#[test]
fn the_class_gets_the_expected_scores_and_feedback_and_nothing_is_left() {
    let _turn = whole_class();
    let class = class_copy();
    let out = class.path().join("out");
    let mark = marker("class");
    let subs = submissions(class.path(), &[]);
    let expected = expected();
    assert!(
        subs.len() >= 12,
        "the fixture class has {} submissions",
        subs.len()
    );
    // A stray file among the submissions is skipped with a word, not fatal.
    std::fs::write(
        class.path().join("submissions/notes.txt"),
        "grading notes\n",
    )
    .unwrap();
    let result = run(netdrill()
        .arg("grade")
        .arg(class.path().join("rubric.toml"))
        .args(&subs)
        .arg(class.path().join("submissions/notes.txt"))
        .arg("--out")
        .arg(&out)
        .args(["--jobs", "4"])
        .env("NETDRILL_TEST_MARK", &mark));
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("notes.txt is not a directory"), "{stderr}");
    assert_nothing_left(&mark);
    for (name, want) in &expected {
        check_submission(&out, name, want);
        check_gradescope_shape(&read_json(&out.join(name).join("results.json")));
        let transcripts = std::fs::read_dir(out.join(name).join("transcripts"))
            .unwrap()
            .count();
        assert!(transcripts >= 5, "{name} has {transcripts} transcripts");
    }
    // The summaries: a row per submission, a column per test.
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "submission,score,max_score,one line,a line split over three writes,two lines in one write,two clients at once,closes after the client's EOF"
    );
    assert_eq!(lines.count(), subs.len());
    assert!(csv.contains("\njane doe,12,12,2,3,2,3,2\n"), "{csv}");
    // Results are readable by others (a CI artifact upload, a TA's account).
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(out.join("correct-py/results.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o644);
    // A program that never started is explained without the scenario's own [target].
    let hard = read_json(&out.join("hardcoded-port/results.json"));
    let text = hard["tests"][0]["output"].as_str().unwrap();
    assert!(
        text.contains("Your program (`./server <port>`) listens on 127.0.0.1:12000"),
        "{text}"
    );
    assert!(!text.contains("builtin"), "{text}");
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["isolation"], "namespaces");
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["submissions"].as_array().unwrap().len(), subs.len());
    // The table on the terminal names every submission.
    for name in expected.keys() {
        assert!(stdout.contains(name.as_str()), "{stdout}");
    }
}

#[test]
fn shards_merged_equal_one_run() {
    let _turn = whole_class();
    let class = class_copy();
    let subs = submissions(class.path(), &[]);
    let rubric = class.path().join("rubric.toml");
    let mark = marker("shards");
    let mut shard_dirs = Vec::new();
    for k in 1..=2 {
        let dir = class.path().join(format!("shard{k}"));
        let r = run(netdrill()
            .arg("grade")
            .arg(&rubric)
            .args(&subs)
            .arg("--out")
            .arg(&dir)
            .arg("--shard")
            .arg(format!("{k}/2"))
            .args(["--jobs", "4"])
            .env("NETDRILL_TEST_MARK", &mark));
        assert_eq!(
            r.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&r.stderr)
        );
        shard_dirs.push(dir);
    }
    let n1 = read_json(&shard_dirs[0].join("summary.json"))["submissions"]
        .as_array()
        .unwrap()
        .len();
    let n2 = read_json(&shard_dirs[1].join("summary.json"))["submissions"]
        .as_array()
        .unwrap()
        .len();
    assert_nothing_left(&mark);
    assert_eq!(n1 + n2, subs.len());
    assert_eq!(
        n1,
        subs.len().div_ceil(2),
        "shard 1 takes every other submission"
    );
    let merged = class.path().join("merged");
    let r = run(netdrill()
        .args(["grade", "merge"])
        .args(&shard_dirs)
        .arg("--out")
        .arg(&merged));
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let expected = expected();
    for (name, want) in &expected {
        check_submission(&merged, name, want);
    }
    let csv = std::fs::read_to_string(merged.join("summary.csv")).unwrap();
    let names: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let mut sorted: Vec<&str> = expected.keys().map(String::as_str).collect();
    sorted.sort();
    assert_eq!(names, sorted, "one row per submission, sorted by name");
    // A lost shard is refused, not merged into a class with half its students.
    let r = run(netdrill()
        .args(["grade", "merge"])
        .arg(&shard_dirs[0])
        .arg("--out")
        .arg(class.path().join("half")));
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("shard 2/2 missing"), "{err}");
    // Merging a shard twice is refused.
    let r = run(netdrill()
        .args(["grade", "merge"])
        .arg(&shard_dirs[0])
        .arg(&shard_dirs[0])
        .arg("--out")
        .arg(class.path().join("twice")));
    assert_eq!(r.status.code(), Some(2));
    assert!(
        !class.path().join("twice").exists(),
        "a refused merge wrote files"
    );
}

#[test]
fn check_validates_a_rubric_and_its_scenarios() {
    let r = run(netdrill()
        .arg("check")
        .arg(class_dir().join("rubric.toml"))
        .arg(class_dir().join("scenarios")));
    let out = String::from_utf8_lossy(&r.stdout);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(
        out.contains("checked 5 scenario files and 1 rubric: all valid"),
        "{out}"
    );
    let bad =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid-rubrics/build-in-a-test.toml");
    let r = run(netdrill().arg("check").arg(&bad));
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("it belongs in the rubric's [target]"), "{err}");
}

#[test]
fn gradescope_mode_with_overrides_writes_one_results_file() {
    let class = class_copy();
    let results = class.path().join("results").join("results.json");
    let r = run(netdrill()
        .arg("grade")
        .arg(class.path().join("rubric.toml"))
        .arg("--gradescope")
        .arg("--submission")
        .arg(class.path().join("submissions/iterative"))
        .arg("--results")
        .arg(&results));
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let v = read_json(&results);
    check_gradescope_shape(&v);
    assert_eq!(
        v["score"].as_f64(),
        expected()["iterative"]["score"].as_f64()
    );
    let concurrency = v["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "two clients at once")
        .unwrap();
    assert_eq!(concurrency["status"], "failed");
    // The rubric's feedback and the scenario author's comment reach the student.
    let text = concurrency["output"].as_str().unwrap();
    assert!(text.contains("**Hint:**"), "{text}");
    assert!(text.contains("its own thread or process"), "{text}");
}

#[test]
fn prairielearn_results_have_their_fields() {
    let class = class_copy();
    let out = class.path().join("out");
    let r = run(netdrill()
        .arg("grade")
        .arg(class.path().join("rubric.toml"))
        .arg(class.path().join("submissions/one-recv"))
        .arg("--out")
        .arg(&out)
        .args(["--results-format", "prairielearn"]));
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let v = read_json(&out.join("one-recv/results.json"));
    assert_eq!(v["gradable"], true);
    let want = expected()["one-recv"].clone();
    let score = v["score"].as_f64().unwrap();
    let frac = want["score"].as_f64().unwrap() / want["max_score"].as_f64().unwrap();
    assert!((score - frac).abs() < 1e-9, "{score} vs {frac}");
    for t in v["tests"].as_array().unwrap() {
        for key in ["name", "points", "max_points", "message", "output"] {
            assert!(t.get(key).is_some(), "{key} missing in {t}");
        }
    }
}

#[test]
fn an_interrupt_mid_grade_still_writes_every_results_file() {
    let class = class_copy();
    let out = class.path().join("out");
    let mark = marker("sigint");
    // The infinite loop keeps the first submission busy for seconds; -j 1 keeps the
    // others waiting.
    let subs = submissions(
        class.path(),
        &["correct-py", "infinite-loop", "jane doe", "one-recv"],
    );
    let mut child = netdrill()
        .arg("grade")
        .arg(class.path().join("rubric.toml"))
        .args(&subs)
        .arg("--out")
        .arg(&out)
        .args(["--jobs", "1"])
        .env("NETDRILL_TEST_MARK", &mark)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (bounded) until the first submission's results are written.
    let first = out.join("correct-py").join("results.json");
    let until = Instant::now() + Duration::from_secs(60);
    while !first.exists() {
        assert!(Instant::now() < until, "no results.json appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Then wait until the infinite loop runs (a marked process that is not netdrill),
    // and interrupt.
    let student_running = || {
        processes_marked(&mark).iter().any(|p| {
            let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmd).contains("server")
        })
    };
    let until = Instant::now() + Duration::from_secs(30);
    while !student_running() {
        assert!(Instant::now() < until, "the next submission never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let started = Instant::now();
    let output = loop {
        if let Some(_status) = child.try_wait().unwrap() {
            break child.wait_with_output().unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "grade did not end after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_nothing_left(&mark);
    for name in ["correct-py", "infinite-loop", "jane doe", "one-recv"] {
        let v = read_json(&out.join(name).join("results.json"));
        check_gradescope_shape(&v);
        if name != "correct-py" {
            assert!(
                v["output"]
                    .as_str()
                    .unwrap()
                    .contains("cut short because netdrill was interrupted (SIGINT)"),
                "{name}: {v}"
            );
        }
    }
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["complete"], false);
    assert_eq!(read_json(&first)["score"].as_f64(), Some(12.0));
}

#[test]
fn an_invalid_rubric_is_status_2_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let rubric = dir.path().join("rubric.toml");
    std::fs::write(
        &rubric,
        "title = \"x\"\n[target]\ncommand = \"./server {{port}}\"\n[[test]]\nscenario = \"missing.toml\"\npoints = \"two\"\n",
    )
    .unwrap();
    let sub = dir.path().join("alice");
    std::fs::create_dir(&sub).unwrap();
    let r = run(netdrill()
        .arg("grade")
        .arg(&rubric)
        .arg(&sub)
        .arg("--out")
        .arg(dir.path().join("out")));
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("missing.toml"), "{err}");
    assert!(err.contains("points"), "{err}");
    assert!(!dir.path().join("out").exists());
}

/// The class's rubric with its `timeout` replaced, written beside the original.
fn rubric_with_timeout(root: &Path, timeout: &str) -> PathBuf {
    let text = std::fs::read_to_string(root.join("rubric.toml")).unwrap();
    let changed = text.replace("timeout = \"2m\"", &format!("timeout = \"{timeout}\""));
    assert_ne!(text, changed, "the class rubric sets timeout = \"2m\"");
    let path = root.join("short.toml");
    std::fs::write(&path, changed).unwrap();
    path
}

#[test]
fn the_submission_time_limit_cuts_grading_short_and_says_so() {
    let class = class_copy();
    let out = class.path().join("out");
    let mark = marker("limit");
    let rubric = rubric_with_timeout(class.path(), "3s");
    let started = Instant::now();
    let r = run(netdrill()
        .arg("grade")
        .arg(&rubric)
        .arg(class.path().join("submissions/infinite-loop"))
        .arg("--out")
        .arg(&out)
        .env("NETDRILL_TEST_MARK", &mark));
    assert_eq!(
        r.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&r.stdout)
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_nothing_left(&mark);
    let v = read_json(&out.join("infinite-loop/results.json"));
    check_gradescope_shape(&v);
    assert_eq!(v["score"].as_f64(), Some(0.0));
    let text = v["output"].as_str().unwrap();
    assert!(
        text.contains("cut short because the submission's time limit (3s) ran out"),
        "{text}"
    );
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["complete"], false);
}

#[test]
fn the_global_deadline_stops_grading_and_every_submission_is_written() {
    let class = class_copy();
    let out = class.path().join("out");
    let mark = marker("deadline");
    let subs = submissions(class.path(), &["infinite-loop", "one-recv"]);
    let r = run(netdrill()
        .arg("grade")
        .arg(class.path().join("rubric.toml"))
        .args(&subs)
        .arg("--out")
        .arg(&out)
        .args(["--jobs", "1", "--deadline", "2s"])
        .env("NETDRILL_TEST_MARK", &mark));
    assert_eq!(r.status.code(), Some(1));
    assert_nothing_left(&mark);
    for name in ["infinite-loop", "one-recv"] {
        let v = read_json(&out.join(name).join("results.json"));
        let text = v["output"].as_str().unwrap();
        assert!(
            text.contains("cut short because the grading deadline (2s) passed"),
            "{name}: {text}"
        );
    }
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(
        stdout.contains("grading was cut short because the grading deadline (2s) passed"),
        "{stdout}"
    );
}

#[test]
fn a_failed_build_gives_every_test_0_with_the_build_output() {
    let class = class_copy();
    let out = class.path().join("out");
    let sub = class.path().join("submissions/broken-build");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(
        sub.join("Makefile"),
        "server:\n\t@echo 'server.c:3:1: error: expected declaration before } token' >&2; exit 1\n",
    )
    .unwrap();
    let r = run(netdrill()
        .arg("grade")
        .arg(class.path().join("rubric.toml"))
        .arg(&sub)
        .arg("--out")
        .arg(&out));
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let v = read_json(&out.join("broken-build/results.json"));
    check_gradescope_shape(&v);
    assert_eq!(v["score"].as_f64(), Some(0.0));
    assert!(
        v["output"]
            .as_str()
            .unwrap()
            .contains("The build (`make -s`) failed")
    );
    for t in v["tests"].as_array().unwrap() {
        assert_eq!(t["status"], "failed");
        let text = t["output"].as_str().unwrap();
        assert!(
            text.contains("expected declaration before } token"),
            "{text}"
        );
    }
    let build = std::fs::read_to_string(out.join("broken-build/transcripts/00-build.txt")).unwrap();
    assert!(build.contains("$ make -s"), "{build}");
}

#[test]
fn a_chatty_program_is_drained_and_its_output_kept_up_to_the_limit() {
    let class = class_copy();
    let out = class.path().join("out");
    let r = run(netdrill()
        .arg("grade")
        .arg(class.path().join("rubric.toml"))
        .arg(class.path().join("submissions/chatty"))
        .arg("--out")
        .arg(&out));
    assert_eq!(r.status.code(), Some(0));
    assert_eq!(
        read_json(&out.join("chatty/results.json"))["score"].as_f64(),
        Some(12.0)
    );
    let t = std::fs::read_to_string(out.join("chatty/transcripts/01-one-line.txt")).unwrap();
    assert!(t.contains("what the program printed"), "{t}");
    assert!(t.contains("more bytes were printed and drained"), "{t}");
    // The kept part is at most the rubric's `output` (1 MiB), plus the note.
    assert!(t.len() < (1 << 20) + 4096, "{} bytes", t.len());
}
