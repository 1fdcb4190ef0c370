/*!
Byte scans of the TCP actor: the first difference, a line's end, a partial line that can
still match, a delimiter.
*/

pub(super) fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y)
}

/// The line without its `\n` and a `\r` before it.
pub(crate) fn strip_eol(raw: &[u8]) -> &[u8] {
    let line = raw.strip_suffix(b"\n").unwrap_or(raw);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// True while `partial` (no `\n` yet) can still become `want` + optional `\r` + `\n`.
pub(super) fn line_prefix_ok(partial: &[u8], want: &[u8]) -> bool {
    if partial.len() <= want.len() {
        partial == &want[..partial.len()]
    } else {
        partial.len() == want.len() + 1 && partial.starts_with(want) && partial.ends_with(b"\r")
    }
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}
