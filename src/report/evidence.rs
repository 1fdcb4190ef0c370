/*!
Showing what a failing step compared ([`Evidence`]): in full up to the bound, so the
header that differs on line 7 of a reply is on the screen.

- text on one line: expected above actual, a caret under the first difference;
- text over several lines: a line diff (`similar`), `-` expected, `+` actual;
- hex: a hex dump of both, the differing bytes marked;
- a pattern: what arrived, line by line, and no caret (there is no byte to point at).

Control characters are escaped (`\r`, `\t`, `\x00`) so the output is plain text.
*/

use std::fmt::Write as _;

use similar::{ChangeTag, TextDiff};

use crate::transcript::{Evidence, EvidenceKind, escape_bytes};

/// Text lines at most this long (escaped) are shown one above the other with a caret.
const ONE_LINE: usize = 120;
/// Hex rows shown around the first difference.
const HEX_ROWS_BEFORE: usize = 2;
const HEX_ROWS_AFTER: usize = 6;

/// The evidence as plain text, ending with a newline.
pub fn render(e: &Evidence) -> String {
    let mut out = header(e);
    match e.kind {
        EvidenceKind::Pattern => pattern(&mut out, e),
        EvidenceKind::Hex => hex_dump(&mut out, e),
        EvidenceKind::Text if is_one_line(e) => one_line(&mut out, e),
        EvidenceKind::Text => line_diff(&mut out, e),
    }
    out
}

/// The data of one side, escaped and quoted, in full (the window): what the JSON
/// report gives as `expected` / `actual`.
pub fn shown_in_full(data: &[u8], kind: EvidenceKind) -> String {
    match kind {
        EvidenceKind::Hex => format!(
            "[{}]",
            data.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        _ => format!("\"{}\"", escape_bytes(data)),
    }
}

fn header(e: &Evidence) -> String {
    if e.kind == EvidenceKind::Pattern {
        return String::new();
    }
    let mut out = format!(
        "expected {}, arrived {}{}",
        bytes(e.expected_len),
        bytes(e.actual_len),
        e.end
    );
    if let Some(at) = e.first_difference() {
        let _ = write!(out, "; first difference at byte {}", at + 1);
    }
    if e.offset > 0 {
        let _ = write!(
            out,
            " (shown: bytes {} to {}, around it)",
            e.offset + 1,
            e.offset + e.actual.len().max(e.expected.len())
        );
    } else if !e.cut.is_empty() {
        let _ = write!(out, " (read {})", e.cut);
    }
    out.push('\n');
    out
}

fn bytes(n: usize) -> String {
    if n == 1 {
        "1 byte".into()
    } else {
        format!("{n} bytes")
    }
}

fn is_one_line(e: &Evidence) -> bool {
    let inner_newline = |d: &[u8]| {
        d.iter()
            .take(d.len().saturating_sub(1))
            .any(|&b| b == b'\n')
    };
    !inner_newline(&e.expected)
        && !inner_newline(&e.actual)
        && escape_bytes(&e.expected)
            .len()
            .max(escape_bytes(&e.actual).len())
            <= ONE_LINE
}

fn one_line(out: &mut String, e: &Evidence) {
    let expected = format!("\"{}\"", escape_bytes(&e.expected));
    let actual = format!("\"{}\"", escape_bytes(&e.actual));
    let _ = writeln!(out, "expected: {expected}\nactual:   {actual}");
    let at = expected
        .chars()
        .zip(actual.chars())
        .position(|(a, b)| a != b)
        .or_else(|| (expected.len() != actual.len()).then(|| expected.len().min(actual.len()) - 1));
    if let Some(at) = at {
        let _ = writeln!(out, "          {}^", " ".repeat(at));
    }
}

/// One line of text as shown in a diff: escaped, without its `\n`.
fn shown_line(line: &str) -> String {
    escape_bytes(line.strip_suffix('\n').unwrap_or(line).as_bytes())
}

fn line_diff(out: &mut String, e: &Evidence) {
    // What arrived was read through the line that differs: compare the expected text
    // through the same line, so the lines that never had a chance to arrive are not
    // listed as missing.
    let through = match (e.cut.is_empty(), e.first_difference()) {
        (false, Some(at)) => {
            let at = at - e.offset;
            e.expected[at.min(e.expected.len())..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(e.expected.len(), |p| at + p + 1)
        }
        _ => e.expected.len(),
    };
    let expected = String::from_utf8_lossy(&e.expected[..through]);
    let actual = String::from_utf8_lossy(&e.actual);
    let diff = TextDiff::from_lines(expected.as_ref(), actual.as_ref());
    out.push_str("line by line (- expected, + arrived):\n");
    for (i, group) in diff.grouped_ops(3).iter().enumerate() {
        if i > 0 {
            out.push_str("  …\n");
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let sign = match change.tag() {
                    ChangeTag::Equal => ' ',
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                };
                let _ = writeln!(out, "{sign} {}", shown_line(change.value()));
            }
        }
    }
}

fn pattern(out: &mut String, e: &Evidence) {
    let _ = writeln!(out, "pattern: {}", String::from_utf8_lossy(&e.expected));
    let text = String::from_utf8_lossy(&e.actual);
    let count = format!("({}{})", bytes(e.actual_len), e.end);
    let binary = e
        .actual
        .iter()
        .any(|&b| !(b.is_ascii_graphic() || matches!(b, b' ' | b'\r' | b'\n' | b'\t')));
    if binary {
        let _ = writeln!(out, "arrived {count}, in hex:");
        for (i, row) in e.actual.chunks(16).enumerate() {
            let hex: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
            let _ = writeln!(out, "{:08x}  {}", i * 16, hex.join(" "));
        }
        return;
    }
    if text.lines().count() <= 1 {
        let _ = writeln!(out, "arrived: \"{}\" {count}", escape_bytes(&e.actual));
        return;
    }
    let _ = writeln!(out, "arrived {count}:");
    for line in text.split_inclusive('\n') {
        let _ = writeln!(out, "  | {}", shown_line(line));
    }
}

fn hex_dump(out: &mut String, e: &Evidence) {
    let first = e.first_difference().map(|at| at - e.offset);
    let rows = e.expected.len().max(e.actual.len()).div_ceil(16);
    let (from, to) = match first {
        Some(at) => (
            (at / 16).saturating_sub(HEX_ROWS_BEFORE),
            (at / 16 + HEX_ROWS_AFTER + 1).min(rows),
        ),
        None => (0, rows.min(HEX_ROWS_BEFORE + HEX_ROWS_AFTER + 1)),
    };
    if from > 0 {
        out.push_str("  …\n");
    }
    for row in from..to {
        let at = row * 16;
        let side = |d: &[u8]| {
            (at..at + 16)
                .map(|i| d.get(i).map_or("  ".to_string(), |b| format!("{b:02x}")))
                .collect::<Vec<_>>()
                .join(" ")
        };
        // Only bytes present on both sides and different are marked: what did not
        // arrive is simply blank.
        let marks: String = (at..at + 16)
            .map(|i| match (e.expected.get(i), e.actual.get(i)) {
                (Some(a), Some(b)) if a != b => "^^ ",
                _ => "   ",
            })
            .collect();
        let _ = writeln!(
            out,
            "{:08x}  expected  {}",
            e.offset + at,
            side(&e.expected).trim_end()
        );
        if at < e.actual.len() {
            let _ = writeln!(out, "          arrived   {}", side(&e.actual).trim_end());
        }
        if marks.contains('^') {
            let _ = writeln!(out, "                    {}", marks.trim_end());
        }
    }
    if to < rows {
        out.push_str("  …\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_that_differs_in_a_long_reply_is_shown() {
        let expected = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n";
        let actual = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\n";
        let text = render(&Evidence::compare(EvidenceKind::Text, expected, actual));
        assert!(text.contains("- Content-Type: text/plain\\r"), "{text}");
        assert!(text.contains("+ Content-Type: text/html\\r"), "{text}");
        assert!(text.contains("  Server: nginx\\r"), "{text}");
    }

    #[test]
    fn one_line_gets_a_caret() {
        let text = render(&Evidence::compare(EvidenceKind::Text, b"HELLO", b"HELxO"));
        assert_eq!(
            text,
            "expected 5 bytes, arrived 5 bytes; first difference at byte 4\nexpected: \"HELLO\"\nactual:   \"HELxO\"\n              ^\n"
        );
    }

    #[test]
    fn hex_marks_the_differing_bytes() {
        let text = render(&Evidence::compare(
            EvidenceKind::Hex,
            &[0x12, 0x34, 0x81, 0x80],
            &[0x12, 0x34, 0x81, 0x83],
        ));
        assert!(text.contains("expected  12 34 81 80"), "{text}");
        assert!(text.contains("arrived   12 34 81 83"), "{text}");
        assert!(text.contains("         ^^"), "{text}");
    }

    #[test]
    fn a_pattern_shows_what_arrived_without_a_caret() {
        let text = render(&Evidence::pattern("/^250 /", b"550 no\r\n"));
        assert_eq!(
            text,
            "pattern: /^250 /\narrived: \"550 no\\r\\n\" (8 bytes)\n"
        );
    }
}
