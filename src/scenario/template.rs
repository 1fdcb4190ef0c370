/*!
`{{name}}` templating in scenario strings, with filters: `{{name | len | u16be}}`.

A [`Template`] is parsed once, when the scenario is loaded, into literal parts and
placeholders; the loader checks every placeholder against the variables known at that
step, and the interpreter renders it with the values known at run time. A placeholder's
[`Filter`]s are applied to its value left to right.
*/

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

pub use super::filters::{Filter, apply_filters};

/// One piece of a parsed template: a byte range of its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Text taken as it is.
    Lit(u32, u32),
    /// A `{{name}}` placeholder: the range of the name, trimmed (`{{ a }}` is `a`).
    Var(u32, u32),
    /// A `{{name | f | g}}` placeholder: the range of the name, then where its filters
    /// start in [`Template::filters`] and how many there are.
    Filtered(u32, u32, u16, u16),
}

/// A string that may hold `{{name}}` placeholders, with filters (`{{name | upper}}`).
///
/// The text is shared (`Arc`), and the parts are ranges of it; a template without
/// placeholders has no parts, so rendering it is a reference count, not a copy, and one
/// without filters has no filters to allocate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    raw: Arc<str>,
    /// Empty when there is no placeholder.
    parts: Box<[Part]>,
    /// The filters of every placeholder, in order; empty when none has any.
    filters: Box<[Filter]>,
}

/// Why a template string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset of the problem inside the template string.
    pub offset: usize,
    /// Byte length of the problem (at least 1, within the string).
    pub len: usize,
    /// What is wrong.
    pub message: String,
    /// A short label for the place (`malformed placeholder`, `unknown filter`).
    pub label: &'static str,
    /// How to fix it, when there is more to say than what a placeholder looks like.
    pub help: Option<String>,
}

impl Template {
    /// Parses `raw`. `{{` opens a placeholder that `}}` closes; inside is a name made of
    /// letters, digits, `_`, `-` and `.` (`{{alice.port}}`), then any number of
    /// `| filter` ([`Filter::NAMES`]); spaces around each are allowed.
    pub fn parse(raw: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut filters = Vec::new();
        let mut offset = 0;
        for braces in scan_braces(raw) {
            let braces = braces.map_err(|open| TemplateError {
                offset: open,
                len: 2,
                message: "`{{` is never closed by `}}`".into(),
                label: "malformed placeholder",
                help: None,
            })?;
            if braces.open > offset {
                parts.push(Part::Lit(offset as u32, braces.open as u32));
            }
            let (name, own) = placeholder(raw, &braces)?;
            let (a, b) = (name.start as u32, name.end as u32);
            if own.is_empty() {
                parts.push(Part::Var(a, b));
            } else {
                let too_many = || TemplateError {
                    offset: braces.open,
                    len: braces.end - braces.open,
                    message: "too many filters in one string".into(),
                    label: "too many filters",
                    help: None,
                };
                let start = u16::try_from(filters.len()).map_err(|_| too_many())?;
                let count = u16::try_from(own.len()).map_err(|_| too_many())?;
                filters.extend(own);
                parts.push(Part::Filtered(a, b, start, count));
            }
            offset = braces.end;
        }
        if parts.is_empty() {
            return Ok(Template::literal(raw));
        }
        if offset < raw.len() {
            parts.push(Part::Lit(offset as u32, raw.len() as u32));
        }
        Ok(Template {
            raw: Arc::from(raw),
            parts: parts.into_boxed_slice(),
            filters: filters.into_boxed_slice(),
        })
    }

    /// A template with no placeholders.
    pub fn literal(text: &str) -> Template {
        Template {
            raw: Arc::from(text),
            parts: Box::new([]),
            filters: Box::new([]),
        }
    }

    /// The string as written in the scenario.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The string as written, shared.
    pub fn raw_arc(&self) -> Arc<str> {
        Arc::clone(&self.raw)
    }

    fn slice(&self, start: u32, end: u32) -> &str {
        &self.raw[start as usize..end as usize]
    }

    fn filters_of(&self, start: u16, count: u16) -> &[Filter] {
        &self.filters[usize::from(start)..usize::from(start) + usize::from(count)]
    }

    /// The names of the placeholders, in order of appearance (without their filters).
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.placeholders().map(|(name, _)| name)
    }

    /// The placeholders, in order of appearance: each one's variable name and its
    /// filters (empty for a plain `{{name}}`).
    pub fn placeholders(&self) -> impl Iterator<Item = (&str, &[Filter])> {
        self.parts.iter().filter_map(|p| match *p {
            Part::Var(a, b) => Some((self.slice(a, b), &[][..])),
            Part::Filtered(a, b, start, count) => {
                Some((self.slice(a, b), self.filters_of(start, count)))
            }
            Part::Lit(..) => None,
        })
    }

    /// True when there is no placeholder.
    pub fn is_literal(&self) -> bool {
        self.parts.is_empty()
    }

    /// True when some placeholder has a filter.
    pub fn has_filters(&self) -> bool {
        !self.filters.is_empty()
    }

    /// Replaces every placeholder with `lookup(name)`, its filters applied. The error
    /// is a message: the first name without a value (`` `{{x}}` has no value at this
    /// step ``), or the first filter that cannot take its value.
    pub fn render<F, S>(&self, lookup: F) -> Result<String, String>
    where
        F: FnMut(&str) -> Option<S>,
        S: AsRef<str>,
    {
        if self.is_literal() {
            return Ok(self.raw.to_string());
        }
        self.render_parts(lookup)
    }

    fn render_parts<F, S>(&self, mut lookup: F) -> Result<String, String>
    where
        F: FnMut(&str) -> Option<S>,
        S: AsRef<str>,
    {
        let mut value = |name: &str| lookup(name).ok_or_else(|| missing(name));
        let mut out = String::with_capacity(self.raw.len());
        for part in self.parts.iter() {
            match *part {
                Part::Lit(a, b) => out.push_str(self.slice(a, b)),
                Part::Var(a, b) => out.push_str(value(self.slice(a, b))?.as_ref()),
                Part::Filtered(a, b, start, count) => {
                    let name = self.slice(a, b);
                    let filtered =
                        apply_filters(name, value(name)?.as_ref(), self.filters_of(start, count))?;
                    out.push_str(&filtered);
                }
            }
        }
        Ok(out)
    }
}

/// The error of a placeholder without a value.
fn missing(name: &str) -> String {
    format!("`{{{{{name}}}}}` has no value at this step")
}

/// The variable's name in the text between `{{` and `}}`: what comes before any `|`,
/// trimmed (`" line | upper "` is `line`).
pub fn placeholder_name(inner: &str) -> &str {
    inner.split('|').next().unwrap_or_default().trim()
}

/// Parses the placeholder `braces` of `raw`: the byte range of its name in `raw`, and
/// its filters. Errors point into `raw`.
pub fn placeholder(
    raw: &str,
    braces: &Braces,
) -> Result<(Range<usize>, Vec<Filter>), TemplateError> {
    let text = &raw[braces.inner.clone()];
    let mut segments = text.split('|');
    let first = segments.next().unwrap_or_default();
    let name = first.trim();
    if !super::values::is_name(name, true) {
        return Err(TemplateError {
            offset: braces.open,
            len: braces.end - braces.open,
            message: format!("`{{{{{text}}}}}` is not a variable name"),
            label: "malformed placeholder",
            help: None,
        });
    }
    let start = braces.inner.start + (first.len() - first.trim_start().len());
    let mut filters = Vec::new();
    // Just past the segment before: a `|` is there.
    let mut at = braces.inner.start + first.len();
    for segment in segments {
        let bar = at;
        at += 1 + segment.len();
        let word = segment.trim();
        if word.is_empty() {
            return Err(TemplateError {
                offset: bar,
                len: 1,
                message: format!("a `|` in `{{{{{text}}}}}` is not followed by a filter"),
                label: "no filter",
                help: Some(format!(
                    "write a filter after each `|`, like `{{{{{name} | upper}}}}`: {}",
                    filters_help()
                )),
            });
        }
        match Filter::from_name(word) {
            Some(f) => filters.push(f),
            None => {
                let offset = bar + 1 + (segment.len() - segment.trim_start().len());
                let help = match super::suggest::did_you_mean(word, Filter::NAMES) {
                    Some(d) => format!("{d} {}", filters_help()),
                    None => filters_help(),
                };
                return Err(TemplateError {
                    offset,
                    len: word.len(),
                    message: format!("`{word}` is not a template filter"),
                    label: "unknown filter",
                    help: Some(help),
                });
            }
        }
    }
    Ok((start..start + name.len(), filters))
}

/// What the filters are.
fn filters_help() -> String {
    format!("the filters are {}", super::suggest::one_of(&Filter::NAMES))
}

/// One `{{…}}` in a string: where `{{` is, the text between the braces, and the offset
/// just past `}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Braces {
    /// Byte offset of `{{`.
    pub open: usize,
    /// Byte range of the text inside, untrimmed.
    pub inner: std::ops::Range<usize>,
    /// Byte offset just past `}}`.
    pub end: usize,
}

/// Where `cc` (`{{` or `}}`, for `c` the brace) first is in `s`: a byte scan for the
/// brace (memchr), without the set-up of a substring search, which every string of a
/// scenario file would pay.
fn find_pair(s: &str, c: u8) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(c, &b[from..]) {
        let at = from + i;
        if b.get(at + 1) == Some(&c) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Every `{{…}}` of `raw`, in order: the one scan behind templates, the loader's
/// placeholder checks and a command's `{{port}}`. A `{{` that is never closed ends it,
/// as `Err(offset of that {{)`.
pub fn scan_braces(raw: &str) -> impl Iterator<Item = Result<Braces, usize>> + '_ {
    let mut offset = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let open = offset + find_pair(&raw[offset..], b'{')?;
        let Some(close) = find_pair(&raw[open + 2..], b'}') else {
            done = true;
            return Some(Err(open));
        };
        let inner = open + 2..open + 2 + close;
        offset = inner.end + 2;
        Some(Ok(Braces {
            open,
            inner,
            end: offset,
        }))
    })
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn find_pair_is_a_substring_search(s in "[a{}]{0,12}") {
            proptest::prop_assert_eq!(find_pair(&s, b'{'), s.find("{{"));
            proptest::prop_assert_eq!(find_pair(&s, b'}'), s.find("}}"));
        }
    }

    #[test]
    fn scan_finds_every_pair_of_braces_and_stops_at_an_unclosed_one() {
        let found: Vec<_> = scan_braces("a{{x}}b{{ y }}{{z").collect();
        assert_eq!(
            found,
            [
                Ok(Braces {
                    open: 1,
                    inner: 3..4,
                    end: 6
                }),
                Ok(Braces {
                    open: 7,
                    inner: 9..12,
                    end: 14
                }),
                Err(14),
            ]
        );
        assert_eq!(scan_braces("plain").count(), 0);
    }

    #[test]
    fn parses_literals_and_placeholders() {
        let t = Template::parse("GET {{ path }} on {{srv.port}}!").unwrap();
        assert_eq!(t.vars().collect::<Vec<_>>(), ["path", "srv.port"]);
        assert!(!t.is_literal());
        assert!(Template::parse("no placeholder").unwrap().is_literal());
        let out = t
            .render(|v| Some(if v == "path" { "/" } else { "80" }))
            .unwrap();
        assert_eq!(out, "GET / on 80!");
    }

    #[test]
    fn unclosed_and_bad_names_are_errors() {
        assert_eq!(Template::parse("a {{b").unwrap_err().offset, 2);
        assert!(Template::parse("{{a b}}").is_err());
        assert!(Template::parse("{{}}").is_err());
    }

    #[test]
    fn render_reports_the_unknown_name() {
        let t = Template::parse("{{x}}{{y}}").unwrap();
        assert_eq!(
            t.render(|v| (v == "x").then(String::new)),
            Err("`{{y}}` has no value at this step".into())
        );
        let t = Template::parse("{{x}}{{y | upper}}").unwrap();
        assert_eq!(
            t.render(|v| (v == "x").then(String::new)),
            Err("`{{y}}` has no value at this step".into())
        );
    }

    /// Renders `t` with `line = value`.
    fn with_line(t: &str, value: &str) -> Result<String, String> {
        Template::parse(t)
            .unwrap()
            .render(|v| (v == "line").then_some(value))
    }

    #[test]
    fn filters_parse_with_or_without_spaces() {
        for text in [
            "{{line|len|u16be}}",
            "{{ line | len | u16be }}",
            "{{line |len|  u16be}}",
        ] {
            let t = Template::parse(text).unwrap();
            assert_eq!(t.vars().collect::<Vec<_>>(), ["line"], "{text}");
            assert_eq!(
                t.placeholders().collect::<Vec<_>>(),
                [("line", &[Filter::Len, Filter::U16be][..])],
                "{text}"
            );
            assert!(t.has_filters());
        }
        let t = Template::parse("a {{x}} b {{ y | hex }} {{z|upper|lower}}").unwrap();
        assert_eq!(
            t.placeholders().collect::<Vec<_>>(),
            [
                ("x", &[][..]),
                ("y", &[Filter::Hex][..]),
                ("z", &[Filter::Upper, Filter::Lower][..]),
            ]
        );
        let plain = Template::parse("{{x}} and {{y}}").unwrap();
        assert!(!plain.has_filters());
        assert!(plain.filters.is_empty());
        for name in Filter::NAMES {
            assert_eq!(Filter::from_name(name).map(Filter::name), Some(name));
        }
    }

    #[test]
    fn an_unknown_filter_points_at_itself_and_suggests_the_closest() {
        let e = Template::parse("GET {{ path | uper }}").unwrap_err();
        assert_eq!((e.offset, e.len), (14, 4));
        assert_eq!(e.message, "`uper` is not a template filter");
        assert_eq!(e.label, "unknown filter");
        let help = e.help.unwrap();
        assert!(help.starts_with("did you mean `upper`?"), "{help}");
        assert!(help.contains("`u16be` or `u32be`"), "{help}");
        let e = Template::parse("{{x|len|banana}}").unwrap_err();
        assert_eq!((e.offset, e.len), (8, 6));
        assert!(!e.help.unwrap().contains("did you mean"));
        let e = Template::parse("{{x | }}").unwrap_err();
        assert_eq!((e.offset, e.len, e.label), (4, 1, "no filter"));
        let e = Template::parse("ab{{ | upper}}").unwrap_err();
        assert_eq!((e.offset, e.len), (2, 12));
        assert!(e.message.contains("is not a variable name"));
    }

    #[test]
    fn each_filter_renders() {
        assert_eq!(
            with_line("{{line | upper}}", "héllo, World").unwrap(),
            "HéLLO, WORLD"
        );
        assert_eq!(
            with_line("{{line | lower}}", "HÉLLO, World").unwrap(),
            "hÉllo, world"
        );
        assert_eq!(with_line("{{line | len}}", "hello").unwrap(), "5");
        assert_eq!(with_line("{{line | len}}", "é").unwrap(), "2");
        assert_eq!(with_line("{{line | len}}", "").unwrap(), "0");
        assert_eq!(with_line("{{line | hex}}", "Hi").unwrap(), "48 69");
        assert_eq!(with_line("{{line | hex}}", "\n\u{ff}").unwrap(), "0a c3 bf");
        assert_eq!(with_line("<{{line | hex}}>", "").unwrap(), "<>");
        assert_eq!(with_line("{{line | u16be}}", "5").unwrap(), "00 05");
        assert_eq!(with_line("{{line | u16be}}", "65535").unwrap(), "ff ff");
        assert_eq!(with_line("{{line | u16be}}", "0008080").unwrap(), "1f 90");
        assert_eq!(with_line("{{line | u32be}}", "5").unwrap(), "00 00 00 05");
        assert_eq!(
            with_line("{{line | u32be}}", "4294967295").unwrap(),
            "ff ff ff ff"
        );
        assert_eq!(
            with_line("{{line | len | u16be}} {{line | hex}}", "hello").unwrap(),
            "00 05 68 65 6c 6c 6f"
        );
        assert_eq!(with_line("{{line | hex | upper}}", "\n").unwrap(), "0A");
        assert_eq!(with_line("{{line|len|len}}", "0123456789").unwrap(), "2");
    }

    #[test]
    fn number_filters_reject_what_they_cannot_write() {
        let long = "x".repeat(70_000);
        assert_eq!(
            with_line("{{line | len | u16be}}", &long).unwrap_err(),
            "`u16be` needs an integer from 0 to 65535, and `line | len` is 70000"
        );
        assert_eq!(
            with_line("{{line | u16be}}", "hello").unwrap_err(),
            "`u16be` needs an integer from 0 to 65535, and `line` is \"hello\""
        );
        assert_eq!(
            with_line("{{line | u32be}}", "4294967296").unwrap_err(),
            "`u32be` needs an integer from 0 to 4294967295, and `line` is 4294967296"
        );
        for bad in [
            "",
            " 5",
            "5 ",
            "-1",
            "+1",
            "0x10",
            "1.5",
            "99999999999999999999999",
        ] {
            let e = with_line("{{line | upper | u32be}}", bad).unwrap_err();
            assert!(e.starts_with("`u32be` needs an integer"), "{bad:?}: {e}");
            assert!(e.contains("`line | upper` is "), "{bad:?}: {e}");
        }
        let e = with_line("{{line | u16be}}", &long).unwrap_err();
        assert!(e.ends_with("… (70000 bytes)"), "{e}");
    }
}
