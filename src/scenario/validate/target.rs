/*!
Validating `[target]`: its keys, `protocol`, `port` and `role`, and its one source
(`builtin`, `command` or `address`).
*/

use std::collections::BTreeMap;

use miette::SourceSpan;

use super::{TARGET_KEYS, TOP_KEYS, ok};
use crate::builtin;
use crate::diagnostic::Problem;
use crate::scenario::model::{Protocol, Role, TargetSource, TargetSpec};
use crate::scenario::raw::{self, RawTable, RawValue, span};
use crate::scenario::suggest::{did_you_mean, one_of};
use crate::scenario::values;

/// `[target]` (the value `v`, if any); `has_steps`: whether the file has its `steps`
/// at the top level.
pub(super) fn target(
    src: &str,
    has_steps: bool,
    v: Option<&RawValue<'_>>,
    vars: &BTreeMap<String, String>,
    problems: &mut Vec<Problem>,
) -> TargetSpec {
    let mut spec = TargetSpec::default();
    let Some(v) = v else { return spec };
    let Some(t) = ok(problems, raw::expect_table("target", v)) else {
        return spec;
    };
    spec.span = Some(span(v));
    check_target_keys(t, has_steps, problems);
    protocol_port_role(t, &mut spec, problems);
    let first = source(src, t, &mut spec, vars, problems);
    check_client_startable(&spec, first, problems);
    spec
}

/// Every key that `[target]` does not have is a problem.
fn check_target_keys(t: &RawTable<'_>, has_steps: bool, problems: &mut Vec<Problem>) {
    for (k, val) in t.iter() {
        let key: &str = k.get_ref();
        if TARGET_KEYS.contains(&key) || (key == "steps" && !has_steps) {
            // A `steps` that fell into [target] is reported as the missing steps.
            continue;
        }
        let help = if key == "steps" {
            "TOML puts every key after `[target]` into the target: move `steps = [ … ]` above `[target]`".to_string()
        } else if TOP_KEYS.contains(&key) {
            format!("`{key}` is a top-level key: move it above `[target]`")
        } else {
            did_you_mean(key, TARGET_KEYS.iter().copied())
                .unwrap_or_else(|| format!("[target] takes {}", one_of(TARGET_KEYS)))
        };
        let _ = val;
        problems.push(
            Problem::new(
                span(k),
                format!("unknown key `{key}` in [target]"),
                "unknown key",
            )
            .help(help),
        );
    }
}

/// `protocol`, `port` and `role`. A misspelt value is reported, then taken as its
/// likely meaning, so the rest of the file is checked against what the author meant.
fn protocol_port_role(t: &RawTable<'_>, spec: &mut TargetSpec, problems: &mut Vec<Problem>) {
    if let Some(p) = t.get("protocol")
        && let Some(s) = ok_or_guess(
            problems,
            values::one_of_words_guess("protocol", p, &["tcp", "udp"]),
        )
    {
        spec.protocol = if s == "udp" {
            Protocol::Udp
        } else {
            Protocol::Tcp
        };
    }
    if let Some(p) = t.get("port")
        && let Some(n) = ok(problems, raw::expect_int_in("port", p, 1, 65535))
    {
        spec.port = Some(n as u16);
    }
    if let Some(r) = t.get("role")
        && let Some(s) = ok_or_guess(
            problems,
            values::one_of_words_guess("role", r, &["server", "client"]),
        )
    {
        spec.role = if s == "client" {
            Role::Client
        } else {
            Role::Server
        };
    }
}

/// The target's source: at most one of `builtin`, `command` and `address`. Returns the
/// first one written, and where.
fn source<'t>(
    src: &str,
    t: &'t RawTable<'_>,
    spec: &mut TargetSpec,
    vars: &BTreeMap<String, String>,
    problems: &mut Vec<Problem>,
) -> Option<(&'t str, SourceSpan)> {
    let mut first: Option<(&str, SourceSpan)> = None;
    for (k, val) in t.iter() {
        let key: &str = k.get_ref();
        if !matches!(key, "builtin" | "command" | "address") {
            continue;
        }
        if let Some((f, _)) = first {
            problems.push(
                Problem::new(
                    span(k),
                    format!("[target] has two sources, `{f}` and `{key}`"),
                    "second source",
                )
                .help("the target is ONE program: keep `builtin`, `command` or `address`, not several (the CLI's --target-cmd/--target-addr override it)"),
            );
            continue;
        }
        first = Some((key, span(k)));
        let Some(s) = ok(problems, raw::expect_str(key, val)) else {
            continue;
        };
        match key {
            "builtin" => {
                if builtin::find(s, spec.protocol).is_some() {
                    spec.source = TargetSource::Builtin(s.to_string());
                } else {
                    problems.push(unknown_builtin(s, val, spec.protocol));
                }
            }
            "command" => {
                let client = spec.role == crate::scenario::model::Role::Client;
                if let Some(command) = command(src, s, val, vars, client, problems) {
                    spec.source = command;
                }
            }
            _ => match values::host_port(s) {
                Ok(()) => spec.source = TargetSource::Address(s.to_string()),
                Err(why) => problems.push(
                    Problem::new(
                        span(val),
                        format!("`address = \"{s}\"`: {why}"),
                        "bad address",
                    )
                    .help("write where the program already runs, like \"127.0.0.1:12000\""),
                ),
            },
        }
    }
    first
}

/// A `command` source (`s`, the value `val`): not empty, a valid template whose
/// placeholders are `port`, `scenario.dir` or `[vars]`, and for a client target (started
/// by a step, after its listeners) a scripted listener's `NAME.port` too.
fn command(
    src: &str,
    s: &str,
    val: &RawValue<'_>,
    vars: &BTreeMap<String, String>,
    client: bool,
    problems: &mut Vec<Problem>,
) -> Option<TargetSource> {
    if s.trim().is_empty() {
        problems.push(Problem::new(span(val), "`command` is empty", "empty").help(
            "write the command that starts the program, like \"python3 server.py {{port}}\"",
        ));
        return None;
    }
    match values::template(src, "command", val, s) {
        Ok(tpl) => {
            for ph in values::placeholders(s) {
                let listener_port = client && ph.name.ends_with(".port");
                if !matches!(ph.name.as_str(), "port" | "scenario.dir")
                    && !vars.contains_key(&ph.name)
                    && !listener_port
                {
                    problems.push(
                        Problem::new(
                            raw::string_span(src, val, ph.at, ph.len),
                            format!(
                                "`{{{{{}}}}}` is never defined for the target's command",
                                ph.name
                            ),
                            "unknown variable",
                        )
                        .help("the command can use `{{port}}` (the port handed to it), `{{scenario.dir}}` (the scenario file's directory) and [vars]"),
                    );
                }
            }
            let _ = tpl;
            Some(TargetSource::Command(s.to_string()))
        }
        Err(p) => {
            problems.push(p);
            None
        }
    }
}

/// A client target is a program netdrill starts: its source (`first`) must be a
/// `command`, or none.
fn check_client_startable(
    spec: &TargetSpec,
    first: Option<(&str, SourceSpan)>,
    problems: &mut Vec<Problem>,
) {
    if spec.role == Role::Client
        && let Some((key, sp)) = first.filter(|(k, _)| *k != "command")
    {
        problems.push(
            Problem::new(
                sp,
                format!(
                    "`role = \"client\"` with `{key}`: a client target is a program netdrill starts"
                ),
                "not startable",
            )
            .help(
                "give it a `command` (or none, and pass --target-cmd), or use `role = \"server\"`",
            ),
        );
    }
}

fn unknown_builtin(name: &str, v: &RawValue<'_>, protocol: Protocol) -> Problem {
    let same: Vec<&str> = builtin::CATALOG
        .iter()
        .filter(|b| b.protocol == protocol)
        .map(|b| b.name)
        .collect();
    let proto = if protocol == Protocol::Udp {
        "UDP"
    } else {
        "TCP"
    };
    if let Some(other) = builtin::CATALOG
        .iter()
        .find(|b| b.name == name && b.protocol != protocol)
    {
        let want = if other.protocol == Protocol::Udp {
            "udp"
        } else {
            "tcp"
        };
        return Problem::new(
            span(v),
            format!("the built-in `{name}` is not a {proto} server"),
            format!("not {proto}"),
        )
        .help(format!(
            "set `protocol = \"{want}\"` in [target], or pick one of the {proto} servers: {}",
            one_of(&same)
        ));
    }
    let mut help = match did_you_mean(name, same.iter().copied()) {
        Some(d) => format!("{d} "),
        None => String::new(),
    };
    help.push_str(&format!(
        "The {proto} built-ins are {} (see `netdrill serve --list`)",
        one_of(&same)
    ));
    Problem::new(
        span(v),
        format!("there is no built-in {proto} server called `{name}`"),
        "unknown built-in",
    )
    .help(help)
}

/// `ok`, but after a problem, the closest word when there is one.
pub(super) fn ok_or_guess<'w>(
    problems: &mut Vec<Problem>,
    r: Result<&'w str, (Problem, Option<&'w str>)>,
) -> Option<&'w str> {
    match r {
        Ok(w) => Some(w),
        Err((p, guess)) => {
            problems.push(p);
            guess
        }
    }
}
