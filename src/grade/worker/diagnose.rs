/*!
Why a test failed, in words a student understands: setup mistakes (exited at start,
wrong port, never ready), the rubric's limits and crashes, before the engine's own
message.
*/

use crate::grade::model::Limits;

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
