//! The console examples of the README and `docs/` are run, and their output compared
//! with what the docs show, so the docs cannot drift from the program.
//!
//! A ```` ```console ```` block is a list of `$ command` lines, each followed by its
//! output. Every block whose commands are `netdrill run`, `netdrill check` or
//! `netdrill serve --list` is run from the repository root with this build's `netdrill`
//! first on `PATH`; a block that needs more (a server left running, a class to grade,
//! a cluster) says so with `<!-- doc-test: skip: why -->` on the line before it. A block
//! neither runnable nor marked fails the test, so a new example is never silently left
//! out. Durations (`(12 ms)`) are compared as `(… ms)`.
//!
//! After a change that is meant to alter an example's output, `DOCS_BLESS=1 cargo test
//! --test it docs` writes what the commands print into the docs; review the diff.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One console block: where it is, whether it is marked skip, its commands.
struct Block {
    place: String,
    skip: bool,
    commands: Vec<Shown>,
}

/// A command of a block, what the docs show it prints, and the lines that shows it on
/// (0-based, end excluded).
struct Shown {
    cmd: String,
    output: String,
    lines: std::ops::Range<usize>,
}

fn blocks(file: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "```console" {
            i += 1;
            continue;
        }
        let skip = i > 0 && lines[i - 1].trim_start().starts_with("<!-- doc-test: skip");
        let place = format!("{}:{}", file.display(), i + 1);
        let mut commands: Vec<Shown> = Vec::new();
        i += 1;
        while i < lines.len() && lines[i].trim() != "```" {
            if let Some(cmd) = lines[i].strip_prefix("$ ") {
                commands.push(Shown {
                    cmd: cmd.to_string(),
                    output: String::new(),
                    lines: i + 1..i + 1,
                });
            } else if let Some(shown) = commands.last_mut() {
                shown.output.push_str(lines[i]);
                shown.output.push('\n');
                shown.lines.end = i + 1;
            }
            i += 1;
        }
        out.push(Block {
            place,
            skip,
            commands,
        });
    }
    out
}

fn runnable(cmd: &str) -> bool {
    (cmd.starts_with("netdrill run ") || cmd.starts_with("netdrill check "))
        && !cmd.contains("--target-addr")
        || cmd == "netdrill serve --list"
}

fn normalize(text: &str) -> String {
    let times = regex::Regex::new(r"\(\d+ ms\)").unwrap();
    let text = times.replace_all(text, "(… ms)");
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

fn run(cmd: &str) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_netdrill")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{cmd} 2>&1"))
        .current_dir(repo())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env_remove("CI")
        .stdin(Stdio::null())
        .output()
        .expect("sh runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_console_example_prints_what_the_docs_show() {
    let mut files = vec![repo().join("README.md")];
    for e in std::fs::read_dir(repo().join("docs")).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "md") {
            files.push(e.path());
        }
    }
    files.sort();
    let bless = std::env::var_os("DOCS_BLESS").is_some();
    let mut problems = Vec::new();
    let mut ran = 0;
    for file in &files {
        let mut rewrites: Vec<(std::ops::Range<usize>, String)> = Vec::new();
        for block in blocks(file) {
            if block.skip {
                continue;
            }
            if block.commands.is_empty() || !block.commands.iter().all(|c| runnable(&c.cmd)) {
                problems.push(format!(
                    "{}: not runnable here; mark it `<!-- doc-test: skip: why -->`",
                    block.place
                ));
                continue;
            }
            for shown in &block.commands {
                ran += 1;
                let got = run(&shown.cmd);
                if normalize(&got) == normalize(&shown.output) {
                    continue;
                }
                if bless {
                    rewrites.push((shown.lines.clone(), got.trim_end().to_string()));
                    continue;
                }
                problems.push(format!(
                    "{}: `{}` printed\n{}\n--- but the docs show ---\n{}",
                    block.place,
                    shown.cmd,
                    normalize(&got),
                    normalize(&shown.output)
                ));
            }
        }
        if !rewrites.is_empty() {
            let text = std::fs::read_to_string(file).unwrap();
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            for (range, output) in rewrites.into_iter().rev() {
                lines.splice(range, output.lines().map(str::to_string));
            }
            std::fs::write(file, lines.join("\n") + "\n").unwrap();
        }
    }
    assert!(ran > 0, "no console example was run");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
