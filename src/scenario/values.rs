/*!
Checks of single step values: templates and their placeholders' places, regexes, hex
strings and addresses. Each returns the typed value or a [`Problem`] pointing at the
exact place in the string when it can.
*/

use std::collections::HashMap;
use std::net::SocketAddr;

use super::model::{Pattern, Template};
use super::raw::{self, RawValue, range_span, span, string_span};
use super::suggest::{closest, one_of};
use crate::diagnostic::Problem;

/// A placeholder found in a string: its name, and its byte range in the decoded string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// The variable's name, trimmed and without its filters (`{{ a | len }}` is `a`).
    pub name: String,
    /// Byte offset of `{{` in the decoded string.
    pub at: usize,
    /// Length through `}}`.
    pub len: usize,
}

/// The placeholders of a string that [`Template::parse`] accepted, with their places
/// (the same scan as the parser's).
pub fn placeholders(raw: &str) -> Vec<Placeholder> {
    super::template::scan_braces(raw)
        .map_while(Result::ok)
        .map(|b| Placeholder {
            name: super::template::placeholder_name(&raw[b.inner]).to_string(),
            at: b.open,
            len: b.end - b.open,
        })
        .collect()
}

/// Parses a string value as a template; a malformed placeholder points at its `{{`, an
/// unknown filter at itself.
pub fn template(src: &str, key: &str, v: &RawValue<'_>, text: &str) -> Result<Template, Problem> {
    Template::parse(text).map_err(|e| {
        let len = e.len.min(text.len() - e.offset).max(1);
        Problem::new(
            string_span(src, v, e.offset, len),
            format!("bad placeholder in `{key}`: {}", e.message),
            e.label,
        )
        .help(e.help.unwrap_or_else(|| {
            "a placeholder is `{{name}}`, the name made of letters, digits, `_`, `-` and `.`, optionally with filters: `{{name | upper}}`".to_string()
        }))
    })
}

/// Compiled regexes by pattern text: a file often repeats a pattern, and compiling is
/// most of the cost of checking a file.
pub type RegexCache = HashMap<String, regex::bytes::Regex>;

/// Compiles a scenario regex. It matches BYTES, as they arrived: `\xab` is the byte 0xab,
/// `.` any byte but `\n`, and `\w`, `\d`, `\s` and `(?i)` are ASCII, as protocols are.
/// A pattern that asks for Unicode (`\p{L}`) is compiled in Unicode mode instead, where
/// classes follow Unicode and a non-ASCII character matches its UTF-8 bytes.
pub fn compile_regex(text: &str) -> Result<regex::bytes::Regex, regex::Error> {
    use regex::bytes::RegexBuilder;
    RegexBuilder::new(text)
        .unicode(false)
        .build()
        .or_else(|ascii| RegexBuilder::new(text).build().map_err(|_| ascii))
}

/// Parses and checks a regex value. With placeholders, checks it with each replaced by
/// `x` and leaves it uncompiled.
pub fn pattern(
    src: &str,
    key: &str,
    v: &RawValue<'_>,
    text: &str,
    cache: &mut RegexCache,
) -> Result<Pattern, Problem> {
    let t = template(src, key, v, text)?;
    let probe = if t.is_literal() {
        text.to_string()
    } else {
        // A number filter cannot take `x`; every filter takes `0`.
        t.render(|_| Some("x"))
            .or_else(|_| t.render(|_| Some("0")))
            .unwrap_or_default()
    };
    let compiled = match cache.get(&probe) {
        Some(re) => Ok(re.clone()),
        None => compile_regex(&probe).inspect(|re| {
            cache.insert(probe.clone(), re.clone());
        }),
    };
    match compiled {
        Ok(re) => Ok(Pattern {
            compiled: t.is_literal().then_some(re),
            template: t,
        }),
        Err(e) => {
            let (what, at) = regex_error(&e, &probe);
            let span = match at {
                Some(at) if t.is_literal() => string_span(src, v, at, 1),
                _ => range_span(v.span()),
            };
            Err(Problem::new(
                span,
                format!("`{key}` is not a valid regex: {what}"),
                "here",
            )
            .help("regex syntax is Rust's `regex` crate (like RE2): escape `( ) [ ] { } . * + ? \\ |` with a backslash to match them literally"))
        }
    }
}

/// The one-line reason of a regex error, and the byte offset it points at, if any.
fn regex_error(e: &regex::Error, pattern: &str) -> (String, Option<usize>) {
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().collect();
    let reason = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| {
            lines
                .last()
                .map(|l| l.trim().to_string())
                .unwrap_or(text.clone())
        });
    // `regex parse error:\n    PATTERN\n    ^^^\nerror: …` for a one-line pattern.
    let mut at = None;
    if lines.len() == 4
        && lines[1].strip_prefix("    ") == Some(pattern)
        && let Some(carets) = lines[2].strip_prefix("    ")
        && let Some(col) = carets.find('^')
    {
        at = pattern.char_indices().nth(col).map(|(i, _)| i);
    }
    (reason, at)
}

/// Decodes a hex string (whitespace ignored); a bad character points at itself.
pub fn hex(src: &str, key: &str, v: &RawValue<'_>, text: &str) -> Result<Vec<u8>, Problem> {
    hex_pattern(src, key, v, text, false).map(|(bytes, _)| bytes)
}

/// Decodes a hex string where `??` (with `wildcards`) stands for any byte: the bytes
/// (0 for a wildcard) and, per byte, whether it is a wildcard (empty when none is).
pub fn hex_pattern(
    src: &str,
    key: &str,
    v: &RawValue<'_>,
    text: &str,
    wildcards: bool,
) -> Result<(Vec<u8>, Vec<bool>), Problem> {
    let mut digits: Vec<(usize, char)> = Vec::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            continue;
        }
        if !(c.is_ascii_hexdigit() || (wildcards && c == '?')) {
            let help = if c == '?' {
                "`??` (any byte) is for checking what arrives (`recv_hex`); what is sent is exact"
            } else {
                "write bytes as pairs of hex digits, spaces allowed: \"de ad be ef\"; for text use `send`/`recv`"
            };
            return Err(Problem::new(
                string_span(src, v, i, c.len_utf8()),
                format!("`{key}` takes hex digits, and {c:?} is not one"),
                "not a hex digit",
            )
            .help(help));
        }
        digits.push((i, c));
    }
    if digits.len() % 2 == 1 {
        return Err(Problem::new(
            range_span(v.span()),
            format!(
                "`{key}` has an odd number of hex digits ({}): each byte is two digits",
                digits.len()
            ),
            "odd number of digits",
        )
        .help("write every byte with two digits: `0a`, not `a`"));
    }
    let mut bytes = Vec::with_capacity(digits.len() / 2);
    let mut any = Vec::new();
    for pair in digits.chunks(2) {
        let [(i, hi), (_, lo)] = [pair[0], pair[1]];
        match (hi, lo) {
            ('?', '?') => {
                any.resize(bytes.len(), false);
                any.push(true);
                bytes.push(0);
            }
            ('?', _) | (_, '?') => {
                return Err(Problem::new(
                    string_span(src, v, i, 2),
                    format!("`{key}`: `{hi}{lo}` mixes a hex digit and `?`"),
                    "half a wildcard",
                )
                .help("`??` stands for a whole byte; a byte is either two hex digits or `??`"));
            }
            _ => {
                let byte = (hi.to_digit(16).unwrap_or(0) << 4 | lo.to_digit(16).unwrap_or(0)) as u8;
                bytes.push(byte);
                if !any.is_empty() {
                    any.push(false);
                }
            }
        }
    }
    Ok((bytes, any))
}

/// Checks a hex string that holds placeholders (`send_hex = "{{n | u16be}} 00"`): what
/// is written around them must be hex (and `??` with `wildcards`), in whole bytes. What
/// they give is checked when the step runs ([`decode_hex`]).
pub fn hex_template(
    src: &str,
    key: &str,
    v: &RawValue<'_>,
    text: &str,
    wildcards: bool,
) -> Result<(), Problem> {
    // Each placeholder becomes as many spaces, so that places in the text stay the same.
    let mut blanked = String::with_capacity(text.len());
    let mut done = 0;
    for b in super::template::scan_braces(text).map_while(Result::ok) {
        blanked.push_str(&text[done..b.open]);
        blanked.extend(std::iter::repeat_n(' ', b.end - b.open));
        done = b.end;
    }
    blanked.push_str(&text[done..]);
    hex_pattern(src, key, v, &blanked, wildcards).map(|_| ())
}

/// Decodes a rendered hex string (whitespace ignored; `??` is any byte with
/// `wildcards`): the bytes (0 for a wildcard) and, per byte, whether it is a wildcard
/// (empty when none is). The error says what is wrong, for the step's failure.
pub fn decode_hex(text: &str, wildcards: bool) -> Result<(Vec<u8>, Vec<bool>), String> {
    let mut digits = Vec::with_capacity(text.len());
    for c in text.chars() {
        if c.is_whitespace() {
            continue;
        }
        if !(c.is_ascii_hexdigit() || (wildcards && c == '?')) {
            return Err(format!("{c:?} is not a hex digit"));
        }
        digits.push(c);
    }
    if digits.len() % 2 == 1 {
        return Err(format!(
            "it has an odd number of hex digits ({})",
            digits.len()
        ));
    }
    let mut bytes = Vec::with_capacity(digits.len() / 2);
    let mut any = Vec::new();
    for pair in digits.chunks(2) {
        match (pair[0], pair[1]) {
            ('?', '?') => {
                any.resize(bytes.len(), false);
                any.push(true);
                bytes.push(0);
            }
            (hi, lo) if hi == '?' || lo == '?' => {
                return Err(format!("`{hi}{lo}` mixes a hex digit and `?`"));
            }
            (hi, lo) => {
                bytes
                    .push((hi.to_digit(16).unwrap_or(0) << 4 | lo.to_digit(16).unwrap_or(0)) as u8);
                if !any.is_empty() {
                    any.push(false);
                }
            }
        }
    }
    Ok((bytes, any))
}

/// Checks `host:port` (a name or an IP; port 1–65535).
pub fn host_port(text: &str) -> Result<(), String> {
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("`{text}` has no port: write it as host:port"));
    };
    if host.is_empty() {
        return Err(format!("`{text}` has no host: write it as host:port"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(format!(
            "`{text}`: an IPv6 address needs brackets, like [::1]:8080"
        ));
    }
    match port.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(()),
        Ok(p) => Err(format!("port {p} is out of range (1–65535)")),
        Err(_) => Err(format!("`{port}` is not a port number")),
    }
}

/// Checks a local address to bind: an IP and a port (0 for any).
pub fn bind_addr(text: &str) -> Result<(), String> {
    text.parse::<SocketAddr>().map(|_| ()).map_err(|_| {
        format!("`{text}` is not an IP address and port, like 127.0.0.1:0 or [::1]:9000")
    })
}

/// True for a variable name (`dots`: `.` allowed too) or an actor name: letters,
/// digits, `_` and `-`, not empty.
pub fn is_name(s: &str, dots: bool) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-') || (dots && c == '.'))
}

/// The word of `key` among `words`; otherwise a problem with "did you mean", and the
/// closest word (so that validation can go on with it).
pub fn one_of_words_guess<'w>(
    key: &str,
    v: &RawValue<'_>,
    words: &[&'w str],
) -> Result<&'w str, (Problem, Option<&'w str>)> {
    let s = raw::expect_str(key, v).map_err(|p| (p, None))?;
    if let Some(w) = words.iter().find(|w| **w == s) {
        return Ok(w);
    }
    let guess = closest(s, words.iter().copied());
    let help = match guess {
        Some(d) => format!("did you mean `{d}`? `{key}` is {}", one_of(words)),
        None => format!("`{key}` is {}", one_of(words)),
    };
    let problem = Problem::new(
        span(v),
        format!("`{key} = \"{s}\"` is not a known value"),
        "unknown value",
    )
    .help(help);
    Err((problem, guess))
}

/// The word of `key` among `words`; a problem with "did you mean" otherwise.
pub fn one_of_words<'w>(
    key: &str,
    v: &RawValue<'_>,
    words: &[&'w str],
) -> Result<&'w str, Problem> {
    one_of_words_guess(key, v, words).map_err(|(p, _)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_have_places() {
        let p = placeholders("a {{ x }} b {{y.port}}");
        assert_eq!(p[0].name, "x");
        assert_eq!((p[0].at, p[0].len), (2, 7));
        assert_eq!((p[1].at, p[1].len), (12, 10));
    }

    #[test]
    fn placeholder_names_leave_out_the_filters() {
        let p = placeholders("{{ line | len | u16be }} {{x|hex}}");
        assert_eq!(p[0].name, "line");
        assert_eq!((p[0].at, p[0].len), (0, 24));
        assert_eq!(p[1].name, "x");
    }

    #[test]
    fn rendered_hex_decodes_or_says_why_not() {
        assert_eq!(
            decode_hex("00 05 68", false),
            Ok((vec![0, 5, 0x68], vec![]))
        );
        assert_eq!(
            decode_hex("12 ?? 34", true),
            Ok((vec![0x12, 0, 0x34], vec![false, true, false]))
        );
        assert_eq!(decode_hex("", false), Ok((vec![], vec![])));
        assert_eq!(
            decode_hex("0g", false).unwrap_err(),
            "'g' is not a hex digit"
        );
        assert_eq!(
            decode_hex("??", false).unwrap_err(),
            "'?' is not a hex digit"
        );
        assert!(decode_hex("abc", false).unwrap_err().contains("odd number"));
        assert!(decode_hex("?1", true).unwrap_err().contains("mixes"));
    }

    #[test]
    fn addresses() {
        assert!(host_port("localhost:80").is_ok());
        assert!(host_port("[::1]:80").is_ok());
        assert!(host_port("localhost:0").is_err());
        assert!(host_port("localhost").is_err());
        assert!(host_port("::1:80").is_err());
        assert!(bind_addr("127.0.0.1:0").is_ok());
        assert!(bind_addr("localhost:0").is_err());
    }
}
