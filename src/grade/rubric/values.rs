/*!
Reading a rubric's values: sizes (`"512MiB"`), durations (`"3m"`) and points, each with
a problem that says what is wrong and how to write it.
*/

use std::time::Duration;

use super::MAX_RUBRIC_DURATION;
use crate::diagnostic::Problem;
use crate::scenario::raw::{self, DeValue, RawValue, span};
use crate::scenario::suggest::closest;

/// Parses a size: a whole number of bytes, or a whole number and a unit: `KiB`, `MiB`,
/// `GiB`, `TiB` (powers of 1024), `KB`, `MB`, `GB`, `TB` (powers of 1000) or `B`, any
/// case, with or without a space: `"1GiB"`, `"512 MiB"`, `"64KB"`, `"4096"`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = (&t[..split], t[split..].trim_start());
    if digits.is_empty() {
        return Err(if t.is_empty() {
            "it is empty".to_string()
        } else {
            "it does not start with a number".to_string()
        });
    }
    if unit.starts_with(['.', ',']) {
        return Err("the number must be whole (write \"1536MiB\", not \"1.5GiB\")".to_string());
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| "the number is far too large".to_string())?;
    if unit.is_empty() {
        return Ok(n);
    }
    if let Some(&(_, scale)) = SIZE_UNITS
        .iter()
        .find(|(u, _)| u.eq_ignore_ascii_case(unit))
    {
        return n
            .checked_mul(scale)
            .ok_or_else(|| "it is far too large".to_string());
    }
    if matches!(unit, "k" | "K" | "m" | "M" | "g" | "G" | "t" | "T") {
        return Err(format!(
            "`{unit}` is ambiguous: write `{u}iB` (powers of 1024) or `{u}B` (powers of 1000)",
            u = unit.to_ascii_uppercase()
        ));
    }
    let lower: Vec<String> = SIZE_UNITS
        .iter()
        .map(|(u, _)| u.to_ascii_lowercase())
        .collect();
    match closest(unit, lower.iter().map(String::as_str)) {
        Some(l) => {
            let canonical = SIZE_UNITS
                .iter()
                .find(|(u, _)| u.eq_ignore_ascii_case(l))
                .map_or(l, |(u, _)| u);
            Err(format!(
                "`{unit}` is not a unit (did you mean `{canonical}`?)"
            ))
        }
        None => Err(format!("`{unit}` is not a unit")),
    }
}

/// The units of a size, and their bytes.
const SIZE_UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
];

pub(super) fn wrong_type(key: &str, v: &RawValue<'_>, wanted: &str, example: &str) -> Problem {
    Problem::new(
        span(v),
        format!(
            "`{key}` takes {wanted}, not {}",
            raw::type_name(v.get_ref())
        ),
        format!("{} here", raw::type_name(v.get_ref())),
    )
    .help(format!("write it like `{key} = {example}`"))
}

/// A duration string like `"3m"`: not zero, at most [`MAX_RUBRIC_DURATION`].
pub(super) fn duration(key: &str, v: &RawValue<'_>) -> Result<Duration, Problem> {
    let s = match v.get_ref() {
        DeValue::String(s) => s,
        DeValue::Integer(i) => {
            return Err(Problem::new(
                span(v),
                format!("`{key}` is a duration and needs a unit"),
                "a bare number",
            )
            .help(format!(
                "write it as a string with a unit: `{key} = \"{n}s\"` or `\"{n}m\"`",
                n = i.as_str()
            )));
        }
        DeValue::Float(_) => {
            return Err(Problem::new(
                span(v),
                format!("`{key}` is a duration and needs a unit"),
                "a bare number",
            )
            .help(format!(
                "write it as a string with a unit: `{key} = \"1500ms\"`"
            )));
        }
        _ => return Err(wrong_type(key, v, "a duration", "\"30s\"")),
    };
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        Problem::new(
            span(v),
            format!("`{key} = \"{s}\"` is not a duration: {e}"),
            "not a duration",
        )
        .help("write a number and a unit, like \"30s\", \"3m\" or \"1m 30s\"")
    })?;
    if d.is_zero() {
        return Err(
            Problem::new(span(v), format!("`{key}` cannot be zero"), "zero").help(format!(
                "nothing finishes in no time; use something like `{key} = \"30s\"`"
            )),
        );
    }
    if d > MAX_RUBRIC_DURATION {
        return Err(Problem::new(
            span(v),
            format!("`{key} = \"{s}\"` is longer than a day"),
            "too long",
        )
        .help("use at most \"24h\""));
    }
    Ok(d)
}

/// A size: a whole number of bytes, or a string like `"512MiB"` (see [`parse_size`]);
/// zero only when `allow_zero`.
pub(super) fn size(key: &str, v: &RawValue<'_>, allow_zero: bool) -> Result<u64, Problem> {
    let help = "write a whole number and a unit, like \"512MiB\", \"1GiB\" or \"64KB\" (KiB, MiB, GiB: powers of 1024; KB, MB, GB: of 1000), or a number of bytes";
    let n = match v.get_ref() {
        DeValue::String(s) => parse_size(s).map_err(|why| {
            Problem::new(
                span(v),
                format!("`{key} = \"{s}\"` is not a size: {why}"),
                "not a size",
            )
            .help(help)
        })?,
        DeValue::Integer(_) => {
            let n = raw::expect_int(key, v)?;
            u64::try_from(n).map_err(|_| {
                Problem::new(span(v), format!("`{key}` cannot be negative"), "negative").help(help)
            })?
        }
        _ => return Err(wrong_type(key, v, "a size", "\"1GiB\"")),
    };
    if n == 0 && !allow_zero {
        return Err(Problem::new(span(v), format!("`{key}` cannot be zero"), "zero").help(help));
    }
    Ok(n)
}

/// `points`: an integer or float, finite and ≥ 0.
pub(super) fn points(v: &RawValue<'_>) -> Result<f64, Problem> {
    let x = match v.get_ref() {
        DeValue::Integer(_) => raw::expect_int("points", v)? as f64,
        DeValue::Float(f) => f
            .as_str()
            .replace('_', "")
            .parse::<f64>()
            .unwrap_or(f64::NAN),
        _ => return Err(wrong_type("points", v, "a number", "2")),
    };
    if !x.is_finite() {
        return Err(
            Problem::new(span(v), "`points` must be a finite number", "not finite")
                .help("write a number of points, like `points = 2` or `points = 0.5`"),
        );
    }
    if x < 0.0 {
        return Err(Problem::new(
            span(v),
            format!("`points = {}` is negative", raw_text(v)),
            "negative",
        )
        .help("a test is worth 0 points or more; to deduct, give the other tests fewer points"));
    }
    Ok(x)
}

fn raw_text(v: &RawValue<'_>) -> String {
    match v.get_ref() {
        DeValue::Integer(i) => i.as_str().to_string(),
        DeValue::Float(f) => f.as_str().to_string(),
        other => raw::type_name(other).to_string(),
    }
}
