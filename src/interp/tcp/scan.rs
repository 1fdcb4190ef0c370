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

/// Position of the first byte of `got` that differs from `want`, where `any[i]` (when
/// given) lets byte `i` be anything.
pub fn masked_difference(got: &[u8], want: &[u8], any: &[bool]) -> Option<usize> {
    got.iter()
        .zip(want)
        .enumerate()
        .position(|(i, (g, w))| g != w && !any.get(i).copied().unwrap_or(false))
}

/// `want` with each wildcard byte taken from `got`: what a report compares, so that a
/// `??` never shows as a difference.
pub fn fill_wildcards(want: &[u8], any: &[bool], got: &[u8]) -> Vec<u8> {
    want.iter()
        .enumerate()
        .map(|(i, &w)| match (any.get(i), got.get(i)) {
            (Some(true), Some(&g)) => g,
            _ => w,
        })
        .collect()
}
