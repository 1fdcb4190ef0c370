/*!
Template filters: `{{line | upper}}`, `{{line | len | u16be}}`. Each takes the value so
far (a string) and gives a new one; `apply_filters` chains them left to right.
*/

use std::fmt;

/// A filter of a placeholder (`{{line | upper}}`), applied to the variable's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filter {
    /// ASCII uppercase; other bytes unchanged.
    Upper,
    /// ASCII lowercase; other bytes unchanged.
    Lower,
    /// The length in bytes, in decimal.
    Len,
    /// The bytes as lowercase hex pairs separated by spaces (`48 69`), as `send_hex`
    /// and `recv_hex` take them.
    Hex,
    /// A decimal integer from 0 to 65535 as 2 bytes, most significant first, in hex
    /// (`00 05`).
    U16be,
    /// A decimal integer from 0 to 4294967295 as 4 bytes, most significant first, in
    /// hex (`00 00 00 05`).
    U32be,
}

impl Filter {
    /// Every filter, in the order the documentation lists them.
    pub const ALL: [Filter; 6] = [
        Filter::Upper,
        Filter::Lower,
        Filter::Len,
        Filter::Hex,
        Filter::U16be,
        Filter::U32be,
    ];

    /// The names of [`Filter::ALL`], as written in a template.
    pub const NAMES: [&'static str; 6] = ["upper", "lower", "len", "hex", "u16be", "u32be"];

    /// Its name in a template.
    pub fn name(self) -> &'static str {
        match self {
            Filter::Upper => "upper",
            Filter::Lower => "lower",
            Filter::Len => "len",
            Filter::Hex => "hex",
            Filter::U16be => "u16be",
            Filter::U32be => "u32be",
        }
    }

    /// The filter called `name`.
    pub fn from_name(name: &str) -> Option<Filter> {
        Filter::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Applies the filter to `value`. `what` says where the value comes from (`line`,
    /// `line | len`), for the error of a number filter given something that is not a
    /// number it can write.
    pub fn apply(self, value: &str, what: &str) -> Result<String, String> {
        Ok(match self {
            Filter::Upper => value.to_ascii_uppercase(),
            Filter::Lower => value.to_ascii_lowercase(),
            Filter::Len => value.len().to_string(),
            Filter::Hex => spaced_hex(value.as_bytes()),
            Filter::U16be => spaced_hex(&(self.number(value, what, 0xffff)? as u16).to_be_bytes()),
            Filter::U32be => {
                spaced_hex(&(self.number(value, what, 0xffff_ffff)? as u32).to_be_bytes())
            }
        })
    }

    /// `value` as a decimal integer from 0 to `max`.
    fn number(self, value: &str, what: &str, max: u64) -> Result<u64, String> {
        let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
        match value.parse::<u64>() {
            Ok(n) if digits && n <= max => Ok(n),
            _ => Err(format!(
                "`{}` needs an integer from 0 to {max}, and `{what}` is {}",
                self.name(),
                shown_value(value, digits)
            )),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Bytes as lowercase hex pairs separated by single spaces.
fn spaced_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, &b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// A value in an error message: a number as it is, anything else quoted, and cut short
/// past 40 characters.
fn shown_value(value: &str, digits: bool) -> String {
    const SHOWN: usize = 40;
    if digits && value.len() <= SHOWN {
        return value.to_string();
    }
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(SHOWN).collect();
    if chars.next().is_some() {
        format!("{head:?}… ({} bytes)", value.len())
    } else {
        format!("{head:?}")
    }
}

/// Applies `filters` to `value`, the value of the variable `name`, left to right.
pub fn apply_filters(name: &str, value: &str, filters: &[Filter]) -> Result<String, String> {
    let Some((first, rest)) = filters.split_first() else {
        return Ok(value.to_string());
    };
    let mut out = first.apply(value, name)?;
    let mut what = format!("{name} | {first}");
    for f in rest {
        out = f.apply(&out, &what)?;
        what.push_str(" | ");
        what.push_str(f.name());
    }
    Ok(out)
}
