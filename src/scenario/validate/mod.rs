/*!
Validating a parsed scenario: from the raw spanned tree to the typed [`Scenario`].

[`validate`] walks the tree once, collecting EVERY problem (it never stops at the first):
the top-level keys, `[target]`, `[actors]`, `[vars]`, `[link]`, then the steps (see
`steps.rs`). It returns the scenario only when there is no problem at all.
*/

use std::path::Path;
use std::sync::Arc;

use miette::SourceSpan;

use super::model::*;
use super::raw::{self, RawTable, RawValue, range_span, span};
use super::steps::{Checker, Env, Scope};
use super::suggest::{did_you_mean, one_of};
use super::vocab;
use crate::diagnostic::Problem;

mod explore;
mod link;
mod tables;
mod target;

use link::link;
use tables::{actors, vars};
use target::target;

/// Every top-level key.
pub const TOP_KEYS: &[&str] = &[
    "name", "about", "tags", "timeout", "steps", "target", "actors", "vars", "link", "explore",
];

/// Every `[target]` key.
pub const TARGET_KEYS: &[&str] = &["builtin", "command", "address", "protocol", "port", "role"];

/// Every `[link]` key.
pub const LINK_KEYS: &[&str] = &["seed", "to_target", "from_target"];

/// Every key of a `[link]` direction.
pub const LINK_DIRECTION_KEYS: &[&str] = &[
    "drop",
    "loss",
    "duplicate",
    "reorder",
    "delay",
    "jitter",
    "slice",
    "seed",
];

/// Validates the parsed document `root` of the file `path` whose text is `src`.
pub fn validate(src: &str, path: &Path, root: &RawTable<'_>) -> Result<Scenario, Vec<Problem>> {
    let mut problems = Vec::new();
    let get = |k: &str| root.get(k);

    check_top_keys(root, &mut problems);
    let name = name(path, get("name"), &mut problems);
    let about = get("about")
        .and_then(|v| ok(&mut problems, raw::expect_str("about", v)))
        .map(str::to_string);
    let tags = get("tags")
        .map(|v| tags(v, &mut problems))
        .unwrap_or_default();
    let timeout = get("timeout")
        .and_then(|v| ok(&mut problems, raw::expect_duration("timeout", v, false)))
        .unwrap_or(DEFAULT_TIMEOUT);

    let mut vars = get("vars")
        .map(|v| vars(v, &mut problems))
        .unwrap_or_default();
    let explore = get("explore").map(|v| explore::explore(v, &mut vars, &mut problems));
    let target = target(
        src,
        get("steps").is_some(),
        get("target"),
        &vars,
        &mut problems,
    );
    let declared = get("actors")
        .map(|v| actors(v, &mut problems))
        .unwrap_or_default();
    let link = get("link")
        .map(|v| link(v, target.protocol, &mut problems))
        .unwrap_or_default();
    if let (Some(e), Some(v)) = (&explore, get("explore")) {
        explore::check_fits(e, v, target.protocol, &mut problems);
    }

    let mut checker = Checker::new(Env {
        src,
        protocol: target.protocol,
        role: target.role,
        declared: &declared,
        vars: &vars,
        steps: get("steps"),
    });
    let steps = match get("steps") {
        Some(v) => {
            let mut scope = Scope::start(&vars);
            checker.steps(v, &mut scope)
        }
        None => {
            problems.push(missing_steps(src, root));
            Vec::new()
        }
    };
    problems.append(&mut checker.problems);

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Scenario {
        name,
        about,
        tags,
        timeout,
        path: path.to_path_buf(),
        source: Arc::from(src),
        target,
        actors: checker.actors,
        vars,
        link,
        steps,
        explore,
    })
}

/// Every top-level key that a scenario does not have is a problem; an action or a
/// modifier belongs inside a step.
fn check_top_keys(root: &RawTable<'_>, problems: &mut Vec<Problem>) {
    for (k, _) in root.iter() {
        let key: &str = k.get_ref();
        if !TOP_KEYS.contains(&key) {
            let help = if vocab::action(key).is_some() || vocab::modifier(key).is_some() {
                format!("`{key}` belongs inside a step: `steps = [ {{ {key} = … }} ]`")
            } else {
                did_you_mean(key, TOP_KEYS.iter().copied())
                    .unwrap_or_else(|| format!("the top-level keys are {}", one_of(TOP_KEYS)))
            };
            problems.push(
                Problem::new(
                    span(k),
                    format!("unknown top-level key `{key}`"),
                    "unknown key",
                )
                .help(help),
            );
        }
    }
}

/// `name` (the value `v`), or the file's name without its extension.
fn name(path: &Path, v: Option<&RawValue<'_>>, problems: &mut Vec<Problem>) -> String {
    match v {
        Some(v) => ok(problems, raw::expect_str("name", v)).map(str::to_string),
        None => None,
    }
    .unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}

/// `tags` (the value `v`): an array of strings.
fn tags(v: &RawValue<'_>, problems: &mut Vec<Problem>) -> Vec<String> {
    let mut tags = Vec::new();
    if let Some(arr) = ok(problems, raw::expect_array("tags", v)) {
        for t in arr.iter() {
            if let Some(s) = ok(problems, raw::expect_str("tags", t)) {
                tags.push(s.to_string());
            }
        }
    }
    tags
}

pub(super) fn ok<T>(problems: &mut Vec<Problem>, r: Result<T, Problem>) -> Option<T> {
    r.map_err(|p| problems.push(p)).ok()
}

/// The problem for a file without `steps`; points at a `steps` key that ended up
/// inside a table when there is one.
fn missing_steps(src: &str, root: &RawTable<'_>) -> Problem {
    for (k, v) in root.iter() {
        if let Some(t) = v.get_ref().as_table()
            && let Some((sk, _)) = t.get_key_value("steps")
        {
            return Problem::new(
                    span(sk),
                    format!("`steps` is inside [{}], so the scenario has no steps", k.get_ref()),
                    "belongs to the table above",
                )
                .help("TOML puts every key after a `[table]` header into that table: move `steps = [ … ]` above the first `[table]`");
        }
    }
    let first_line = src.find('\n').unwrap_or(src.len());
    Problem::new(
        SourceSpan::new(0.into(), first_line),
        "the scenario has no `steps`",
        "no steps in this file",
    )
    .help("add `steps = [ { connect = \"target\" }, … ]` above the first `[table]`")
}

/// Converts TOML syntax errors to problems.
pub fn syntax_problems(src: &str, errors: &[toml::de::Error]) -> Vec<Problem> {
    errors
        .iter()
        .map(|e| {
            let r = e.span().unwrap_or(0..0);
            let r = r.start.min(src.len())..r.end.min(src.len());
            let msg = e.message().trim().to_string();
            let help = syntax_help(&msg);
            Problem::new(range_span(r), format!("TOML syntax error: {msg}"), "here")
                .maybe_help(help)
        })
        .collect()
}

fn syntax_help(msg: &str) -> Option<String> {
    let m = msg.to_ascii_lowercase();
    Some(if m.contains("duplicate key") {
        "each key may appear once per table (and once per step)".to_string()
    } else if m.contains("basic string") || m.contains("literal string") {
        "close the string with the same quote that opened it; inside \"…\" write a quote as \\\""
            .to_string()
    } else if m.contains("table") && m.contains("expected `]`") {
        "a table header is `[name]` on its own line".to_string()
    } else if m.contains("inline table") || m.contains("expected `}`") {
        "a step is `{ key = value, key = value }`, with commas between the entries".to_string()
    } else if m.contains("expected `=`") || m.contains("key") {
        "write `key = value`; quote a value that is text: `send = \"hi\"`".to_string()
    } else {
        return None;
    })
}
