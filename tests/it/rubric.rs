/*!
The rubric loader: a valid rubric gives the right model; every class of invalid rubric
(or of invalid scenario named by one) gives a diagnostic that points at the right place,
pinned by snapshots in `snapshots/rubric-diagnostics/`.
*/

use std::path::{Path, PathBuf};
use std::time::Duration;

use netdrill::diagnostic::render_plain;
use netdrill::grade::model::{DEFAULT_SUBMISSION_TIMEOUT, DEFAULT_TEST_TIMEOUT};
use netdrill::grade::rubric::{RubricError, RubricProblem, load_rubric, load_rubric_bytes};
use netdrill::grade::{Limits, Rubric, Visibility};
use netdrill::scenario::{Protocol, Role};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The path relative to the crate root, as a user would type it (stable in snapshots).
fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(root()).unwrap_or(path).to_path_buf()
}

/// Loads a rubric by its path relative to the crate root (the tests' working
/// directory), so that messages name files the way a user sees them.
fn load_rel(rel: &str) -> Result<Rubric, RubricError> {
    let bytes = std::fs::read(root().join(rel)).expect("read the fixture");
    load_rubric_bytes(bytes, Path::new(rel))
}

fn invalid(name: &str) -> RubricError {
    match load_rel(&format!("tests/invalid-rubrics/{name}")) {
        Ok(_) => panic!("{name} should be invalid"),
        Err(e) => e,
    }
}

#[test]
fn a_complete_rubric_loads_with_every_field() {
    let path = root().join("tests/rubrics/lab2.toml");
    let r = match load_rubric(&path) {
        Ok(r) => r,
        Err(e) => panic!("lab2.toml should be valid:\n{}", render_plain(&e)),
    };
    assert_eq!(r.path, path);
    assert_eq!(r.title, "Lab 2: TCP uppercase server");
    assert_eq!(r.timeout, Duration::from_secs(180));
    assert_eq!(
        r.target.command.as_deref(),
        Some("python3 server.py {{port}}")
    );
    assert_eq!(r.target.build.as_deref(), Some("make"));
    assert_eq!(r.target.protocol, None);
    assert_eq!(
        r.limits,
        Limits {
            cpu: Duration::from_secs(5),
            memory: 512 << 20,
            processes: 16,
            file_size: 1_000_000,
            output: 64 << 10,
        }
    );
    assert_eq!(r.tests.len(), 3);
    assert_eq!(r.max_score(), 6.5);

    let t = &r.tests[0];
    assert_eq!((t.number, t.line), (1, 16));
    assert_eq!(
        t.name, "uppercase: one line",
        "defaults to the scenario's name"
    );
    assert_eq!(t.scenario_written, "../../scenarios/tcp/one-line.toml");
    assert_eq!(
        t.scenario_path,
        root().join("tests/rubrics/../../scenarios/tcp/one-line.toml")
    );
    assert_eq!(t.scenario.name, "uppercase: one line");
    assert_eq!(t.points, 2.0);
    assert_eq!(t.visibility, Visibility::Visible);
    assert_eq!(t.feedback, None);
    assert!(t.tags.is_empty());
    assert_eq!(t.timeout, DEFAULT_TEST_TIMEOUT);
    assert_eq!(t.target, r.target);

    let t = &r.tests[1];
    assert_eq!((t.number, t.line), (2, 20));
    assert_eq!(t.name, "a line split over three writes");
    assert_eq!(t.points, 3.0);
    assert_eq!(t.visibility, Visibility::AfterDueDate);
    assert_eq!(
        t.feedback.as_deref(),
        Some("Keep calling recv() until the newline arrives.")
    );
    assert_eq!(t.tags, ["tcp", "partial-reads"]);
    assert_eq!(t.timeout, Duration::from_secs(20));

    let t = &r.tests[2];
    assert_eq!((t.number, t.line), (3, 29));
    assert_eq!(t.name, "uppercase over UDP");
    assert_eq!(t.points, 1.5);
    assert_eq!(t.visibility, Visibility::Hidden);
    assert_eq!(t.scenario.target.protocol, Protocol::Udp);
    assert_eq!(
        t.target.command.as_deref(),
        Some("python3 udp_server.py {{port}}")
    );
    assert_eq!(
        t.target.build.as_deref(),
        Some("make"),
        "merged from [target]"
    );
    assert_eq!(t.target.protocol, Some(Protocol::Udp));
    assert_eq!(t.target.port, Some(9000));
    assert_eq!(t.target.role, None);
}

#[test]
fn defaults_fill_what_a_minimal_rubric_leaves_out() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = root().join("scenarios/process/client-program.toml");
    let text = format!(
        "[target]\ncommand = \"./client {{{{port}}}}\"\nrole = \"client\"\n\n[[test]]\nscenario = {:?}\npoints = 0\n",
        scenario.display().to_string()
    );
    let path = dir.path().join("minimal-lab.toml");
    std::fs::write(&path, text).unwrap();
    let r = load_rubric(&path).unwrap_or_else(|e| panic!("{}", render_plain(&e)));
    assert_eq!(r.title, "minimal-lab");
    assert_eq!(r.timeout, DEFAULT_SUBMISSION_TIMEOUT);
    assert_eq!(r.limits, Limits::default());
    assert_eq!(r.tests[0].scenario_path, scenario, "an absolute path stays");
    assert_eq!(r.tests[0].target.role, Some(Role::Client));
    assert_eq!(r.tests[0].points, 0.0);
    assert_eq!(r.max_score(), 0.0);
}

#[test]
fn file_level_errors_are_their_own_variants() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    assert!(matches!(load_rubric(&missing), Err(RubricError::Io { .. })));
    assert!(matches!(
        load_rubric(dir.path()),
        Err(RubricError::Io { .. })
    ));
    let bad = dir.path().join("latin1.toml");
    std::fs::write(&bad, b"title = \"caf\xe9\"\n").unwrap();
    assert!(matches!(
        load_rubric(&bad),
        Err(RubricError::NotUtf8 {
            line: 1,
            byte: 0xe9,
            ..
        })
    ));
    assert!(matches!(invalid("empty.toml"), RubricError::Empty { .. }));
    let big = vec![b'#'; 5 * 1024 * 1024];
    assert!(matches!(
        load_rubric_bytes(big, Path::new("big.toml")),
        Err(RubricError::TooLarge { .. })
    ));
}

#[test]
fn invalid_rubrics_render_snapshots() {
    insta::glob!("../invalid-rubrics", "*.toml", |path| {
        let rel = relative(path);
        let bytes = std::fs::read(path).expect("read the fixture");
        let err = match load_rubric_bytes(bytes, &rel) {
            Ok(_) => panic!("{} should be invalid", rel.display()),
            Err(e) => e,
        };
        assert!(err.problem_count() >= 1);
        insta::with_settings!({
            snapshot_path => "../../snapshots/rubric-diagnostics",
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("netdrill grade {} …", rel.display()),
        }, {
            insta::assert_snapshot!("diagnostic", render_plain(&err));
        });
    });
}

/// Each class of mistake gives its own message, at its own line of the rubric.
#[test]
fn each_invalid_rubric_says_what_is_wrong() {
    let cases: &[(&str, &str, usize)] = &[
        ("unknown-keys.toml", "unknown top-level key `timout`", 2),
        ("points-not-a-number.toml", "`points` takes a number", 6),
        ("negative-points.toml", "`points = -1` is negative", 10),
        (
            "missing-scenario-file.toml",
            "`../../scenarios/tcp/one-lien.toml`, does not exist",
            5,
        ),
        (
            "invalid-scenario.toml",
            "the scenario of test 2, `scenarios/broken.toml`, is not valid",
            10,
        ),
        ("missing-scenario-key.toml", "test 1 has no `scenario`", 4),
        ("missing-points.toml", "test 1 has no `points`", 4),
        ("bad-visibility.toml", "`visibility = \"hiden\"`", 7),
        ("bad-duration.toml", "is not a duration", 1),
        ("bad-size.toml", "`memory = \"1G\"` is not a size", 5),
        ("no-tests.toml", "the rubric has no tests", 1),
        ("syntax-error.toml", "TOML syntax error", 2),
        ("duplicate-names.toml", "like test 1", 9),
        ("missing-command.toml", "[target] has no `command`", 1),
        ("no-target.toml", "[target] has no `command`", 1),
        ("single-test-table.toml", "`[test]` is a single table", 4),
        (
            "keys-in-the-wrong-table.toml",
            "unknown key `timeout` in [target]",
            3,
        ),
        ("bad-target.toml", "bad placeholder in `command`", 2),
        ("several-problems.toml", "`title` takes a string", 2),
        (
            "build-in-a-test.toml",
            "`build` runs once per submission, before all its tests",
            8,
        ),
    ];
    for (file, message, line) in cases {
        let err = invalid(file);
        let RubricError::Invalid { src, problems, .. } = &err else {
            panic!("{file}: expected problems, got {err}");
        };
        let text = src.inner();
        let first = &problems[0];
        assert!(
            first.to_string().contains(message),
            "{file}: first problem is {:?}, expected it to contain {message:?}",
            first.to_string()
        );
        let at_line = text[..first.span().offset()].matches('\n').count() + 1;
        assert_eq!(at_line, *line, "{file}: {first} is on the wrong line");
        for w in problems.windows(2) {
            assert!(
                w[0].span().offset() <= w[1].span().offset(),
                "{file}: not sorted"
            );
        }
    }
}

#[test]
fn rubric_and_scenario_problems_are_reported_together() {
    let err = invalid("several-problems.toml");
    let problems = err.problems();
    let scenario_errors: Vec<_> = problems
        .iter()
        .filter_map(|p| match p {
            RubricProblem::Scenario { test, error, .. } => Some((*test, error)),
            RubricProblem::Rubric(_) => None,
        })
        .collect();
    assert_eq!(
        scenario_errors.len(),
        1,
        "an invalid scenario is shown once"
    );
    assert_eq!(scenario_errors[0].0, 1);
    assert_eq!(scenario_errors[0].1.problem_count(), 2);
    let own = problems.len() - 1;
    assert_eq!(err.problem_count(), own + 2);
    let shown = render_plain(&err);
    assert!(
        err.to_string().ends_with(&format!(
            "({own} problems in the rubric, 2 in its scenarios)"
        )),
        "{err}"
    );
    // Both of the scenario's own problems, at their lines in the scenario.
    assert!(
        shown.contains("tests/invalid-rubrics/scenarios/broken.toml:3:"),
        "{shown}"
    );
    assert!(
        shown.contains("tests/invalid-rubrics/scenarios/broken.toml:6:"),
        "{shown}"
    );
    assert!(shown.contains("`recv_lien` is not an action"), "{shown}");
    // Test 3 names the same scenario: pointed to, not repeated.
    assert!(shown.contains("it is test 1's scenario too"), "{shown}");
}

#[test]
fn every_problem_says_how_to_fix_it() {
    let dir = root().join("tests/invalid-rubrics");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let err = load_rubric_bytes(bytes, &relative(&path)).unwrap_err();
        for p in err.problems() {
            if let RubricProblem::Rubric(p) = p
                && !p.message.starts_with("TOML syntax error")
            {
                assert!(p.help.is_some(), "{}: {} has no help", path.display(), p);
            }
        }
    }
}
