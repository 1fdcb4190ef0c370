/*!
Validating `[vars]` and `[actors]`.
*/

use std::collections::BTreeMap;

use miette::SourceSpan;

use super::ok;
use super::target::ok_or_guess;
use crate::diagnostic::Problem;
use crate::scenario::model::ActorKind;
use crate::scenario::raw::{self, RawValue, span};
use crate::scenario::{values, vocab};

pub(super) fn vars(v: &RawValue<'_>, problems: &mut Vec<Problem>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(t) = ok(problems, raw::expect_table("vars", v)) else {
        return out;
    };
    for (k, val) in t.iter() {
        let key: &str = k.get_ref();
        if !crate::scenario::values::is_name(key, true) {
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
        if crate::scenario::steps::BUILTIN_VARS.contains(&key) {
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

pub(super) fn actors(
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
