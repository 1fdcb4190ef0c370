/*!
The shape of the source: no file in `src/` longer than [`MAX_FILE_LINES`] lines, no
function longer than [`MAX_FN_LINES`], counted from its `fn` line to its closing brace
(the first line after it that is only `}` at the same indentation).
*/

use std::path::{Path, PathBuf};

use regex::Regex;

/// The most lines a source file may have.
const MAX_FILE_LINES: usize = 600;
/// The most lines a function may have, its `fn` line and closing brace included.
const MAX_FN_LINES: usize = 100;

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            files.push(path);
        }
    }
    files
}

/// A line that starts a function: its indentation and name.
fn fn_start() -> Regex {
    Regex::new(
        r#"^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+"[^"]*"\s+)?fn\s+(\w+)"#,
    )
    .expect("a valid regex")
}

/// Every function of `text` longer than `max` lines: (1-based line, name, length).
/// A declaration without a body (ended by `;`) is no function; a function written on
/// one line is one line long.
fn long_functions(text: &str, max: usize) -> Vec<(usize, String, usize)> {
    let starts = fn_start();
    let lines: Vec<&str> = text.lines().collect();
    let mut long = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(c) = starts.captures(line) else {
            continue;
        };
        let (indent, name) = (&c[1], &c[2]);
        let length = if line.contains('{') && line.trim_end().ends_with('}') {
            Some(1)
        } else {
            function_length(&lines, i, indent)
        };
        if let Some(n) = length.filter(|&n| n > max) {
            long.push((i + 1, name.to_string(), n));
        }
    }
    long
}

/// How many lines the function starting at `lines[start]`, indented by `indent`,
/// spans; None when it has no body or its closing brace is not found.
fn function_length(lines: &[&str], start: usize, indent: &str) -> Option<usize> {
    let opened = lines[start..]
        .iter()
        .map(|l| l.trim_end())
        .find(|l| l.ends_with('{') || l.ends_with(';'))?;
    if opened.ends_with(';') {
        return None;
    }
    let closing = format!("{indent}}}");
    let end = (start + 1..lines.len()).find(|&j| lines[j].trim_end() == closing)?;
    Some(end - start + 1)
}

#[test]
fn no_file_or_function_in_src_is_too_long() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut offenders = Vec::new();
    for path in rust_files(&root.join("src")) {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let shown = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let count = text.lines().count();
        if count > MAX_FILE_LINES {
            offenders.push(format!(
                "{shown}: {count} lines (a file may have {MAX_FILE_LINES})"
            ));
        }
        for (line, name, n) in long_functions(&text, MAX_FN_LINES) {
            offenders.push(format!(
                "{shown}:{line}: fn {name} is {n} lines (a function may have {MAX_FN_LINES})"
            ));
        }
    }
    assert!(
        offenders.is_empty(),
        "{} too long in src/:\n{}",
        offenders.len(),
        offenders.join("\n")
    );
}

#[test]
fn functions_are_measured_from_fn_to_the_closing_brace_at_their_indentation() {
    let text = "\
fn short() {
    let x = 1;
}

pub(crate) async fn long(
    a: u8,
) -> u8 {
    if a > 0 {
        a
    } else {
        0
    }
}

trait T {
    fn declared(&self) -> u8;
    fn one_line(&self) -> u8 { 1 }
    unsafe extern \"C\" fn provided(&self) {
        let y = 2;
    }
}
";
    let all = long_functions(text, 0);
    let found: Vec<(usize, &str, usize)> = all
        .iter()
        .map(|(line, name, n)| (*line, name.as_str(), *n))
        .collect();
    assert_eq!(
        found,
        [
            (1, "short", 3),
            (5, "long", 9),
            (17, "one_line", 1),
            (18, "provided", 3),
        ]
    );
    assert!(
        long_functions(text, 8)
            .iter()
            .all(|(_, name, _)| name == "long")
    );
    assert!(long_functions(text, 9).is_empty());
}
