/*!
`{{name}}` templating in scenario strings.

A [`Template`] is parsed once, when the scenario is loaded, into literal parts and
placeholders; the loader checks every placeholder against the variables known at that
step, and the interpreter renders it with the values known at run time.
*/

use std::fmt;
use std::sync::Arc;

/// One piece of a parsed template: a byte range of its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Text taken as it is.
    Lit(u32, u32),
    /// A `{{name}}` placeholder: the range of the name, trimmed (`{{ a }}` is `a`).
    Var(u32, u32),
}

/// A string that may hold `{{name}}` placeholders.
///
/// The text is shared (`Arc`), and the parts are ranges of it; a template without
/// placeholders has no parts, so rendering it is a reference count, not a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    raw: Arc<str>,
    /// Empty when there is no placeholder.
    parts: Box<[Part]>,
}

/// Why a template string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset of the problem inside the template string.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl Template {
    /// Parses `raw`. `{{` opens a placeholder that `}}` closes; the name inside is made
    /// of letters, digits, `_`, `-` and `.` (`{{alice.port}}`).
    pub fn parse(raw: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut offset = 0;
        for braces in scan_braces(raw) {
            let Braces { open, inner, end } = braces.map_err(|open| TemplateError {
                offset: open,
                message: "`{{` is never closed by `}}`".into(),
            })?;
            if open > offset {
                parts.push(Part::Lit(offset as u32, open as u32));
            }
            let text = &raw[inner.clone()];
            let name = text.trim();
            if !super::values::is_name(name, true) {
                return Err(TemplateError {
                    offset: open,
                    message: format!("`{{{{{text}}}}}` is not a variable name"),
                });
            }
            let start = inner.start + (text.len() - text.trim_start().len());
            parts.push(Part::Var(start as u32, (start + name.len()) as u32));
            offset = end;
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
        })
    }

    /// A template with no placeholders.
    pub fn literal(text: &str) -> Template {
        Template {
            raw: Arc::from(text),
            parts: Box::new([]),
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

    /// The names of the placeholders, in order of appearance.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match *p {
            Part::Var(a, b) => Some(self.slice(a, b)),
            Part::Lit(..) => None,
        })
    }

    /// True when there is no placeholder.
    pub fn is_literal(&self) -> bool {
        self.parts.is_empty()
    }

    /// Replaces every placeholder with `lookup(name)`; the first unknown name is the error.
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
        let mut out = String::with_capacity(self.raw.len());
        for part in self.parts.iter() {
            match *part {
                Part::Lit(a, b) => out.push_str(self.slice(a, b)),
                Part::Var(a, b) => match lookup(self.slice(a, b)) {
                    Some(val) => out.push_str(val.as_ref()),
                    None => return Err(self.slice(a, b).to_string()),
                },
            }
        }
        Ok(out)
    }
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
        let open = offset + raw[offset..].find("{{")?;
        let Some(close) = raw[open + 2..].find("}}") else {
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
        assert_eq!(t.render(|v| (v == "x").then(String::new)), Err("y".into()));
    }
}
