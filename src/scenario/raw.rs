/*!
The raw scenario: the TOML document parsed with every key and value's span kept.

# The raw model
The raw model is the spanned tree that `toml`'s recoverable parser builds:
[`toml::de::DeTable::parse_recoverable`] returns a [`RawTable`] (a map of spanned keys to
spanned [`DeValue`]s, in file order) together with EVERY syntax error, each with its
span. No serde structs stand between the text and the validator: walking the tree
directly lets the validator report every problem (an unknown key, a value of the wrong
type, a bad duration) at its exact place, instead of stopping at the first one the way
`#[derive(Deserialize)]` would.

This module holds the raw layer's helpers: typed accessors over spanned values
([`expect_str`], [`expect_int`], [`expect_duration`], …) that return a [`Problem`]
pointing at the value when it has the wrong shape, and [`string_span`] to point inside a
string. The JSON Schema of the format is in `scenario::schema`.
*/

use std::ops::Range;
use std::time::Duration;

use miette::SourceSpan;
use toml::Spanned;
pub use toml::de::{DeArray, DeTable, DeValue};

use crate::diagnostic::Problem;

/// A spanned TOML value.
pub type RawValue<'i> = Spanned<DeValue<'i>>;
/// A TOML table with spanned keys and values, in file order.
pub type RawTable<'i> = DeTable<'i>;

/// The longest duration a scenario may ask for.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);

/// Parses `src` into the spanned tree, with every syntax error.
pub fn parse(src: &str) -> (Spanned<RawTable<'_>>, Vec<toml::de::Error>) {
    DeTable::parse_recoverable(src)
}

/// The span of a spanned thing, as miette wants it.
pub fn span<T>(v: &Spanned<T>) -> SourceSpan {
    range_span(v.span())
}

/// A byte range as a miette span.
pub fn range_span(r: Range<usize>) -> SourceSpan {
    SourceSpan::new(r.start.into(), r.end.saturating_sub(r.start))
}

/// "a string", "an integer", … for messages.
pub fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

pub fn wrong_type(key: &str, v: &RawValue<'_>, wanted: &str, example: &str) -> Problem {
    Problem::new(
        span(v),
        format!("`{key}` takes {wanted}, not {}", type_name(v.get_ref())),
        format!("{} here", type_name(v.get_ref())),
    )
    .help(format!("write it like `{key} = {example}`"))
}

/// The string value of `key`.
pub fn expect_str<'a>(key: &str, v: &'a RawValue<'_>) -> Result<&'a str, Problem> {
    v.get_ref()
        .as_str()
        .ok_or_else(|| wrong_type(key, v, "a string", "\"…\""))
}

/// The integer value of `key` (any radix TOML allows).
pub fn expect_int(key: &str, v: &RawValue<'_>) -> Result<i64, Problem> {
    let Some(i) = v.get_ref().as_integer() else {
        return Err(wrong_type(key, v, "an integer", "1"));
    };
    let digits = i.as_str().replace('_', "");
    i64::from_str_radix(&digits, i.radix()).map_err(|_| {
        Problem::new(
            span(v),
            format!("`{key}` is far too large"),
            "does not fit in 64 bits",
        )
    })
}

/// The integer value of `key`, which must lie in `min..=max`.
pub fn expect_int_in(key: &str, v: &RawValue<'_>, min: i64, max: i64) -> Result<i64, Problem> {
    let n = expect_int(key, v)?;
    if n < min || n > max {
        let label = if n < min { "too small" } else { "too large" };
        return Err(Problem::new(
            span(v),
            format!("`{key} = {n}` is out of range: it must be between {min} and {max}"),
            label,
        )
        .help(format!(
            "use a value from {min} to {max}, like `{key} = {}`",
            n.clamp(min, max)
        )));
    }
    Ok(n)
}

/// A number (integer or float) in `0..=1`: a probability.
pub fn expect_probability(key: &str, v: &RawValue<'_>) -> Result<f64, Problem> {
    let x = match v.get_ref() {
        DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
        DeValue::Integer(_) => expect_int(key, v).ok().map(|i| i as f64),
        _ => return Err(wrong_type(key, v, "a probability", "0.25")),
    };
    match x {
        Some(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(Problem::new(
            span(v),
            format!("`{key}` is a probability: it must be between 0 and 1"),
            "not in 0..=1",
        )
        .help(format!("write it like `{key} = 0.25`"))),
    }
}

/// `true`, the only value of flag actions like `close = true`.
pub fn expect_true(key: &str, v: &RawValue<'_>) -> Result<(), Problem> {
    match v.get_ref() {
        DeValue::Boolean(true) => Ok(()),
        DeValue::Boolean(false) => Err(Problem::new(
            span(v),
            format!("`{key} = false` means nothing: `{key}` takes only `true`"),
            "only `true` is allowed",
        )
        .help(format!(
            "write `{key} = true`, or remove the step if it should not happen"
        ))),
        _ => Err(wrong_type(key, v, "only `true`", "true")),
    }
}

/// A duration string like `"250ms"` or `"2s"`, at most [`MAX_DURATION`]; zero only
/// when `allow_zero`.
pub fn expect_duration(key: &str, v: &RawValue<'_>, allow_zero: bool) -> Result<Duration, Problem> {
    let s = match v.get_ref() {
        DeValue::String(s) => s,
        DeValue::Integer(_) | DeValue::Float(_) => {
            return Err(Problem::new(
                span(v),
                format!("`{key}` is a duration and needs a unit"),
                "a bare number",
            )
            .help(format!(
                "write it as a string with a unit: `{key} = \"{}ms\"` or `\"{}s\"`",
                v.get_ref()
                    .as_integer()
                    .map(|i| i.as_str())
                    .unwrap_or("250"),
                v.get_ref().as_integer().map(|i| i.as_str()).unwrap_or("2"),
            )));
        }
        _ => return Err(wrong_type(key, v, "a duration", "\"250ms\"")),
    };
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        Problem::new(
            span(v),
            format!("`{key} = \"{s}\"` is not a duration: {e}"),
            "not a duration",
        )
        .help("write a number and a unit, like \"250ms\", \"2s\" or \"1m 30s\"")
    })?;
    if d.is_zero() && !allow_zero {
        return Err(
            Problem::new(span(v), format!("`{key}` cannot be zero"), "zero").help(format!(
                "a wait of zero always fails; use something like `{key} = \"100ms\"`"
            )),
        );
    }
    if d > MAX_DURATION {
        return Err(Problem::new(
            span(v),
            format!("`{key} = \"{s}\"` is longer than an hour"),
            "too long",
        )
        .help("a scenario's waits are short: use seconds, at most \"1h\""));
    }
    Ok(d)
}

/// The table value of `key`.
pub fn expect_table<'a, 'i>(key: &str, v: &'a RawValue<'i>) -> Result<&'a RawTable<'i>, Problem> {
    v.get_ref()
        .as_table()
        .ok_or_else(|| wrong_type(key, v, "a table", "{ … }"))
}

/// The array value of `key`.
pub fn expect_array<'a, 'i>(key: &str, v: &'a RawValue<'i>) -> Result<&'a DeArray<'i>, Problem> {
    v.get_ref()
        .as_array()
        .ok_or_else(|| wrong_type(key, v, "an array", "[ … ]"))
}

/// The span of bytes `at..at+len` of a string value's decoded text, in the file.
///
/// Exact when the string is written without escapes (the decoded text is then the
/// source text between the quotes); otherwise the whole string's span.
pub fn string_span(src: &str, v: &RawValue<'_>, at: usize, len: usize) -> SourceSpan {
    let whole = v.span();
    let Some(decoded) = v.get_ref().as_str() else {
        return range_span(whole);
    };
    let Some(raw) = src.get(whole.clone()) else {
        return range_span(whole);
    };
    let delim = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
        3
    } else if raw.starts_with('"') || raw.starts_with('\'') {
        1
    } else {
        return range_span(whole);
    };
    if raw.len() < 2 * delim {
        return range_span(whole);
    }
    let mut start = whole.start + delim;
    let mut inner = &raw[delim..raw.len() - delim];
    if delim == 3 {
        // A newline right after the opening delimiter is not part of the string.
        if let Some(rest) = inner.strip_prefix("\r\n") {
            inner = rest;
            start += 2;
        } else if let Some(rest) = inner.strip_prefix('\n') {
            inner = rest;
            start += 1;
        }
    }
    if inner == decoded && at + len <= inner.len() {
        SourceSpan::new((start + at).into(), len)
    } else {
        range_span(whole)
    }
}

/// The 1-based line of byte `offset` of `src` (a scan: for one lookup; use
/// [`LineIndex`] for many).
pub fn line_of(src: &str, offset: usize) -> usize {
    let end = offset.min(src.len());
    src.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The offsets of a text's newlines, for fast line lookups.
#[derive(Debug, Clone)]
pub struct LineIndex(Vec<usize>);

impl LineIndex {
    /// Indexes `src`.
    pub fn new(src: &str) -> LineIndex {
        LineIndex(memchr::memchr_iter(b'\n', src.as_bytes()).collect())
    }

    /// The 1-based line of byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&nl| nl < offset) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_value(src: &str) -> RawValue<'_> {
        let (t, errs) = parse(src);
        assert!(errs.is_empty());
        t.into_inner().into_iter().next().unwrap().1
    }

    #[test]
    fn string_span_is_exact_without_escapes() {
        let src = "a = \"ab {{x}}\"";
        let v = first_value(src);
        let s = string_span(src, &v, 3, 5);
        assert_eq!(&src[s.offset()..s.offset() + s.len()], "{{x}}");
        let src = "a = \"a\\n{{x}}\"";
        let v = first_value(src);
        assert_eq!(string_span(src, &v, 2, 5), range_span(v.span()));
        let src = "a = \"\"\"\nab{{x}}\"\"\"";
        let v = first_value(src);
        let s = string_span(src, &v, 2, 5);
        assert_eq!(&src[s.offset()..s.offset() + s.len()], "{{x}}");
    }

    #[test]
    fn line_index_agrees_with_a_scan() {
        let src = "a\nbc\n\nd";
        let idx = LineIndex::new(src);
        for off in 0..=src.len() + 2 {
            assert_eq!(idx.line(off), line_of(src, off), "{off}");
        }
    }

    #[test]
    fn accessors_check_types_and_ranges() {
        assert_eq!(expect_int("n", &first_value("n = 0x10")).unwrap(), 16);
        assert_eq!(expect_int("n", &first_value("n = 1_000")).unwrap(), 1000);
        assert_eq!(expect_int("n", &first_value("n = -5")).unwrap(), -5);
        assert!(expect_int_in("n", &first_value("n = 70000"), 1, 65535).is_err());
        assert!(expect_duration("t", &first_value("t = \"0s\""), false).is_err());
        assert!(expect_duration("t", &first_value("t = \"2h\""), false).is_err());
        assert!(expect_duration("t", &first_value("t = 5"), false).is_err());
        assert_eq!(
            expect_duration("t", &first_value("t = \"250ms\""), false).unwrap(),
            Duration::from_millis(250)
        );
        assert!(expect_true("c", &first_value("c = false")).is_err());
        assert!(expect_probability("p", &first_value("p = 1.5")).is_err());
        assert_eq!(expect_probability("p", &first_value("p = 1")).unwrap(), 1.0);
    }
}
