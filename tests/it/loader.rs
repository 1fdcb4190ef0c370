/*!
The scenario loader: every class of invalid file gives a diagnostic that points at the
right place (pinned by snapshots), valid files give the right model, the schema knows
every word, `netdrill check` reports and exits as documented, and no input panics.
*/

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use netdrill::action::bind::Bind;
use netdrill::action::close::Shutdown;
use netdrill::action::connect::Connect;
use netdrill::action::ends::Silence;
use netdrill::action::exit::Exit;
use netdrill::action::listen::Accept;
use netdrill::action::parallel::Parallel;
use netdrill::action::recv::Recv;
use netdrill::action::recv_bytes::{Count, RecvBytes};
use netdrill::action::recv_match::RecvMatch;
use netdrill::action::recv_until::RecvUntil;
use netdrill::action::reply::Reply;
use netdrill::action::send::Send;
use netdrill::action::sleep::Sleep;
use netdrill::action::spawn::Spawn;
use netdrill::diagnostic::{LoadError, render_plain};
use netdrill::scenario::{
    Action, ActorKind, Chunking, ConnectExpect, Payload, Protocol, Role, Scenario, ShutdownHow,
    TargetSource, load_bytes, load_file, load_str, vocab,
};
use proptest::prelude::*;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The path relative to the crate root, as a user would type it (stable in snapshots).
fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(root()).unwrap_or(path).to_path_buf()
}

fn load_rel(rel: &str) -> Result<Scenario, LoadError> {
    load_file(&root().join(rel)).map_err(|e| {
        // Reload with the relative path so messages read as a user sees them.
        let bytes = std::fs::read(root().join(rel)).unwrap_or_default();
        load_bytes(bytes, Path::new(rel)).err().unwrap_or(e)
    })
}

fn valid(name: &str) -> Scenario {
    match load_rel(&format!("tests/valid/{name}")) {
        Ok(s) => s,
        Err(e) => panic!("{name} should be valid:\n{}", render_plain(&e)),
    }
}

fn invalid(name: &str) -> LoadError {
    match load_rel(&format!("tests/invalid/{name}")) {
        Ok(_) => panic!("{name} should be invalid"),
        Err(e) => e,
    }
}

#[test]
fn invalid_files_render_snapshots() {
    insta::glob!("../invalid", "*.toml", |path| {
        let rel = relative(path);
        let bytes = std::fs::read(path).expect("read the fixture");
        let err = match load_bytes(bytes, &rel) {
            Ok(_) => panic!("{} should be invalid", rel.display()),
            Err(e) => e,
        };
        assert!(err.problem_count() >= 1);
        insta::with_settings!({
            snapshot_path => "../../snapshots/diagnostics",
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("netdrill check {}", rel.display()),
        }, {
            insta::assert_snapshot!("diagnostic", render_plain(&err));
        });
    });
}

/// Each class of mistake gives its own message, at its own line.
#[test]
fn each_invalid_file_says_what_is_wrong() {
    let cases: &[(&str, &str, usize)] = &[
        ("syntax-error.toml", "TOML syntax error", 5),
        (
            "unknown-top-level-key.toml",
            "unknown top-level key `timout`",
            2,
        ),
        ("misspelt-action.toml", "`recv_lien` is not an action", 4),
        (
            "misspelt-modifier.toml",
            "`timeuot` is not an action or a modifier",
            4,
        ),
        (
            "misspelt-target-key.toml",
            "unknown key `buitlin` in [target]",
            8,
        ),
        ("zero-actions.toml", "this step has no action", 4),
        ("two-actions.toml", "this step has 2 actions", 3),
        ("bad-duration.toml", "is not a duration", 1),
        ("zero-and-huge-timeouts.toml", "`timeout` cannot be zero", 2),
        ("bad-regex.toml", "is not a valid regex: unclosed group", 4),
        ("bad-hex-odd-length.toml", "odd number of hex digits", 3),
        ("bad-hex-char.toml", "'x' is not one", 4),
        ("bad-address.toml", "port 99999 is out of range", 2),
        (
            "bad-shutdown.toml",
            "`shutdown = \"sideways\"` is not a known value",
            4,
        ),
        ("bad-protocol.toml", "`protocol = \"upd\"`", 8),
        ("bad-role.toml", "`role = \"clinet\"`", 8),
        ("bad-expect.toml", "`expect = \"refuse\"`", 2),
        (
            "unknown-builtin.toml",
            "no built-in TCP server called `uppercase-iterativ`",
            8,
        ),
        ("udp-builtin-on-tcp.toml", "is not a TCP server", 7),
        ("accept-on-tcp-client.toml", "it cannot `accept`", 3),
        ("recv-line-on-udp.toml", "it cannot `recv_line`", 3),
        (
            "send-before-connect.toml",
            "`send` on a TCP client before any connect",
            2,
        ),
        (
            "reply-before-recv.toml",
            "`reply` before `peer` received anything",
            3,
        ),
        (
            "undefined-variable.toml",
            "`{{usre}}` is never defined or captured",
            3,
        ),
        (
            "variable-before-capture.toml",
            "`{{token}}` is never defined or captured",
            3,
        ),
        (
            "chunks-on-recv.toml",
            "`chunks` does not apply to `recv_line`",
            4,
        ),
        ("from-on-tcp.toml", "`to` does not apply to `send`", 3),
        (
            "chunks-and-chunk.toml",
            "`chunks` and `chunk` are both given",
            3,
        ),
        (
            "loss-on-tcp-link.toml",
            "TCP's link can only delay and slice",
            11,
        ),
        ("slice-on-udp.toml", "`slice` cuts a TCP byte stream", 11),
        ("empty-steps.toml", "`steps` is empty", 2),
        ("missing-steps.toml", "`steps` is inside [target]", 5),
        ("no-steps-at-all.toml", "the scenario has no `steps`", 1),
        (
            "parallel-without-steps.toml",
            "`parallel` without `steps`",
            2,
        ),
        ("two-target-sources.toml", "[target] has two sources", 7),
        ("malformed-placeholder.toml", "is not a variable name", 3),
        ("unknown-filter.toml", "`uper` is not a template filter", 4),
        (
            "unknown-actor-kind.toml",
            "`a = \"tpc\"` is not a known value",
            6,
        ),
        ("sleep-with-actor.toml", "`sleep` takes no actor", 3),
        ("not-a-step.toml", "a step is an inline table", 2),
        (
            "client-role-with-builtin.toml",
            "a client target is a program netdrill starts",
            7,
        ),
        ("connect-to-non-listener.toml", "not a TCP listener", 3),
        (
            "capture-outside-parallel.toml",
            "`{{id}}` is never defined",
            9,
        ),
    ];
    for (file, message, line) in cases {
        let err = invalid(file);
        let LoadError::Invalid { src, problems, .. } = &err else {
            panic!("{file}: expected problems, got {err}");
        };
        let text = src.inner();
        let first = &problems[0];
        assert!(
            first.message.contains(message),
            "{file}: first problem is {:?}, expected it to contain {message:?}",
            first.message
        );
        let at_line = text[..first.span.offset()].matches('\n').count() + 1;
        assert_eq!(
            at_line, *line,
            "{file}: {:?} is on the wrong line",
            first.message
        );
        for p in problems {
            assert!(
                p.span.offset() + p.span.len() <= text.len(),
                "{file}: span out of the file"
            );
        }
        // Every problem but a bare syntax error says how to fix it.
        if !file.starts_with("syntax") {
            assert!(
                problems.iter().all(|p| p.help.is_some()),
                "{file}: a problem without help"
            );
        }
    }
}

#[test]
fn several_problems_are_all_reported() {
    let err = invalid("several-problems.toml");
    let messages: Vec<&str> = err.problems().iter().map(|p| p.message.as_str()).collect();
    for expected in [
        "unknown top-level key `timout`",
        "`send` on a TCP client before any connect",
        "`recv_lnie` is not an action",
        "`{{tokne}}` is never defined",
        "`timeout = \"soon\"` is not a duration",
        "`shutdown = \"sideways\"`",
        "`recv_match` is not a valid regex",
        "no built-in TCP server called `uppercse`",
        "TCP's link can only delay and slice",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "missing {expected:?} in {messages:#?}"
        );
    }
    assert_eq!(err.problem_count(), 9);
    let offsets: Vec<usize> = err.problems().iter().map(|p| p.span.offset()).collect();
    assert!(
        offsets.windows(2).all(|w| w[0] <= w[1]),
        "problems sorted by position"
    );
}

#[test]
fn file_level_errors() {
    assert!(matches!(invalid("empty.toml"), LoadError::Empty { .. }));
    match invalid("not-utf8.toml") {
        LoadError::NotUtf8 {
            offset, line, byte, ..
        } => assert_eq!((offset, line, byte), (11, 1, 0xe9)),
        other => panic!("expected NotUtf8, got {other}"),
    }
    let missing = load_file(Path::new("tests/invalid/no-such-file.toml")).unwrap_err();
    assert!(matches!(missing, LoadError::Io { .. }));
    assert!(render_plain(&missing).contains("no-such-file.toml"));

    let big = "#".repeat(5 * 1024 * 1024);
    assert!(matches!(
        load_str(&big, Path::new("big.toml")),
        Err(LoadError::TooLarge { .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    let big_file = dir.path().join("big.toml");
    std::fs::write(&big_file, big.as_bytes()).unwrap();
    let err = load_file(&big_file).unwrap_err();
    assert!(
        render_plain(&err).contains("too large"),
        "{}",
        render_plain(&err)
    );
}

#[test]
fn tcp_scenario_model() {
    let s = valid("tcp-uppercase.toml");
    assert_eq!(s.name, "uppercase: a line split over three writes");
    assert_eq!(s.tags, ["tcp", "partial-reads"]);
    assert_eq!(s.timeout, Duration::from_secs(2));
    assert_eq!(s.target.source, TargetSource::Builtin("uppercase".into()));
    assert_eq!(s.target.protocol, Protocol::Tcp);
    assert_eq!(s.actors.get("client"), Some(&ActorKind::TcpClient));
    assert_eq!(s.vars.get("greeting").map(String::as_str), Some("hi there"));
    assert_eq!(s.steps.len(), 16);

    let step = &s.steps[1];
    assert_eq!(
        (step.number, step.line, step.actor.as_str()),
        (2, 8, "client")
    );
    let text = &s.source[step.span.offset()..step.span.offset() + step.span.len()];
    assert!(text.starts_with("{ send = \"hello world\\n\"") && text.ends_with('}'));
    match &step.action {
        Action::Send(Send {
            data: Payload::Text(t),
            chunking,
            pause,
            to,
        }) => {
            assert_eq!(t.raw(), "hello world\n");
            assert_eq!(chunking, &Chunking::Sizes(vec![3, 4, 5]));
            assert_eq!(*pause, Some(Duration::from_millis(20)));
            assert!(to.is_none());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        &s.steps[3].action,
        Action::Send(Send {
            chunking: Chunking::Every(2),
            ..
        })
    ));
    assert_eq!(s.steps[4].timeout, Some(Duration::from_secs(1)));
    assert!(
        matches!(&s.steps[5].action, Action::Send(Send { data: Payload::Hex(b), .. }) if b == b"ab\n")
    );
    match &s.steps[8].action {
        Action::RecvMatch(RecvMatch { pattern, .. }) => {
            let re = pattern.compiled.as_ref().expect("compiled");
            assert!(re.is_match(b"TOKEN 42"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.steps[8].capture.as_deref(), Some("token"));
    match &s.steps[10].action {
        Action::RecvUntil(RecvUntil { delimiter, pattern }) => {
            assert_eq!(delimiter.raw(), ";");
            assert!(pattern.as_ref().and_then(|p| p.compiled.as_ref()).is_some());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        &s.steps[11].action,
        Action::RecvBytes(RecvBytes {
            count: Count::Fixed(4),
            pattern: Some(_)
        })
    ));
    assert!(
        matches!(s.steps[12].action, Action::Silence(Silence(d)) if d == Duration::from_millis(50))
    );
    assert!(matches!(
        s.steps[13].action,
        Action::Shutdown(Shutdown(ShutdownHow::Write))
    ));
    assert!(matches!(s.steps[14].action, Action::RecvEof(_)));
    assert!(matches!(s.steps[15].action, Action::Close(_)));
    assert_eq!(s.link.to_target.delay, Duration::from_millis(5));
    assert_eq!(s.link.to_target.slice, Some(3));
    assert!(s.link.is_active());
}

#[test]
fn udp_scenario_model() {
    let s = valid("udp-loss.toml");
    assert_eq!(s.name, "udp-loss", "the name defaults to the file stem");
    assert_eq!(s.timeout, netdrill::scenario::DEFAULT_TIMEOUT);
    assert_eq!(s.target.protocol, Protocol::Udp);
    assert_eq!(s.actors.get("client"), Some(&ActorKind::Udp));
    assert_eq!(s.actors.get("peer"), Some(&ActorKind::Udp));
    assert!(
        matches!(&s.steps[2].action, Action::Bind(Bind { addr }) if addr.raw() == "127.0.0.1:0")
    );
    match &s.steps[7].action {
        Action::Send(Send {
            data: Payload::Hex(b),
            to: Some(to),
            ..
        }) => {
            assert_eq!(b, &[0xde, 0xad, 0xbe, 0xef]);
            assert_eq!(to.vars().collect::<Vec<_>>(), ["peer.port"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&s.steps[1].action, Action::Recv(Recv { from: Some(f), .. }) if f.raw() == "target")
    );
    assert!(
        matches!(&s.steps[5].action, Action::Reply(Reply { data: Payload::Text(t) }) if t.raw() == "{{who}} answers")
    );
    assert!(
        matches!(&s.steps[9].action, Action::Reply(Reply { data: Payload::Hex(b) }) if b == &[0, 0xff])
    );
    let link = &s.link;
    assert_eq!(link.seed, Some(7), "[link] seed wins over a direction's");
    assert_eq!(link.to_target.seed, Some(9));
    assert_eq!(link.to_target.loss, 0.3);
    assert_eq!(link.to_target.duplicate, 0.1);
    assert_eq!(link.to_target.reorder, 0.1);
    assert_eq!(link.to_target.jitter, Duration::from_millis(5));
    assert_eq!(link.from_target.drop, [1, 3]);
    assert_eq!(s.steps[12].line, 15);
}

#[test]
fn client_target_model() {
    let s = valid("client-target.toml");
    assert_eq!(s.target.role, Role::Client);
    assert_eq!(
        s.target.source,
        TargetSource::Command("python3 client.py {{port}} {{mode}}".into())
    );
    assert_eq!(s.actors.get("srv"), Some(&ActorKind::TcpListener));
    assert_eq!(s.actors.get("conn"), Some(&ActorKind::TcpAccepted));
    assert_eq!(s.actors.get("target"), Some(&ActorKind::Process));
    assert_eq!(s.actors.get("helper"), Some(&ActorKind::Process));
    assert_eq!(s.actors.get("late"), Some(&ActorKind::TcpClient));
    assert!(matches!(
        &s.steps[1].action,
        Action::Spawn(Spawn { command: None })
    ));
    assert!(matches!(&s.steps[2].action, Action::Accept(Accept { name }) if name == "conn"));
    assert!(matches!(&s.steps[10].action, Action::Exit(Exit(0))));
    assert!(
        matches!(&s.steps[11].action, Action::Spawn(Spawn { command: Some(c) }) if c.raw().starts_with("python3"))
    );
    assert!(matches!(
        &s.steps[14].action,
        Action::Connect(Connect {
            expect: ConnectExpect::Refused,
            ..
        })
    ));
    assert!(
        matches!(s.steps[15].action, Action::Sleep(Sleep(d)) if d == Duration::from_millis(10))
    );
    assert_eq!(s.steps[8].timeout, Some(Duration::from_secs(1)));
}

#[test]
fn parallel_model() {
    let s = valid("parallel-load.toml");
    assert_eq!(s.target.port, Some(12000));
    assert_eq!(
        s.vars.get("n").map(String::as_str),
        Some("42"),
        "integers become text"
    );
    let Action::Parallel(Parallel { copies, steps }) = &s.steps[0].action else {
        panic!("{:?}", s.steps[0].action);
    };
    assert_eq!(*copies, 100);
    assert_eq!(s.steps[0].timeout, Some(Duration::from_secs(10)));
    assert_eq!(steps.len(), 4);
    assert_eq!(
        steps.iter().map(|s| s.number).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        steps.iter().map(|s| s.line).collect::<Vec<_>>(),
        [6, 7, 8, 9]
    );
    assert_eq!(steps[2].capture.as_deref(), Some("echoed"));
    assert!(matches!(steps[3].action, Action::Abort(_)));
    assert_eq!(s.actors.get("idle"), Some(&ActorKind::TcpClient));
    assert_eq!(s.actors.get("u"), Some(&ActorKind::Udp));
    assert!(matches!(
        &s.steps[3].action,
        Action::Send(Send {
            chunking: Chunking::Every(1),
            ..
        })
    ));
    assert_eq!(s.steps[3].actor, "busy");
}

/// Together the valid files use every action and every modifier.
#[test]
fn valid_files_use_every_word() {
    let mut text = String::new();
    for entry in std::fs::read_dir(root().join("tests/valid")).unwrap() {
        let path = entry.unwrap().path();
        let s = load_file(&path).unwrap_or_else(|e| panic!("{}", render_plain(&e)));
        assert!(!s.steps.is_empty());
        text.push_str(&s.source);
    }
    for w in vocab::actions().chain(vocab::modifiers()) {
        let bare = format!("{{ {} =", w.name);
        let dotted = format!(".{} =", w.name);
        let inline = format!(", {} =", w.name);
        assert!(
            text.contains(&bare) || text.contains(&dotted) || text.contains(&inline),
            "no valid file uses `{}`",
            w.name
        );
    }
}

#[test]
fn schema_knows_every_word() {
    let schema = serde_json::to_value(netdrill::scenario::schema::json_schema()).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let step = &schema["$defs"]["Step"]["properties"];
    for w in vocab::actions().chain(vocab::modifiers()) {
        let p = &step[w.name];
        assert!(p.is_object(), "`{}` missing from the step schema", w.name);
        assert!(
            p["description"].is_string(),
            "`{}` has no description",
            w.name
        );
    }
    let actor = &schema["$defs"]["Step"]["additionalProperties"]["properties"];
    assert!(actor["send"].is_object() && actor["timeout"].is_object());
    for key in [
        "name", "about", "tags", "timeout", "steps", "target", "actors", "vars", "link",
    ] {
        assert!(
            schema["properties"][key].is_object(),
            "top-level `{key}` missing"
        );
    }
    assert_eq!(schema["additionalProperties"], false);
    let target = &schema["$defs"]["TargetDoc"]["properties"];
    for key in netdrill::scenario::validate::TARGET_KEYS {
        assert!(target[key].is_object(), "[target] `{key}` missing");
    }
    let dir = &schema["$defs"]["LinkDirectionDoc"]["properties"];
    for key in netdrill::scenario::validate::LINK_DIRECTION_KEYS {
        assert!(dir[key].is_object(), "link `{key}` missing");
    }
}

fn netdrill(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_netdrill"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run netdrill")
}

#[test]
fn check_command_reports_and_exits() {
    let ok = netdrill(&["check", "tests/valid"]);
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        "checked 5 scenario files: all valid\n"
    );

    let bad = netdrill(&[
        "check",
        "tests/valid",
        "tests/invalid/several-problems.toml",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("[tests/invalid/several-problems.toml:2:1]"),
        "{err}"
    );
    assert!(
        err.ends_with("checked 6 scenario files: 1 invalid (9 problems)\n"),
        "{err}"
    );

    let missing = netdrill(&["check", "no/such/dir"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no/such/dir"));

    let schema = netdrill(&["schema"]);
    assert_eq!(schema.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&schema.stdout).expect("JSON");
    assert!(v["$defs"]["Step"].is_object());
}

#[test]
fn collect_files_is_recursive_and_sorted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("b/c")).unwrap();
    for f in ["b/c/z.toml", "b/a.toml", "a.toml", "notes.txt"] {
        std::fs::write(dir.path().join(f), "").unwrap();
    }
    let files = netdrill::scenario::collect_files(&[dir.path().to_path_buf()]).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["a.toml", "b/a.toml", "b/c/z.toml"]);
    assert!(netdrill::scenario::collect_files(&[dir.path().join("nope")]).is_err());
}

/// Every valid scenario file of the repository: the seeds of the mutation test.
/// Every valid file (tests/valid and scenarios/), read and checked once per test run.
fn seed_files() -> &'static [(PathBuf, String)] {
    static SEEDS: std::sync::OnceLock<Vec<(PathBuf, String)>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(read_seed_files)
}

fn read_seed_files() -> Vec<(PathBuf, String)> {
    let mut dirs = vec![root().join("tests/valid")];
    if root().join("scenarios").is_dir() {
        dirs.push(root().join("scenarios"));
    }
    let files = netdrill::scenario::collect_files(&dirs).unwrap();
    files
        .into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            load_str(&text, &p).ok()?;
            Some((p, text))
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Replace(usize, u8),
    SwapLines(usize, usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let snippets = prop::sample::select(vec![
        b"{".to_vec(),
        b"}".to_vec(),
        b"\"".to_vec(),
        b"{{".to_vec(),
        b"\\".to_vec(),
        b"=".to_vec(),
        b",".to_vec(),
        b"[".to_vec(),
        b"\n".to_vec(),
        b"\xff".to_vec(),
        b"{ send = \"x\" },".to_vec(),
        b"capture = \"x\", ".to_vec(),
        b"a.".to_vec(),
        "é".as_bytes().to_vec(),
    ]);
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), snippets).prop_map(|(a, s)| Mutation::Insert(a, s)),
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::Replace(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), 1usize..40).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
    ]
}

fn apply(text: &[u8], m: &Mutation) -> Vec<u8> {
    let mut out = text.to_vec();
    let len = out.len().max(1);
    match m {
        Mutation::Delete(a, n) => {
            let a = a % len;
            let end = (a + n).min(out.len());
            out.drain(a.min(out.len())..end);
        }
        Mutation::Insert(a, s) => {
            let a = a % (out.len() + 1);
            out.splice(a..a, s.iter().copied());
        }
        Mutation::Replace(a, b) => {
            if !out.is_empty() {
                let a = a % out.len();
                out[a] = *b;
            }
        }
        Mutation::SwapLines(a, b) => {
            let mut lines: Vec<Vec<u8>> = out.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect();
            let n = lines.len();
            lines.swap(a % n, b % n);
            out = lines.join(&b'\n');
        }
        Mutation::Duplicate(a, n) => {
            let a = a % len;
            let end = (a + n).min(out.len());
            let piece = out[a.min(out.len())..end].to_vec();
            out.splice(end..end, piece);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = load_bytes(bytes, Path::new("fuzz.toml"));
    }

    #[test]
    fn arbitrary_strings_never_panic(text in "\\PC{0,300}") {
        let _ = load_str(&text, Path::new("fuzz.toml"));
    }

    #[test]
    fn toml_like_strings_never_panic(text in "[a-z_.{}\\[\\]=\"', \n0-9#\\\\]{0,300}") {
        if let Err(e) = load_str(&text, Path::new("fuzz.toml")) {
            prop_assert!(e.problem_count() >= 1);
            let _ = render_plain(&e);
        }
    }

    #[test]
    fn mutated_valid_files_load_or_say_why(
        pick in any::<prop::sample::Index>(),
        muts in prop::collection::vec(mutation(), 1..4),
    ) {
        let seeds = seed_files();
        prop_assume!(!seeds.is_empty());
        let (path, text) = &seeds[pick.index(seeds.len())];
        let mut bytes = text.as_bytes().to_vec();
        for m in &muts {
            bytes = apply(&bytes, m);
        }
        match load_bytes(bytes, path) {
            Ok(s) => prop_assert!(!s.steps.is_empty()),
            Err(e) => {
                prop_assert!(e.problem_count() >= 1);
                prop_assert!(!render_plain(&e).is_empty());
            }
        }
    }
}

/// A problem on a line too long to draw is reported with the same line and column
/// everywhere, and the start of what it marks.
#[test]
fn a_problem_on_a_very_long_line_has_one_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.toml");
    std::fs::write(
        &file,
        format!(
            "steps = [ {{ connect = \"target\" }}, {{ send = \"{}\", chnk = 2 }} ]\n[target]\nbuiltin = \"uppercase\"\n",
            "x".repeat(5000)
        ),
    )
    .unwrap();
    let out = netdrill(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let col = 1 + "steps = [ { connect = \"target\" }, { send = \"".len() + 5000 + "\", ".len();
    assert!(
        err.contains(&format!("long.toml:1:{col}: unknown key (chnk)")),
        "{err}"
    );
    assert!(!err.contains("columns 1 to"), "{err}");
    assert!(err.contains("help: did you mean `chunk`?"), "{err}");
}
