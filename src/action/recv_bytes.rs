/*!
`recv_bytes`: read exactly N bytes of a TCP stream (a fixed-size binary header, a body
of known length); an optional `match` checks them.
*/

use super::recv_match::{check_optional, with_match};
use super::{Action, BASE, Decl, Session, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::scenario::model::{Pattern, Step, Template};
use crate::scenario::raw;
use crate::transcript::Failure;

/// The most bytes a `recv_bytes` step may ask for.
pub const MAX_RECV_BYTES: i64 = crate::limits::STEP_CAP as i64;

/// `recv_bytes`.
pub const RECV_BYTES: Decl = Decl {
    word: Word {
        name: "recv_bytes",
        value: ValueType::Count,
        about: "TCP: read exactly this many bytes (a number, or \"{{var}}\" holding one, such as a captured length; optional `match`)",
    },
    kinds: super::STREAM,
    waits: true,
    captures: true,
    modifiers: &["match"],
    parse,
    ..BASE
};

/// How many bytes a `recv_bytes` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Count {
    /// A number in the file.
    Fixed(usize),
    /// `"{{len}}"`: a variable holding one, known at run time (a captured
    /// Content-Length, a length prefix captured with `capture_as = "u16be"`).
    Var(Template),
}

/// `recv_bytes`.
#[derive(Debug, Clone)]
pub struct RecvBytes {
    /// How many.
    pub count: Count,
    /// `match`.
    pub pattern: Option<Pattern>,
}

fn parse(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    let count = match cx.value().get_ref() {
        raw::DeValue::String(_) => {
            let t = cx.own_text()?;
            if t.is_literal() {
                return Err(Problem::new(
                    raw::span(cx.value()),
                    "`recv_bytes` takes a number, or a string that is one variable like \"{{len}}\"",
                    "not a count",
                )
                .help("write the number without quotes (`recv_bytes = 4`), or read a captured one: `recv_bytes = \"{{len}}\"`"));
            }
            Count::Var(t)
        }
        _ => {
            Count::Fixed(raw::expect_int_in("recv_bytes", cx.value(), 1, MAX_RECV_BYTES)? as usize)
        }
    };
    let pattern = cx.match_modifier()?;
    Ok(Action::RecvBytes(RecvBytes { count, pattern }))
}

/// The count a variable holds at run time: a positive integer (surrounding spaces
/// allowed), at most [`MAX_RECV_BYTES`].
fn count_of(text: &str, t: &Template) -> Result<usize, Failure> {
    match text.trim().parse::<i64>() {
        Ok(n) if (1..=MAX_RECV_BYTES).contains(&n) => Ok(n as usize),
        Ok(0) => Err(Failure::msg(format!(
            "`{t}` is 0 at this step: there is nothing to read"
        ))),
        _ => Err(Failure::msg(format!(
            "`{t}` is \"{}\" at this step, not a count of bytes from 1 to {MAX_RECV_BYTES}",
            crate::transcript::escape_bytes(text.as_bytes())
        ))),
    }
}

super::plain_action!(RecvBytes, "recv_bytes");

impl RecvBytes {
    /// The count, and the pattern.
    pub fn detail(&self, cx: &Session<'_, '_>) -> String {
        let count = match &self.count {
            Count::Fixed(n) => n.to_string(),
            // The value, as the transcript has it: a length is part of the exchange.
            Count::Var(t) => match cx.render(t) {
                Ok(v) => format!("{} ({t})", v.trim()),
                Err(_) => t.to_string(),
            },
        };
        with_match(count, &self.pattern)
    }

    /// Reads exactly `count` bytes.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let deadline = tokio::time::Instant::now() + cx.timeout(step);
        let count = match &self.count {
            Count::Fixed(n) => *n,
            Count::Var(t) => count_of(&cx.render(t)?, t)?,
        };
        let got = cx.tcp(&step.actor)?.recv_count(count, deadline).await?;
        check_optional(cx, &self.pattern, &got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_from_a_variable_is_a_positive_integer() {
        let t = Template::parse("{{len}}").unwrap();
        assert_eq!(count_of(" 42 ", &t).unwrap(), 42);
        assert!(
            count_of("0", &t)
                .unwrap_err()
                .message
                .contains("nothing to read")
        );
        assert!(
            count_of("4x", &t)
                .unwrap_err()
                .message
                .contains("not a count")
        );
        assert!(count_of("-1", &t).is_err());
    }
}
