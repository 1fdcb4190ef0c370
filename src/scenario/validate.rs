/*!
Validating a parsed scenario: from the raw spanned tree to the typed [`Scenario`].

[`validate`] walks the tree once, collecting EVERY problem (it never stops at the first):
the top-level keys, `[target]`, `[actors]`, `[vars]`, `[link]`, then the steps (see
`steps.rs`). It returns the scenario only when there is no problem at all.
*/

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use miette::SourceSpan;

use super::model::*;
use super::raw::{self, RawTable, RawValue, range_span, span};
use super::steps::{Checker, Env, Scope};
use super::suggest::{did_you_mean, one_of};
use super::values;
use super::vocab;
use crate::builtin;
use crate::diagnostic::Problem;

/// Every top-level key.
pub const TOP_KEYS: &[&str] = &[
    "name", "about", "tags", "timeout", "steps", "target", "actors", "vars", "link",
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

    let name = match get("name") {
        Some(v) => ok(&mut problems, raw::expect_str("name", v)).map(str::to_string),
        None => None,
    }
    .unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let about = get("about")
        .and_then(|v| ok(&mut problems, raw::expect_str("about", v)))
        .map(str::to_string);
    let mut tags = Vec::new();
    if let Some(v) = get("tags")
        && let Some(arr) = ok(&mut problems, raw::expect_array("tags", v))
    {
        for t in arr.iter() {
            if let Some(s) = ok(&mut problems, raw::expect_str("tags", t)) {
                tags.push(s.to_string());
            }
        }
    }
    let timeout = get("timeout")
        .and_then(|v| ok(&mut problems, raw::expect_duration("timeout", v, false)))
        .unwrap_or(DEFAULT_TIMEOUT);

    let vars = get("vars")
        .map(|v| vars(v, &mut problems))
        .unwrap_or_default();
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

    let mut checker = Checker::new(Env {
        src,
        protocol: target.protocol,
        role: target.role,
        declared: &declared,
        vars: &vars,
    });
    let steps = match get("steps") {
        Some(v) => {
            checker.prescan(v);
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
    })
}

fn ok<T>(problems: &mut Vec<Problem>, r: Result<T, Problem>) -> Option<T> {
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

fn vars(v: &RawValue<'_>, problems: &mut Vec<Problem>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(t) = ok(problems, raw::expect_table("vars", v)) else {
        return out;
    };
    for (k, val) in t.iter() {
        let key: &str = k.get_ref();
        let good_name = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !good_name {
            problems.push(
                Problem::new(
                    span(k),
                    format!("`{key}` cannot be a variable name"),
                    "bad name",
                )
                .help("use letters, digits, `_`, `-` and `.`"),
            );
            continue;
        }
        if super::steps::BUILTIN_VARS.contains(&key) {
            problems.push(
                Problem::new(
                    span(k),
                    format!("`{key}` is a built-in variable"),
                    "built in",
                )
                .help("pick another name; netdrill sets this one itself"),
            );
            continue;
        }
        match val.get_ref() {
            raw::DeValue::String(s) => {
                out.insert(key.to_string(), s.to_string());
            }
            raw::DeValue::Integer(_) => {
                if let Some(n) = ok(problems, raw::expect_int(key, val)) {
                    out.insert(key.to_string(), n.to_string());
                }
            }
            other => problems.push(
                Problem::new(
                    span(val),
                    format!(
                        "[vars] `{key}` is {}; a variable is a string or an integer",
                        raw::type_name(other)
                    ),
                    "not a string",
                )
                .help(format!("write `{key} = \"…\"`")),
            ),
        }
    }
    out
}

fn target(
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

    // A misspelt value is reported, then taken as its likely meaning, so the rest of
    // the file is checked against what the author meant.
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

    // At most one source.
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
                if s.trim().is_empty() {
                    problems.push(Problem::new(span(val), "`command` is empty", "empty").help(
                        "write the command that starts the program, like \"python3 server.py {{port}}\"",
                    ));
                    continue;
                }
                match values::template(src, "command", val, s) {
                    Ok(tpl) => {
                        for ph in values::placeholders(s) {
                            if ph.name != "port" && !vars.contains_key(&ph.name) {
                                problems.push(
                                    Problem::new(
                                        raw::string_span(src, val, ph.at, ph.len),
                                        format!("`{{{{{}}}}}` is never defined for the target's command", ph.name),
                                        "unknown variable",
                                    )
                                    .help("the command can use `{{port}}` (the port handed to it) and [vars]"),
                                );
                            }
                        }
                        let _ = tpl;
                        spec.source = TargetSource::Command(s.to_string());
                    }
                    Err(p) => problems.push(p),
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
    spec
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
fn ok_or_guess<'w>(
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

fn actors(
    v: &RawValue<'_>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, (ActorKind, SourceSpan)> {
    let mut out = BTreeMap::new();
    let Some(t) = ok(problems, raw::expect_table("actors", v)) else {
        return out;
    };
    for (k, val) in t.iter() {
        let name: &str = k.get_ref();
        if vocab::action(name).is_some() || vocab::modifier(name).is_some() || name == "target" {
            problems.push(
                Problem::new(
                    span(k),
                    format!("`{name}` is a reserved word and cannot name an actor"),
                    "reserved",
                )
                .help("give the actor another name, like `alice`"),
            );
            continue;
        }
        let Some(word) = ok_or_guess(
            problems,
            values::one_of_words_guess(name, val, &["tcp", "udp", "listen", "process"]),
        ) else {
            continue;
        };
        let kind = match word {
            "tcp" => ActorKind::TcpClient,
            "udp" => ActorKind::Udp,
            "listen" => ActorKind::TcpListener,
            _ => ActorKind::Process,
        };
        out.insert(name.to_string(), (kind, span(val)));
    }
    out
}

fn link(v: &RawValue<'_>, protocol: Protocol, problems: &mut Vec<Problem>) -> LinkSpec {
    let mut spec = LinkSpec::default();
    let Some(t) = ok(problems, raw::expect_table("link", v)) else {
        return spec;
    };
    let mut link_seed = None;
    for (k, val) in t.iter() {
        let key: &str = k.get_ref();
        match key {
            "seed" => {
                link_seed =
                    ok(problems, raw::expect_int_in("seed", val, 0, i64::MAX)).map(|n| n as u64)
            }
            "to_target" => spec.to_target = direction(key, val, protocol, problems),
            "from_target" => spec.from_target = direction(key, val, protocol, problems),
            _ => {
                let help = if LINK_DIRECTION_KEYS.contains(&key) {
                    format!(
                        "`{key}` belongs to a direction: `[link.to_target]` or `[link.from_target]`"
                    )
                } else {
                    did_you_mean(key, LINK_KEYS.iter().copied())
                        .unwrap_or_else(|| format!("[link] takes {}", one_of(LINK_KEYS)))
                };
                problems.push(
                    Problem::new(
                        span(k),
                        format!("unknown key `{key}` in [link]"),
                        "unknown key",
                    )
                    .help(help),
                );
            }
        }
    }
    spec.seed = link_seed.or(spec.to_target.seed).or(spec.from_target.seed);
    spec
}

fn direction(
    name: &str,
    v: &RawValue<'_>,
    protocol: Protocol,
    problems: &mut Vec<Problem>,
) -> LinkDirection {
    let mut d = LinkDirection::default();
    let Some(t) = ok(problems, raw::expect_table(name, v)) else {
        return d;
    };
    for (k, val) in t.iter() {
        let key: &str = k.get_ref();
        if !LINK_DIRECTION_KEYS.contains(&key) {
            let help = did_you_mean(key, LINK_DIRECTION_KEYS.iter().copied())
                .unwrap_or_else(|| format!("a direction takes {}", one_of(LINK_DIRECTION_KEYS)));
            problems.push(
                Problem::new(
                    span(k),
                    format!("unknown key `{key}` in [link.{name}]"),
                    "unknown key",
                )
                .help(help),
            );
            continue;
        }
        if protocol == Protocol::Tcp
            && matches!(key, "drop" | "loss" | "duplicate" | "reorder" | "jitter")
        {
            problems.push(
                Problem::new(
                    span(k),
                    format!("TCP's link can only delay and slice; `{key}` needs UDP"),
                    "not for TCP",
                )
                .help("TCP never loses, duplicates or reorders bytes; use `delay` or `slice` here, or set `protocol = \"udp\"` in [target] for a UDP exercise"),
            );
            continue;
        }
        if protocol == Protocol::Udp && key == "slice" {
            problems.push(
                Problem::new(span(k), "`slice` cuts a TCP byte stream; UDP datagrams are never sliced", "not for UDP")
                    .help("remove `slice`; to impair datagrams use `loss`, `drop`, `duplicate`, `reorder`, `delay` or `jitter`"),
            );
            continue;
        }
        match key {
            "drop" => {
                if let Some(arr) = ok(problems, raw::expect_array("drop", val)) {
                    for x in arr.iter() {
                        if let Some(n) = ok(problems, raw::expect_int_in("drop", x, 1, i64::MAX)) {
                            d.drop.push(n as u64);
                        }
                    }
                }
            }
            "loss" => d.loss = ok(problems, raw::expect_probability(key, val)).unwrap_or(0.0),
            "duplicate" => {
                d.duplicate = ok(problems, raw::expect_probability(key, val)).unwrap_or(0.0)
            }
            "reorder" => d.reorder = ok(problems, raw::expect_probability(key, val)).unwrap_or(0.0),
            "delay" => {
                d.delay = ok(problems, raw::expect_duration(key, val, true)).unwrap_or_default()
            }
            "jitter" => {
                d.jitter = ok(problems, raw::expect_duration(key, val, true)).unwrap_or_default()
            }
            "slice" => {
                d.slice = ok(
                    problems,
                    raw::expect_int_in(key, val, 1, i64::from(u32::MAX)),
                )
                .map(|n| n as usize)
            }
            "seed" => {
                d.seed = ok(problems, raw::expect_int_in(key, val, 0, i64::MAX)).map(|n| n as u64)
            }
            _ => {}
        }
    }
    d
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
