/*!
Validating `[explore]`: what `netdrill explore` may vary. `run` ignores the table but for
the `default` of each `[explore.vars]` variable, which becomes an ordinary variable.
*/

use std::collections::BTreeMap;
use std::time::Duration;

use super::ok;
use crate::diagnostic::Problem;
use crate::scenario::model::{ExploreSpec, Protocol, VarGen};
use crate::scenario::raw::{self, DeValue, RawValue, span};
use crate::scenario::suggest::{did_you_mean, one_of};

/// Every `[explore]` key.
pub const EXPLORE_KEYS: &[&str] = &[
    "chunking",
    "pause_max",
    "coalesce",
    "clients",
    "loss",
    "vars",
];

/// Every key of an `[explore.vars]` variable.
pub const EXPLORE_VAR_KEYS: &[&str] = &["regex", "int", "bytes", "default"];

/// The most concurrent copies a case may ask for.
pub const MAX_CLIENTS: i64 = 256;

/// The longest string or byte string a generator may draw.
pub const MAX_LEN: i64 = 1 << 20;

/// The default `pause_max`.
pub const DEFAULT_PAUSE_MAX: Duration = Duration::from_millis(20);

/// Parses `[explore]`; each variable's `default` is added to `vars`.
pub(super) fn explore(
    v: &RawValue<'_>,
    vars: &mut BTreeMap<String, String>,
    problems: &mut Vec<Problem>,
) -> ExploreSpec {
    let mut spec = ExploreSpec {
        pause_max: DEFAULT_PAUSE_MAX,
        ..ExploreSpec::default()
    };
    let Some(t) = ok(problems, raw::expect_table("explore", v)) else {
        return spec;
    };
    for (k, val) in t.iter() {
        let key: &str = k.get_ref();
        match key {
            "chunking" => spec.chunking = flag(key, val, problems),
            "coalesce" => spec.coalesce = flag(key, val, problems),
            "pause_max" => {
                if let Some(d) = ok(problems, raw::expect_duration(key, val, true)) {
                    spec.pause_max = d;
                }
            }
            "clients" => {
                spec.clients = ok(problems, range(key, val, 1, MAX_CLIENTS))
                    .map(|(a, b)| (a as usize, b as usize));
            }
            "loss" => spec.loss = ok(problems, loss(val)),
            "vars" => spec.vars = explore_vars(val, vars, problems),
            _ => problems.push(
                Problem::new(
                    span(k),
                    format!("unknown [explore] key `{key}`"),
                    "unknown key",
                )
                .help(
                    did_you_mean(key, EXPLORE_KEYS.iter().copied())
                        .unwrap_or_else(|| format!("[explore] takes {}", one_of(EXPLORE_KEYS))),
                ),
            ),
        }
    }
    spec
}

/// What `[explore]` asks that the scenario cannot give: loss on a TCP target.
pub(super) fn check_fits(
    spec: &ExploreSpec,
    v: &RawValue<'_>,
    protocol: Protocol,
    problems: &mut Vec<Problem>,
) {
    let Some(t) = v.get_ref().as_table() else {
        return;
    };
    if spec.loss.is_some()
        && protocol == Protocol::Tcp
        && let Some((k, _)) = t.iter().find(|(k, _)| *k.get_ref() == "loss")
    {
        problems.push(
            Problem::new(
                span(k),
                "`loss` drops UDP datagrams, and this scenario's target speaks TCP".to_string(),
                "TCP loses nothing",
            )
            .help("remove `loss`, or set `[target] protocol = \"udp\"` for a UDP target"),
        );
    }
}

fn flag(key: &str, v: &RawValue<'_>, problems: &mut Vec<Problem>) -> bool {
    match v.get_ref() {
        DeValue::Boolean(b) => *b,
        _ => {
            problems.push(raw::wrong_type(key, v, "true or false", "true"));
            false
        }
    }
}

/// `[min, max]` of integers within `lo..=hi`, min ≤ max.
fn range(key: &str, v: &RawValue<'_>, lo: i64, hi: i64) -> Result<(i64, i64), Problem> {
    let arr = raw::expect_array(key, v)?;
    let items: Vec<&RawValue<'_>> = arr.iter().collect();
    let [a, b] = items.as_slice() else {
        return Err(Problem::new(
            span(v),
            format!("`{key}` is a range: two integers, `[min, max]`"),
            "not [min, max]",
        )
        .help(format!("write it like `{key} = [{lo}, {}]`", hi.min(16))));
    };
    let a = raw::expect_int_in(key, a, lo, hi)?;
    let b = raw::expect_int_in(key, b, lo, hi)?;
    if a > b {
        return Err(Problem::new(
            span(v),
            format!("`{key} = [{a}, {b}]`: the minimum is above the maximum"),
            "min > max",
        )
        .help(format!("write `{key} = [{b}, {a}]`")));
    }
    Ok((a, b))
}

/// `loss = [min, max]` of probabilities.
fn loss(v: &RawValue<'_>) -> Result<(f64, f64), Problem> {
    let arr = raw::expect_array("loss", v)?;
    let items: Vec<&RawValue<'_>> = arr.iter().collect();
    let [a, b] = items.as_slice() else {
        return Err(Problem::new(
            span(v),
            "`loss` is a range of probabilities: `[min, max]`".to_string(),
            "not [min, max]",
        )
        .help("write it like `loss = [0.0, 0.3]`"));
    };
    let (a, b) = (
        raw::expect_probability("loss", a)?,
        raw::expect_probability("loss", b)?,
    );
    if a > b {
        return Err(Problem::new(
            span(v),
            "`loss`: the minimum is above the maximum".to_string(),
            "min > max",
        ));
    }
    Ok((a, b))
}

fn explore_vars(
    v: &RawValue<'_>,
    vars: &mut BTreeMap<String, String>,
    problems: &mut Vec<Problem>,
) -> Vec<(String, VarGen)> {
    let mut out = Vec::new();
    let Some(t) = ok(problems, raw::expect_table("explore.vars", v)) else {
        return out;
    };
    for (k, val) in t.iter() {
        let name: &str = k.get_ref();
        if !crate::scenario::values::is_name(name, true) {
            problems.push(Problem::new(
                span(k),
                format!("`{name}` cannot be a variable name"),
                "bad name",
            ));
            continue;
        }
        if vars.contains_key(name) {
            problems.push(
                Problem::new(
                    span(k),
                    format!("`{name}` is in [vars] and in [explore.vars]"),
                    "defined twice",
                )
                .help("keep one: [explore.vars] gives `run` its `default`"),
            );
            continue;
        }
        if let Some((generator, default)) = var(name, val, problems) {
            vars.insert(name.to_string(), default);
            out.push((name.to_string(), generator));
        }
    }
    out
}

/// One variable: its generator and its default.
fn var(name: &str, v: &RawValue<'_>, problems: &mut Vec<Problem>) -> Option<(VarGen, String)> {
    let key = format!("explore.vars.{name}");
    let t = ok(problems, raw::expect_table(&key, v))?;
    let mut generator = None;
    let mut default = None;
    for (k, val) in t.iter() {
        let word: &str = k.get_ref();
        let parsed = match word {
            "regex" => raw::expect_str(word, val)
                .and_then(|re| regex(re, val))
                .map(Some),
            "int" => {
                range(word, val, i64::MIN / 2, i64::MAX / 2).map(|(a, b)| Some(VarGen::Int(a, b)))
            }
            "bytes" => range(word, val, 0, MAX_LEN)
                .map(|(a, b)| Some(VarGen::Bytes(a as usize, b as usize))),
            "default" => {
                default = match val.get_ref() {
                    DeValue::String(s) => Some(s.to_string()),
                    DeValue::Integer(_) => {
                        ok(problems, raw::expect_int(word, val)).map(|n| n.to_string())
                    }
                    _ => {
                        problems.push(raw::wrong_type(
                            word,
                            val,
                            "a string or an integer",
                            "\"hello\"",
                        ));
                        None
                    }
                };
                Ok(None)
            }
            _ => Err(Problem::new(
                span(k),
                format!("unknown key `{word}` in `{name}`"),
                "unknown key",
            )
            .help(
                did_you_mean(word, EXPLORE_VAR_KEYS.iter().copied()).unwrap_or_else(|| {
                    "a variable takes one of regex, int or bytes, and a default".to_string()
                }),
            )),
        };
        match parsed {
            Ok(Some(_)) if generator.is_some() => problems.push(
                Problem::new(
                    span(k),
                    format!("`{name}` has two generators"),
                    "a second one",
                )
                .help("give it one of regex, int or bytes"),
            ),
            Ok(Some(g)) => generator = Some(g),
            Ok(None) => {}
            Err(p) => problems.push(p),
        }
    }
    match (generator, default) {
        (Some(g), Some(d)) => Some((g, d)),
        (None, _) => {
            problems.push(
                Problem::new(
                    span(v),
                    format!("`{name}` says nothing to draw"),
                    "no generator",
                )
                .help("write e.g. `{ regex = \"[a-z]{1,80}\", default = \"hello\" }`"),
            );
            None
        }
        (Some(_), None) => {
            problems.push(
                Problem::new(span(v), format!("`{name}` has no `default`"), "no default")
                    .help("add `default = …`: the value `netdrill run` uses"),
            );
            None
        }
    }
}

/// A regex that proptest can draw strings from.
fn regex(re: &str, v: &RawValue<'_>) -> Result<VarGen, Problem> {
    match proptest::string::string_regex(re) {
        Ok(_) => Ok(VarGen::Regex(re.to_string())),
        Err(e) => Err(Problem::new(
            span(v),
            format!("cannot draw strings from this regex: {e}"),
            "not a generator",
        )
        .help("use a regex of literals, classes and repetitions, like `[a-z ]{1,80}`; anchors and look-arounds cannot be drawn")),
    }
}
