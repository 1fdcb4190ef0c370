/*!
A case as an ordinary scenario file: the original file's tables with the drawn values
in `[vars]`, explicit `chunks` and `pause` on each split send, coalesced sends merged,
the steps in a `parallel` block for concurrent copies, the loss and seed in `[link]`,
and no `[explore]`. What explore runs is exactly what it saves.
*/

use std::fmt::Write as _;

use toml::{Table, Value};

use super::case::{Case, Plan, chunk_sizes};
use crate::action::Action;
use crate::scenario::Scenario;

/// The scenario's file as a TOML table, parsed once for every case built from it.
pub fn base(sc: &Scenario) -> Result<Table, String> {
    toml::from_str(&sc.source).map_err(|e| e.to_string())
}

/// The scenario file of `case` (`base` is [`base`]), with `header` as its opening
/// comment.
pub fn scenario_text(
    sc: &Scenario,
    base: &Table,
    plan: &Plan,
    case: &Case,
    header: &str,
) -> Result<String, String> {
    let mut doc = base.clone();
    doc.remove("explore");
    let mut vars = match doc.remove("vars") {
        Some(Value::Table(t)) => t,
        _ => Table::new(),
    };
    for (name, value) in &case.vars {
        let v = match value.parse::<i64>() {
            Ok(n) if n.to_string() == *value => Value::Integer(n),
            _ => Value::String(value.clone()),
        };
        vars.insert(name.clone(), v);
    }
    let values: std::collections::BTreeMap<String, String> = sc
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .chain(case.vars.iter().cloned())
        .collect();
    let steps = match doc.remove("steps") {
        Some(Value::Array(a)) => a,
        _ => return Err("the scenario has no steps array".into()),
    };
    let steps = shape_steps(sc, plan, case, steps, &values);
    if case.loss_permille > 0 {
        let link = doc
            .entry("link")
            .or_insert_with(|| Value::Table(Table::new()));
        if let Value::Table(link) = link {
            link.insert("seed".into(), Value::Integer(case.seed as i64));
            let loss = case.loss_permille as f64 / 1000.0;
            for dir in ["to_target", "from_target"] {
                let d = link
                    .entry(dir)
                    .or_insert_with(|| Value::Table(Table::new()));
                if let Value::Table(d) = d {
                    d.insert("loss".into(), Value::Float(loss));
                }
            }
        }
    }
    // Top-level keys first (TOML puts every key after a [table] into it), then the
    // steps, one inline table a line, then the tables.
    let (scalars, tables): (Table, Table) = doc.into_iter().partition(|(_, v)| !v.is_table());
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {line}");
    }
    out.push_str(&toml::to_string(&scalars).map_err(|e| e.to_string())?);
    out.push_str("steps = [\n");
    for s in &steps {
        let _ = writeln!(out, "  {},", inline(s));
    }
    out.push_str("]\n");
    let mut tables = tables;
    if !vars.is_empty() {
        tables.insert("vars".into(), Value::Table(vars));
    }
    if !tables.is_empty() {
        out.push('\n');
        out.push_str(&toml::to_string(&tables).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// A value as inline TOML, on one line: strings with escapes (never multi-line), and an
/// actor's table as dotted keys (`{ c.send = "hi\n" }`), as people write steps.
fn inline(v: &Value) -> String {
    match v {
        Value::String(s) => basic_string(s),
        Value::Array(a) => format!("[{}]", a.iter().map(inline).collect::<Vec<_>>().join(", ")),
        Value::Table(t) => {
            let mut parts = Vec::new();
            for (k, v) in t {
                match v {
                    Value::Table(inner) if !inner.is_empty() => {
                        for (ik, iv) in inner {
                            parts.push(format!("{}.{} = {}", key(k), key(ik), inline(iv)));
                        }
                    }
                    _ => parts.push(format!("{} = {}", key(k), inline(v))),
                }
            }
            if parts.is_empty() {
                "{}".into()
            } else {
                format!("{{ {} }}", parts.join(", "))
            }
        }
        other => other.to_string(),
    }
}

/// A key, bare when it can be.
fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        basic_string(k)
    }
}

/// A TOML basic string on one line: quotes, backslashes and every control character
/// (U+0000 to U+001F, and U+007F, which TOML also forbids raw) escaped.
fn basic_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The steps of the case: coalesced, split, and in a `parallel` block when it asks for
/// more than one client.
fn shape_steps(
    sc: &Scenario,
    plan: &Plan,
    case: &Case,
    mut steps: Vec<Value>,
    values: &std::collections::BTreeMap<String, String>,
) -> Vec<Value> {
    // Merge coalesced pairs, last first so that indices stay valid; a merged send takes
    // its first half's split.
    let mut removed = vec![false; steps.len()];
    for (k, &pair) in plan.pairs.iter().enumerate().rev() {
        if !case.coalesce.get(k).copied().unwrap_or(false) {
            continue;
        }
        let (i, j) = (plan.sends[pair], plan.sends[pair + 1]);
        if removed[i] || removed[j] {
            continue;
        }
        let second = send_text(&steps[j]);
        if let (Some(second), Some(first)) = (second, send_slot(&mut steps[i])) {
            if let Value::String(s) = first {
                s.push_str(&second);
            }
            removed[j] = true;
        }
    }
    for (n, &i) in plan.sends.iter().enumerate() {
        let Some(split) = case.splits.get(n) else {
            continue;
        };
        if removed[i] || split.pieces <= 1 {
            continue;
        }
        let len = match send_text(&steps[i]) {
            Some(text) => match rendered_len(&text, sc, i, values) {
                Some(n) => n,
                None => continue,
            },
            None => continue,
        };
        let sizes = chunk_sizes(len, split);
        if sizes.len() <= 1 {
            continue;
        }
        if let Value::Table(t) = &mut steps[i] {
            t.insert(
                "chunks".into(),
                Value::Array(sizes.iter().map(|&s| Value::Integer(s as i64)).collect()),
            );
            if split.pause_ms > 0 {
                t.insert(
                    "pause".into(),
                    Value::String(format!("{}ms", split.pause_ms)),
                );
            }
        }
    }
    let kept: Vec<Value> = steps
        .into_iter()
        .zip(removed)
        .filter(|(_, gone)| !gone)
        .map(|(s, _)| s)
        .collect();
    if case.clients <= 1 {
        return kept;
    }
    let mut block = Table::new();
    block.insert("parallel".into(), Value::Integer(case.clients as i64));
    block.insert("steps".into(), Value::Array(kept));
    vec![Value::Table(block)]
}

/// The byte length of a send's text once rendered with the case's values (`None` when
/// it uses a value captured at run time).
fn rendered_len(
    text: &str,
    sc: &Scenario,
    step: usize,
    values: &std::collections::BTreeMap<String, String>,
) -> Option<usize> {
    let hex = matches!(
        sc.steps.get(step).map(|s| &s.action),
        Some(Action::Send(s)) if s.data.is_hex()
    );
    let t = crate::scenario::Template::parse(text).ok()?;
    let rendered = t.render(|name| values.get(name).map(|v| v.as_str())).ok()?;
    if hex {
        Some(rendered.split_whitespace().collect::<String>().len() / 2)
    } else {
        Some(rendered.len())
    }
}

/// The value of a step's `send` / `send_hex` (bare or under an actor's dotted key).
fn send_text(step: &Value) -> Option<String> {
    let mut s = step.clone();
    match send_slot(&mut s)? {
        Value::String(v) => Some(v.clone()),
        _ => None,
    }
}

/// A mutable reference to a step's `send` / `send_hex` value.
fn send_slot(step: &mut Value) -> Option<&mut Value> {
    let t = step.as_table_mut()?;
    let key = t
        .iter()
        .find(|(k, v)| {
            matches!(k.as_str(), "send" | "send_hex")
                || v.as_table().is_some_and(|inner| {
                    inner.contains_key("send") || inner.contains_key("send_hex")
                })
        })
        .map(|(k, _)| k.clone())?;
    if key == "send" || key == "send_hex" {
        return t.get_mut(&key);
    }
    let inner = t.get_mut(&key)?.as_table_mut()?;
    if inner.contains_key("send") {
        inner.get_mut("send")
    } else {
        inner.get_mut("send_hex")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_strings_read_back_as_written() {
        let nasty: String = (0u8..0x80)
            .map(char::from)
            .chain("é€\"\\".chars())
            .collect();
        let doc = format!("k = {}", basic_string(&nasty));
        let t: Table = toml::from_str(&doc).expect("valid TOML");
        assert_eq!(t["k"].as_str(), Some(nasty.as_str()));
    }
}
