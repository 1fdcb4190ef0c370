/*!
Grading one submission: the body of a grading worker process.

The grader starts one worker per submission (`netdrill grade-worker`, hidden). The
worker first enters namespaces of its own ([`super::isolate`]): a network namespace
with only loopback up, so that every submission may listen on port 12000 at the same
time and none reaches any network; a PID namespace of which the worker is PID 1, so
that when it ends every process a student started ends with it, daemons included.
netdrill's scripted actors for the submission run inside the same namespace, in the
worker.

Then, in the submission's directory: the rubric's `build` (once), and every test with a
fresh start of the student's program, under the rubric's `[limits]`. Each finished piece
of work is sent to the grader at once as a JSON line ([`WorkerEvent`]) on stdout, so
nothing graded is lost when the worker is killed for a time limit or an interrupt.
*/

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::isolate::{self, Isolation};
use super::limits::PidsCgroup;
use super::model::{Limits, Rubric, RubricTest};
use super::outcome::{BuildResult, CUT_SHORT, TestResult, TestStatus, WorkerEvent};
use crate::interp::engine::{self, RunOptions, TargetOverride};
use crate::interp::process::{self, ChildGroup};
use crate::outcome::Status;
use crate::report::ScenarioOutcome;
use crate::report::human::{self, HumanOptions};

/// The most build output kept.
const BUILD_OUTPUT_CAP: usize = 16 * 1024;

/// Runs a worker: namespaces (when `isolate`), then grades `submission` by `rubric`,
/// writing [`WorkerEvent`]s to stdout. Returns the process exit status.
pub fn main(rubric_path: &Path, submission: &Path, isolate: bool) -> u8 {
    // First, while single-threaded: the namespaces (the caller's process forks here).
    let isolation = if isolate {
        isolate::enter_namespaces()
    } else {
        Isolation::None {
            why: "isolation was not asked for".into(),
        }
    };
    let rubric = match super::rubric::load_rubric(rubric_path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}", crate::diagnostic::render(&e, false));
            return 2;
        }
    };
    let (name, why) = match &isolation {
        Isolation::Namespaces { user_ns: false } => ("namespaces".to_string(), None),
        Isolation::Namespaces { user_ns: true } => ("user namespaces".to_string(), None),
        Isolation::None { why } => ("none".to_string(), Some(why.clone())),
    };
    emit(&WorkerEvent::Started {
        isolation: name,
        why,
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the runtime: {e}");
            return 1;
        }
    };
    let dir = submission.to_path_buf();
    runtime.block_on(grade(&rubric, &dir));
    emit(&WorkerEvent::Done);
    runtime.shutdown_timeout(Duration::from_secs(1));
    process::cleanup_at_exit();
    0
}

/// Writes one event as a JSON line on stdout.
fn emit(event: &WorkerEvent) {
    let mut out = std::io::stdout().lock();
    if let Ok(line) = serde_json::to_string(event) {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Builds, then runs every test, emitting each result as it comes.
async fn grade(rubric: &Rubric, dir: &Path) {
    // Told to stop (the grader cut grading short): end every program started, then
    // exit. Without namespaces this is what keeps student programs from outliving us.
    let _ = process::install_interrupt_handler();
    let deadline = Instant::now() + rubric.timeout;
    let cgroup = set_up_limits(rubric, dir);
    if let Some(build) = &rubric.target.build {
        let result = run_build(build, dir, rubric.timeout).await;
        let ok = result.ok;
        let why = format!(
            "the build (`{}`) failed: it {}",
            result.command, result.status
        );
        let output = result.output.clone();
        emit(&WorkerEvent::Build(result));
        if !ok {
            for (i, _) in rubric.tests.iter().enumerate() {
                let mut t = TestResult::not_run(rubric, i, &why);
                t.status = TestStatus::Failed;
                t.output = build_failed_markdown(&why, &output);
                emit(&WorkerEvent::Test(t));
            }
            return;
        }
    }
    for test in &rubric.tests {
        let left = deadline.saturating_duration_since(Instant::now());
        let result = if left.is_zero() {
            TestResult::not_run(
                rubric,
                test.number - 1,
                &format!(
                    "{CUT_SHORT}the submission's time limit ({}) ran out",
                    humantime::format_duration(rubric.timeout)
                ),
            )
        } else {
            run_test(rubric, test, dir, left, cgroup.as_ref()).await
        };
        emit(&WorkerEvent::Test(result));
    }
}

/// Makes every process spawned from now on run under the rubric's limits; returns the
/// pids cgroup that counts the submission's processes, when one could be made.
fn set_up_limits(rubric: &Rubric, dir: &Path) -> Option<PidsCgroup> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "submission".into());
    let cgroup = PidsCgroup::create(&name, rubric.limits.processes);
    emit(&WorkerEvent::Limits {
        cgroup: cgroup.as_ref().ok().map(|c| c.dir().display().to_string()),
        why: cgroup.as_ref().err().cloned(),
    });
    let cgroup = cgroup.ok();
    process::set_spawn_limits(
        rubric.limits,
        cgroup.as_ref().map(|c| c.procs_path().to_owned()),
    );
    cgroup
}

/// Runs the build command in `dir`, with its output (stdout and stderr) kept up to
/// [`BUILD_OUTPUT_CAP`].
async fn run_build(command: &str, dir: &Path, within: Duration) -> BuildResult {
    let started = Instant::now();
    let line = format!("exec 2>&1; {command}");
    let mut child = match ChildGroup::spawn(&line, dir, &[]) {
        Ok(c) => c,
        Err(e) => {
            return BuildResult {
                command: command.to_string(),
                ok: false,
                status: format!("could not be started ({e})"),
                output: String::new(),
                duration_ms: 0,
            };
        }
    };
    let mut output = String::new();
    let deadline = Instant::now() + within;
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match child.next_stdout_line(left).await {
            Ok(Some(l)) => {
                if output.len() < BUILD_OUTPUT_CAP {
                    output.push_str(&l);
                    output.push('\n');
                }
            }
            Ok(None) => break,
            Err(_) => {
                timed_out = true;
                break;
            }
        }
    }
    if output.len() > BUILD_OUTPUT_CAP {
        let mut cut = BUILD_OUTPUT_CAP;
        while !output.is_char_boundary(cut) {
            cut -= 1;
        }
        output.truncate(cut);
        output.push_str("\n… (the rest of the build output is cut)\n");
    }
    let left = deadline.saturating_duration_since(Instant::now());
    let status = match (
        timed_out,
        child.wait_exit(left.max(Duration::from_millis(100))).await,
    ) {
        (false, Ok(exit)) => Ok(exit),
        _ => Err(format!(
            "did not finish within {}",
            humantime::format_duration(within)
        )),
    };
    let exit = child.terminate(Duration::from_millis(200)).await;
    let (ok, status) = match status {
        Ok(_) if exit.code() == Some(0) => (true, exit.to_string()),
        Ok(_) => (false, exit.to_string()),
        Err(why) => (false, why),
    };
    BuildResult {
        command: command.to_string(),
        ok,
        status,
        output,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

fn build_failed_markdown(why: &str, output: &str) -> String {
    let mut md = format!("**Failed**: {why}, so no test could run.\n");
    if !output.trim().is_empty() {
        md.push_str("\nThe build's output:\n\n");
        md.push_str(&fenced(output));
    }
    md
}

/// The test's scenario with the rubric's `[target]` keys in force, and how to run it:
/// the rubric's command, in the submission's directory.
fn prepared(test: &RubricTest, dir: &Path) -> (crate::scenario::Scenario, RunOptions) {
    let target = &test.target;
    let mut scenario = test.scenario.clone();
    if let Some(p) = target.protocol {
        scenario.target.protocol = p;
    }
    if let Some(p) = target.port {
        scenario.target.port = Some(p);
    }
    if let Some(r) = target.role {
        scenario.target.role = r;
    }
    let opts = RunOptions {
        target: target.command.clone().map(TargetOverride::Command),
        timeout: None,
        seed: None,
        cwd: Some(dir.to_path_buf()),
    };
    (scenario, opts)
}

/// Runs one test with a fresh start of the student's program, within `left` (what
/// remains of the submission's time) and the test's own wall limit.
async fn run_test(
    rubric: &Rubric,
    test: &RubricTest,
    dir: &Path,
    left: Duration,
    cgroup: Option<&PidsCgroup>,
) -> TestResult {
    let started = Instant::now();
    let target = &test.target;
    let (scenario, opts) = prepared(test, dir);
    let wall = test.timeout.min(left);
    let hits_before = cgroup.map(|c| c.hit_limit()).unwrap_or(0);
    let run = tokio::time::timeout(wall, engine::run(&scenario, &opts)).await;
    let hit_process_limit = cgroup.map(|c| c.hit_limit()).unwrap_or(0) > hits_before;
    let duration_ms = started.elapsed().as_millis() as u64;
    let base = TestResult {
        number: test.number,
        name: test.name.clone(),
        status: TestStatus::Passed,
        score: test.points,
        max_score: test.points,
        message: String::new(),
        output: String::new(),
        transcript: String::new(),
        program_output: String::new(),
        duration_ms,
        visibility: test.visibility,
        tags: test.tags.clone(),
    };
    let Ok(result) = run else {
        if wall < test.timeout {
            // The submission's own limit, not the test's: grading was cut short.
            let why = format!(
                "{CUT_SHORT}the submission's time limit ({}) ran out during this test",
                humantime::format_duration(rubric.timeout)
            );
            return TestResult {
                duration_ms,
                ..TestResult::not_run(rubric, test.number - 1, &why)
            };
        }
        let why = {
            format!(
                "the test did not finish within its time limit ({})",
                humantime::format_duration(test.timeout)
            )
        };
        return TestResult {
            status: TestStatus::Failed,
            score: 0.0,
            output: failed_markdown(&why, None, test.feedback.as_deref()),
            message: why,
            ..base
        };
    };
    let transcript = result.transcript.render();
    let base = TestResult {
        program_output: program_output(result.target_output.as_ref(), &rubric.limits),
        ..base
    };
    if result.status == Status::Passed {
        return TestResult {
            transcript,
            output: "**Passed**\n".into(),
            ..base
        };
    }
    let outcome = ScenarioOutcome {
        name: scenario.name.clone(),
        about: scenario.about.clone(),
        file: test.scenario_written.clone(),
        status: result.status,
        duration: result.duration,
        failure: result.failure.clone(),
        transcript: result.transcript.clone(),
        source: Some(Arc::clone(&scenario.source)),
        error: None,
        seed: result.seed,
    };
    let raw = result
        .failure
        .as_ref()
        .map(|f| f.failure.message.clone())
        .unwrap_or_default();
    let headline = diagnose(
        &raw,
        &rubric.limits,
        hit_process_limit,
        target.command.as_deref(),
    );
    // A program that could not be started has nothing to show in the scenario (whose
    // [target] the rubric replaced): the headline says it all.
    let started_up = result.failure.as_ref().is_none_or(|f| f.step > 0);
    let details = started_up.then(|| {
        human::details(
            &outcome,
            HumanOptions {
                verbose: false,
                color: false,
            },
        )
    });
    TestResult {
        status: TestStatus::Failed,
        score: 0.0,
        // The rubric's hint is about what the test checks: useless (even misleading)
        // when the program never started.
        output: failed_markdown(
            &headline,
            details.as_deref(),
            test.feedback.as_deref().filter(|_| started_up),
        ),
        message: headline,
        transcript,
        ..base
    }
}

/// What the program printed, with a note on what was drained beyond the kept part.
fn program_output(kept: Option<&(String, u64)>, limits: &Limits) -> String {
    let Some((text, dropped)) = kept else {
        return String::new();
    };
    let mut out = text.clone();
    if *dropped > 0 {
        out.push_str(&format!(
            "… ({dropped} more bytes were printed and drained: only the first {} of a program's output is kept, the rubric's `output` limit)\n",
            human_size(limits.output)
        ));
    }
    out
}

/// A student-facing explanation of a failure, from the engine's message: setup
/// mistakes (exited at start, wrong port, never ready), limits and crashes in plain
/// words, then the engine's own message.
pub fn diagnose(
    raw: &str,
    limits: &Limits,
    hit_process_limit: bool,
    command: Option<&str>,
) -> String {
    let first = raw.lines().next().unwrap_or("").trim();
    let mut said: Vec<String> = Vec::new();
    let program = command
        .map(|c| format!("Your program (`{}`)", c.replace("{{port}}", "<port>")))
        .unwrap_or_else(|| "Your program".into());
    // A shell reports a program killed by signal N as exit status 128 + N.
    let shell_signal = between(raw, "exited with status ", " ")
        .or_else(|| {
            raw.split("exited with status ")
                .nth(1)
                .map(|r| r.trim_end())
        })
        .and_then(|n| {
            n.trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse::<i32>()
                .ok()
        })
        .filter(|n| (129..=159).contains(n))
        .map(|n| n - 128);
    said.extend(limit_sentences(
        raw,
        limits,
        hit_process_limit,
        shell_signal,
        &program,
    ));
    said.extend(start_sentence(first, raw, &program, command));
    if let Some(sig) = shell_signal
        && sig != 24
        && sig != 25
    {
        let name = nix::sys::signal::Signal::try_from(sig)
            .map(|s| format!(" ({})", s.as_str()))
            .unwrap_or_default();
        said.push(format!(
            "Its exit status {} is how a shell reports a program killed by signal {sig}{name}.",
            sig + 128
        ));
    }
    if let Some(how) = raw.split("; meanwhile the target ").nth(1) {
        let how = how.lines().next().unwrap_or("").trim();
        let how = how.strip_prefix("was ").unwrap_or(how);
        if how.contains("killed by signal") {
            said.push(format!("{program} crashed during the test: it was {how}."));
        } else {
            said.push(format!("{program} {how} during the test."));
        }
    }
    // Name the program once; after that it is "it".
    let mut out = said
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if i == 0 {
                s.clone()
            } else {
                s.replacen(&program, "It", 1)
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(raw.trim_end());
    out
}

/// What the limits did to the program, in plain words (see [`diagnose`]).
fn limit_sentences(
    raw: &str,
    limits: &Limits,
    hit_process_limit: bool,
    shell_signal: Option<i32>,
    program: &str,
) -> Vec<String> {
    let mut said = Vec::new();
    let signal_is = |sig: i32, name: &str| {
        raw.contains(name) || raw.contains(&format!("signal {sig} ")) || shell_signal == Some(sig)
    };
    if hit_process_limit {
        said.push(format!(
            "{program} hit the process limit: it tried to run more than {} processes and threads at once, so a fork() or thread creation failed.",
            limits.processes
        ));
    }
    let fork_failed = (raw.contains("fork") || raw.contains("thread"))
        && (raw.contains("Resource temporarily unavailable")
            || raw.contains("EAGAIN")
            || raw.contains("BlockingIOError"));
    if !hit_process_limit && fork_failed {
        said.push(format!(
            "{program} could not start a process or thread (\"Resource temporarily unavailable\"): it probably hit the process limit ({} processes and threads at once).",
            limits.processes
        ));
    }
    if signal_is(24, "SIGXCPU") {
        said.push(format!(
            "{program} used up its CPU time limit ({}) and was stopped; look for an endless loop.",
            humantime::format_duration(limits.cpu)
        ));
    }
    let oom_words = [
        "MemoryError",
        "Cannot allocate memory",
        "std::bad_alloc",
        "out of memory",
        "Out of memory",
    ];
    if oom_words.iter().any(|w| raw.contains(w)) {
        said.push(format!(
            "{program} hit the memory limit ({} of address space) and could not allocate memory.",
            human_size(limits.memory)
        ));
    }
    if raw.contains("File size limit exceeded")
        || raw.contains("File too large")
        || signal_is(25, "SIGXFSZ")
    {
        said.push(format!(
            "{program} hit the file size limit ({}).",
            human_size(limits.file_size)
        ));
    }
    said
}

/// Why the program could not be started, in plain words (see [`diagnose`]).
fn start_sentence(first: &str, raw: &str, program: &str, command: Option<&str>) -> Option<String> {
    let mut said = Vec::new();
    if first.contains("before it was ready") {
        if first.contains("exited with status 0") {
            said.push(format!(
                "{program} exited (status 0) right after it started, before it listened on its port. A server must keep running in the foreground: do not daemonize or fork into the background and exit."
            ));
        } else if let Some(how) = between(first, "started: the target ", " before it was ready") {
            let mut s =
                format!("{program} {how} right after it started, before it listened on its port.");
            if raw.contains("Traceback") || raw.contains("stderr") {
                s.push_str(" The end of what it printed on stderr is below.");
            }
            said.push(s);
        }
    } else if let Some(instead) = between(first, "the target listens on ", ", not on its port") {
        said.push(format!(
            "{program} listens on {instead}, not on the port it was given. Take the port from the command line (the rubric starts it as `{}`) instead of hard-coding one.",
            command.unwrap_or("{{port}}").replace("{{port}}", "<port>")
        ));
    } else if let Some(instead) = between(first, "the target is bound on ", ", not on its port") {
        said.push(format!(
            "{program} is bound on {instead}, not on the port it was given. Take the port from the command line (the rubric starts it as `{}`) instead of hard-coding one.",
            command.unwrap_or("{{port}}").replace("{{port}}", "<port>")
        ));
    } else if first.contains("was not ready on") {
        said.push(format!(
            "{program} never started listening on its port (it kept running, but no socket was listening there). Is it stuck before listen(), in an endless loop, or listening on another address?"
        ));
    }
    said.pop()
}

fn between<'t>(text: &'t str, start: &str, end: &str) -> Option<&'t str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// Bytes as the rubric writes them (`1GiB`, `16MiB`, `512KiB`, `100 bytes`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

fn failed_markdown(headline: &str, details: Option<&str>, feedback: Option<&str>) -> String {
    let mut md = String::from("**Failed**\n\n");
    md.push_str(&fenced(headline));
    if let Some(hint) = feedback {
        md.push_str("\n**Hint:** ");
        md.push_str(hint.trim());
        md.push('\n');
    }
    if let Some(d) = details.filter(|d| !d.trim().is_empty()) {
        md.push_str("\nWhat happened (the scenario, the failing step, the transcript):\n\n");
        md.push_str(&fenced(d));
    }
    md
}

/// Text in a fenced code block long enough not to be closed by the text itself.
fn fenced(text: &str) -> String {
    let mut fence = "```".to_string();
    while text.contains(&fence) {
        fence.push('`');
    }
    let body = text.trim_end_matches('\n');
    format!("{fence}text\n{body}\n{fence}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
