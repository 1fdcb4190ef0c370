//! The engine against real programs: every example passes against the built-in servers
//! (transcripts pinned by snapshots), each flawed server fails the example that should
//! catch it at the asserted step, hostile targets get clear verdicts within their
//! timeouts, and any chunking of a message gives the same transcript.

use std::path::{Path, PathBuf};
use std::time::Duration;

use netdrill::interp::engine::{self, RunOptions, RunResult, Status, TargetOverride};
use netdrill::scenario::{Scenario, TargetSource};
use proptest::prelude::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn load(path: &str) -> Scenario {
    netdrill::load_file(&repo(path)).unwrap_or_else(|e| panic!("{path}: {e:?}"))
}

fn run(sc: &Scenario, opts: &RunOptions) -> RunResult {
    runtime().block_on(engine::run(sc, opts))
}

fn with_builtin(mut sc: Scenario, name: &str) -> Scenario {
    sc.target.source = TargetSource::Builtin(name.to_string());
    sc
}

fn fixture_cmd(mode: &str) -> RunOptions {
    let script = repo("tests/fixtures/hostile_server.py");
    RunOptions {
        target: Some(TargetOverride::Command(format!(
            "python3 {} {mode} {{{{port}}}}",
            script.display()
        ))),
        ..RunOptions::default()
    }
}

#[test]
fn every_example_passes_and_its_transcript_is_pinned() {
    insta::glob!("../../scenarios", "**/*.toml", |path| {
        let sc = netdrill::load_file(path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        let result = run(&sc, &RunOptions::default());
        assert_eq!(
            result.status,
            Status::Passed,
            "{} failed:\n{}",
            path.display(),
            result.transcript.render()
        );
        insta::with_settings!({
            snapshot_path => "../../snapshots/transcripts",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!("transcript", result.transcript.render());
        });
    });
}

/// (example, flawed server, the step that must fail, its action)
const FLAWED: &[(&str, &str, usize, &str)] = &[
    (
        "scenarios/tcp/concurrent-clients.toml",
        "uppercase-iterative",
        4,
        "recv_line",
    ),
    // It answers the first read ("hel") and closes: the next write hits a closed socket.
    (
        "scenarios/tcp/split-line.toml",
        "uppercase-one-recv",
        2,
        "send",
    ),
    (
        "scenarios/tcp/one-line.toml",
        "uppercase-no-close",
        5,
        "recv_eof",
    ),
    (
        "scenarios/tcp/half-close.toml",
        "uppercase-no-close",
        0,
        "recv_eof",
    ),
    (
        "scenarios/udp/uppercase.toml",
        "uppercase-udp-fixed-reply",
        2,
        "recv",
    ),
    (
        "scenarios/udp/two-datagrams.toml",
        "uppercase-udp-joins",
        3,
        "recv",
    ),
];

#[test]
fn each_flawed_server_fails_the_example_that_catches_it() {
    for &(file, server, step, action) in FLAWED {
        let sc = with_builtin(load(file), server);
        let result = run(&sc, &RunOptions::default());
        assert_eq!(
            result.status,
            Status::Failed,
            "{file} against {server} passed"
        );
        let failure = result.failure.expect("a failure");
        if step != 0 {
            assert_eq!(failure.step, step, "{file} against {server}: {failure:?}");
        }
        assert_eq!(
            failure.action, action,
            "{file} against {server}: {failure:?}"
        );
        let line = sc.steps[failure.step - 1].line;
        assert_eq!(failure.line, line);
    }
}

#[test]
fn one_recv_server_reports_what_arrived_and_the_close() {
    let sc = with_builtin(load("scenarios/tcp/split-line.toml"), "uppercase-one-recv");
    let failure = run(&sc, &RunOptions::default()).failure.expect("fails");
    assert!(failure.failure.message.contains("closed"), "{failure:?}");
    assert_eq!(
        failure.failure.actual.as_deref(),
        Some("\"HEL\" then EOF"),
        "{failure:?}"
    );
}

fn scenario(text: &str) -> Scenario {
    netdrill::load_str(text, Path::new("inline.toml")).unwrap_or_else(|e| panic!("{e:?}"))
}

const ONE_LINE: &str = r#"
timeout = "1s"
steps = [
  { connect = "target" },
  { send = "hello\n" },
  { recv_line = "HELLO" },
]
"#;

#[test]
fn a_flood_fails_at_the_first_wrong_byte_without_waiting() {
    let sc = scenario(ONE_LINE);
    let started = std::time::Instant::now();
    let result = run(&sc, &fixture_cmd("flood"));
    let failure = result.failure.expect("fails");
    assert_eq!(failure.step, 3);
    assert!(failure.failure.message.contains("differs"), "{failure:?}");
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "waited out the timeout"
    );
}

#[test]
fn a_flood_without_delimiter_hits_the_cap_and_says_so() {
    let sc = scenario(
        r#"
timeout = "20s"
steps = [
  { connect = "target" },
  { recv_until = "\n\n" },
]
"#,
    );
    let failure = run(&sc, &fixture_cmd("flood")).failure.expect("fails");
    assert_eq!(failure.step, 2);
    assert!(
        failure.failure.message.contains("buffers at most"),
        "{failure:?}"
    );
}

#[test]
fn a_mute_server_times_out_with_a_clear_message() {
    let failure = run(&scenario(ONE_LINE), &fixture_cmd("mute"))
        .failure
        .expect("fails");
    assert_eq!(failure.step, 3);
    assert!(failure.failure.message.contains("timed out"), "{failure:?}");
}

#[test]
fn a_server_that_never_accepts_still_fails_in_bounded_time() {
    let failure = run(&scenario(ONE_LINE), &fixture_cmd("no-accept"))
        .failure
        .expect("fails");
    assert_eq!(failure.step, 3);
    assert!(failure.failure.message.contains("timed out"), "{failure:?}");
}

#[test]
fn a_reset_is_named() {
    let failure = run(&scenario(ONE_LINE), &fixture_cmd("reset"))
        .failure
        .expect("fails");
    assert_eq!(failure.step, 3);
    assert!(failure.failure.message.contains("reset"), "{failure:?}");
}

#[test]
fn a_dribbling_server_passes_within_the_timeout() {
    let result = run(&scenario(ONE_LINE), &fixture_cmd("dribble"));
    assert_eq!(
        result.status,
        Status::Passed,
        "{}",
        result.transcript.render()
    );
}

#[test]
fn a_wrong_answer_shows_expected_and_actual() {
    let failure = run(&scenario(ONE_LINE), &fixture_cmd("wrong"))
        .failure
        .expect("fails");
    assert_eq!(failure.failure.expected.as_deref(), Some("\"HELLO\""));
    assert_eq!(failure.failure.actual.as_deref(), Some("\"wrong answer\""));
}

#[test]
fn a_target_that_exits_early_shows_its_stderr() {
    let result = run(&scenario(ONE_LINE), &fixture_cmd("exit"));
    assert_eq!(result.status, Status::Failed);
    let failure = result.failure.expect("fails");
    assert_eq!(failure.step, 0);
    assert!(
        failure
            .failure
            .message
            .contains("could not open config.txt"),
        "{failure:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// A byte stream has no boundaries: any chunking passes and gives one transcript.
    #[test]
    fn any_chunking_gives_the_same_transcript(
        message in "[a-z0-9 ]{1,60}",
        cuts in proptest::collection::vec(1usize..8, 0..10),
    ) {
        let text = |chunks: &str| format!(
            "timeout = \"2s\"\nsteps = [\n  {{ connect = \"target\" }},\n  {{ send = \"{message}\\n\"{chunks} }},\n  {{ recv_line = \"{}\" }},\n  {{ shutdown = \"write\" }},\n  {{ recv_eof = true }},\n]\n[target]\nbuiltin = \"uppercase\"\n",
            message.to_uppercase()
        );
        let whole = run(&scenario(&text("")), &RunOptions::default());
        prop_assert_eq!(whole.status, Status::Passed);
        let chunks = if cuts.is_empty() {
            String::new()
        } else {
            format!(", chunks = {cuts:?}")
        };
        let split = run(&scenario(&text(&chunks)), &RunOptions::default());
        prop_assert_eq!(split.status, Status::Passed, "{}", split.transcript.render());
        prop_assert_eq!(whole.transcript.render(), split.transcript.render());
    }
}

/// The stop-and-wait example passes for every seed of its documented range, and the
/// link really loses datagrams along the way (some runs must resend).
#[test]
fn stop_and_wait_passes_for_every_seed_from_0_to_99() {
    let sc = load("scenarios/udp/stop-and-wait.toml");
    let results = runtime().block_on(async {
        let runs = (0..100u64).map(|seed| {
            let sc = &sc;
            async move {
                let opts = RunOptions {
                    seed: Some(seed),
                    ..RunOptions::default()
                };
                (seed, engine::run(sc, &opts).await)
            }
        });
        futures::future::join_all(runs).await
    });
    let mut resent = 0;
    for (seed, result) in &results {
        assert_eq!(
            result.status,
            Status::Passed,
            "seed {seed}:\n{}",
            result.transcript.render()
        );
        let text = result.transcript.render();
        if text.contains("(resent") {
            resent += 1;
            assert!(
                text.contains("~ link"),
                "seed {seed}: resent with no loss:\n{text}"
            );
        }
    }
    assert!(resent > 50, "only {resent} of 100 seeds lost anything");
}

/// A client program under test (`role = "client"`) is told where to connect by
/// `{{port}}` (the first scripted listener's port) and `NETDRILL_PORT`.
#[test]
fn a_client_target_gets_the_listeners_port() {
    let client = "import os, socket, sys; \
        p = int(sys.argv[1]); assert p == int(os.environ['NETDRILL_PORT']); \
        s = socket.create_connection(('127.0.0.1', p)); s.sendall(b'hello' + bytes([10])); \
        print(s.makefile().readline().strip(), flush=True)";
    let sc = scenario(&format!(
        r#"
timeout = "5s"
steps = [
  {{ srv.listen = true }},
  {{ target.spawn = true }},
  {{ srv.accept = "conn" }},
  {{ conn.recv_line = "hello" }},
  {{ conn.send = "HELLO\n" }},
  {{ target.stdout_line = "HELLO" }},
  {{ target.exit = 0 }},
]
[target]
command = "python3 -c \"{client}\" {{{{port}}}}"
role = "client"
"#
    ));
    let result = run(&sc, &RunOptions::default());
    assert_eq!(
        result.status,
        Status::Passed,
        "{}",
        result.transcript.render()
    );
}

/// `--target-cmd` does not force a target on a scenario of scripted actors only.
#[test]
fn a_target_override_leaves_actor_only_scenarios_alone() {
    let sc = load("scenarios/udp/reply-and-bind.toml");
    assert!(!engine::uses_target(&sc));
    let result = run(&sc, &fixture_cmd("mute"));
    assert_eq!(
        result.status,
        Status::Passed,
        "{}",
        result.transcript.render()
    );
    assert!(engine::uses_target(&load("scenarios/udp/uppercase.toml")));
}

/// `timeout` on `parallel` bounds the whole block.
#[test]
fn a_parallel_timeout_bounds_all_copies() {
    let sc = scenario(
        r#"
steps = [
  { parallel = 3, steps = [ { sleep = "5s" } ], timeout = "200ms" },
]
"#,
    );
    let started = std::time::Instant::now();
    let failure = run(&sc, &RunOptions::default()).failure.expect("fails");
    assert!(
        failure
            .failure
            .message
            .contains("did not all finish within 200ms"),
        "{failure:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, .. ProptestConfig::default() })]

    /// Same seed, same run: two runs of the lossy stop-and-wait example under any seed
    /// give the same transcript, link decisions and resends included.
    #[test]
    fn the_same_seed_gives_the_same_transcript(seed in 0u64..1_000_000) {
        let sc = load("scenarios/udp/stop-and-wait.toml");
        let opts = RunOptions { seed: Some(seed), ..RunOptions::default() };
        let (a, b) = runtime().block_on(async {
            futures::join!(engine::run(&sc, &opts), engine::run(&sc, &opts))
        });
        prop_assert_eq!(a.transcript.render(), b.transcript.render());
    }
}

/// `from` names who really sent a datagram, without its port.
#[test]
fn a_datagram_from_someone_else_is_named() {
    let sc = scenario(
        r#"
timeout = "1s"
steps = [
  { srv.bind = true },
  { cli.send = "x", to = "srv" },
  { srv.recv = "x", from = "target" },
]
[target]
builtin = "echo"
protocol = "udp"
"#,
    );
    let failure = run(&sc, &RunOptions::default()).failure.expect("fails");
    assert_eq!(failure.step, 3);
    assert_eq!(failure.failure.expected.as_deref(), Some("from target"));
    assert_eq!(failure.failure.actual.as_deref(), Some("from cli"));
}

/// A server that crashes mid-exchange: the report says it exited, and shows its
/// traceback.
#[test]
fn a_crashing_server_is_reported_with_its_traceback() {
    let failure = run(&scenario(ONE_LINE), &fixture_cmd("crash"))
        .failure
        .expect("fails");
    assert_eq!(failure.step, 3);
    let message = &failure.failure.message;
    assert!(
        message.contains("meanwhile the target exited with status 1"),
        "{message}"
    );
    assert!(message.contains("ZeroDivisionError"), "{message}");
}

/// A server that closes instead of answering: "actual" says so, so that an expected
/// empty line and what came are never shown as the same `""`.
#[test]
fn an_eof_instead_of_a_line_is_shown_in_actual() {
    let failure = run(&scenario(ONE_LINE), &fixture_cmd("crash"))
        .failure
        .expect("fails");
    let actual = failure.failure.actual.as_deref().unwrap_or("");
    assert!(
        actual.ends_with("then EOF") || actual.ends_with("then RST"),
        "{failure:?}"
    );
}

/// Two long lines of different lengths: the message gives both lengths, since the
/// shortened values may look alike.
#[test]
fn a_long_line_of_another_length_says_both_lengths() {
    let long = "A".repeat(300);
    let sc = scenario(&format!(
        "timeout = \"2s\"\nsteps = [\n  {{ connect = \"target\" }},\n  {{ send = \"{}\\n\" }},\n  {{ recv_line = \"{long}\" }},\n]\n[target]\nbuiltin = \"uppercase\"\n",
        "a".repeat(200)
    ));
    let failure = run(&sc, &RunOptions::default()).failure.expect("fails");
    assert!(
        failure
            .failure
            .message
            .contains("it has 200 bytes, the expected line 300"),
        "{failure:?}"
    );
}

/// A `drop` entry that no datagram reached is said in the transcript, not ignored.
#[test]
fn a_link_rule_that_never_matched_is_reported() {
    let sc = scenario(
        r#"timeout = "1s"
steps = [
  { send = "one" },
  { recv = "one" },
]
[target]
builtin = "echo"
protocol = "udp"
[link.to_target]
drop = [1, 5]
[link.from_target]
drop = [9]
"#,
    );
    let r = run(&sc, &RunOptions::default());
    let text = r.transcript.render();
    assert!(
        text.contains("warning: [link.to_target] drop = 5 never matched"),
        "{text}"
    );
    assert!(
        !text.contains("drop = 1 never matched"),
        "the first datagram was dropped: {text}"
    );
    // from_target saw nothing at all (the request was lost), so #9 never came.
    assert!(
        text.contains("warning: [link.from_target] drop = 9 never matched"),
        "{text}"
    );
}

/// A peer that reads a trickle is told apart from one that stopped reading: the failure
/// says how much the connection took, and how fast.
#[test]
fn a_slow_reader_is_reported_with_how_much_it_took() {
    let slow = "import socket,sys,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)\ns.bind(('127.0.0.1', int(sys.argv[1])))\ns.listen()\nc,_=s.accept()\nwhile c.recv(64):\n    time.sleep(0.01)\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("slow.py"), slow).unwrap();
    let sc = netdrill::load_str(
        &format!(
            "timeout = \"1s\"\nsteps = [\n  {{ connect = \"target\" }},\n  {{ send = \"{{{{big}}}}\" }},\n]\n[vars]\nbig = \"{}\"\n[target]\ncommand = \"python3 {}/slow.py {{{{port}}}}\"\n",
            "x".repeat(3_000_000),
            dir.path().display()
        ),
        Path::new("slow.toml"),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let r = run(&sc, &RunOptions::default());
    let f = r.failure.expect("the send fails");
    let m = &f.failure.message;
    assert!(m.contains("could not write: the peer"), "{m}");
    assert!(m.contains("of these 3000000 bytes"), "{m}");
    assert!(m.contains("bytes/s") || m.contains("took none"), "{m}");
}

/// A target stopped by SIGSTOP is named as such, not left as a plain timeout.
#[test]
fn a_stopped_target_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stops.py"),
        "import os,signal,socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1', int(sys.argv[1])))\ns.listen()\nc,_=s.accept()\nos.kill(os.getpid(), signal.SIGSTOP)\n",
    )
    .unwrap();
    let sc = netdrill::load_str(
        &format!(
            "steps = [\n  {{ connect = \"target\" }},\n  {{ send = \"hi\\n\" }},\n  {{ recv_line = \"HI\", timeout = \"500ms\" }},\n]\n[target]\ncommand = \"python3 {}/stops.py {{{{port}}}}\"\n",
            dir.path().display()
        ),
        Path::new("stops.toml"),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let r = run(&sc, &RunOptions::default());
    let m = r.failure.expect("the receive times out").failure.message;
    assert!(m.contains("meanwhile the target is stopped"), "{m}");
}

/// A length prefix and a body computed with filters (`len`, `u16be`, `hex`) make a frame
/// that `echo` sends back byte for byte; a `recv_hex` built the same way matches it,
/// wildcards included.
#[test]
fn a_frame_built_with_filters_round_trips_through_echo() {
    let sc = scenario(
        r#"
timeout = "2s"
steps = [
  { connect = "target" },
  { send_hex = "{{line | len | u16be}} {{line | hex}}" },
  { recv_hex = "00 05 68 65 6c 6c 6f" },
  { send_hex = "{{ line|len|u32be }}{{line|upper|hex}}" },
  { recv_hex = "?? ?? {{line | len | u16be}} {{line | upper | hex}}", capture = "frame", capture_as = "hex" },
  { send = "{{frame | len}} {{frame | upper}}\n" },
  { recv_line = "18 0000000548454C4C4F" },
]
[target]
builtin = "echo"
[vars]
line = "hello"
"#,
    );
    let r = run(&sc, &RunOptions::default());
    assert_eq!(r.status, Status::Passed, "{}", r.transcript.render());
    let t = r.transcript.render();
    assert!(t.contains("send_hex [00 05 68 65 6c 6c 6f]"), "{t}");
    assert!(t.contains("recv_hex [?? ?? 00 05 48 45 4c 4c 4f]"), "{t}");
}

/// A number filter given something it cannot write fails the step, naming the filter
/// and the value; a hex template that renders to something else than hex says so.
#[test]
fn a_filter_that_cannot_take_its_value_fails_the_step() {
    let sc = scenario(
        r#"
timeout = "2s"
steps = [
  { connect = "target" },
  { send_hex = "{{line | u16be}}" },
]
[target]
builtin = "echo"
[vars]
line = "hello"
"#,
    );
    let f = run(&sc, &RunOptions::default()).failure.expect("fails");
    assert_eq!(f.step, 2);
    assert_eq!(
        f.failure.message,
        "`u16be` needs an integer from 0 to 65535, and `line` is \"hello\""
    );
    let sc = scenario(
        r#"
timeout = "2s"
steps = [
  { connect = "target" },
  { send_hex = "00 {{line}}" },
]
[target]
builtin = "echo"
[vars]
line = "hello"
"#,
    );
    let f = run(&sc, &RunOptions::default()).failure.expect("fails");
    assert_eq!(f.step, 2);
    let m = &f.failure.message;
    assert!(
        m.contains("`00 {{line}}` gives \"00 hello\", which is not hex"),
        "{m}"
    );
}
