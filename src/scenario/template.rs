/*!
`{{name}}` templating in scenario strings.

A [`Template`] is parsed once, when the scenario is loaded, into literal parts and
placeholders; the loader checks every placeholder against the variables known at that
step, and the interpreter renders it with the values known at run time.
*/

use std::fmt;

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text taken as it is.
    Lit(String),
    /// A `{{name}}` placeholder (the name is trimmed: `{{ a }}` is `a`).
    Var(String),
}

/// A string that may hold `{{name}}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    raw: String,
    parts: Vec<Part>,
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
        let mut rest = raw;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(TemplateError {
                    offset: offset + open,
                    message: "`{{` is never closed by `}}`".into(),
                });
            };
            let name = after[..close].trim();
            if !super::values::is_name(name, true) {
                return Err(TemplateError {
                    offset: offset + open,
                    message: format!("`{{{{{}}}}}` is not a variable name", &after[..close]),
                });
            }
            parts.push(Part::Var(name.to_string()));
            let consumed = open + 2 + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Template {
            raw: raw.to_string(),
            parts,
        })
    }

    /// A template with no placeholders.
    pub fn literal(text: &str) -> Template {
        let parts = if text.is_empty() {
            Vec::new()
        } else {
            vec![Part::Lit(text.to_string())]
        };
        Template {
            raw: text.to_string(),
            parts,
        }
    }

    /// The string as written in the scenario.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The parsed parts.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The names of the placeholders, in order of appearance.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Lit(_) => None,
        })
    }

    /// True when there is no placeholder.
    pub fn is_literal(&self) -> bool {
        self.vars().next().is_none()
    }

    /// Replaces every placeholder with `lookup(name)`; the first unknown name is the error.
    pub fn render<F, S>(&self, mut lookup: F) -> Result<String, String>
    where
        F: FnMut(&str) -> Option<S>,
        S: AsRef<str>,
    {
        let mut out = String::with_capacity(self.raw.len());
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => match lookup(v) {
                    Some(val) => out.push_str(val.as_ref()),
                    None => return Err(v.clone()),
                },
            }
        }
        Ok(out)
    }
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
    fn parses_literals_and_placeholders() {
        let t = Template::parse("GET {{ path }} on {{srv.port}}!").unwrap();
        assert_eq!(
            t.parts(),
            &[
                Part::Lit("GET ".into()),
                Part::Var("path".into()),
                Part::Lit(" on ".into()),
                Part::Var("srv.port".into()),
                Part::Lit("!".into()),
            ]
        );
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
