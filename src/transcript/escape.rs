/*!
Showing bytes in a transcript: escaped, quoted, and shortened when long.

Printable ASCII stays as it is; `\n`, `\r`, `\t`, `\\`, `"` get their usual escapes and
every other byte is `\xNN`, so binary data and text with control characters are both
shown unambiguously on one line. Data longer than [`SHOW_LIMIT`] bytes is shown as its
first bytes, then its length and SHA-256.
*/

use super::sha256_hex;

/// Longest data shown in full, in bytes.
pub const SHOW_LIMIT: usize = 64;

/// Escapes `data` (no quotes, no shortening).
pub fn escape_bytes(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len());
    escape_into(&mut out, data);
    out
}

/// Which bytes stay as they are: printable ASCII but the backslash and `"`.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0x20;
    while b <= 0x7e {
        t[b] = b != b'\\' as usize && b != b'"' as usize;
        b += 1;
    }
    t
};

/// Appends `data`, escaped, to `out`: runs of bytes that stay as they are are copied
/// whole, so a plain line costs one copy (the transcript shows every step's data).
fn escape_into(out: &mut String, data: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut rest = data;
    while !rest.is_empty() {
        let run = rest
            .iter()
            .position(|&b| !PLAIN[usize::from(b)])
            .unwrap_or(rest.len());
        // Printable ASCII is UTF-8: the check cannot fail, and is one pass over the run.
        out.push_str(std::str::from_utf8(&rest[..run]).unwrap_or_default());
        let Some(&b) = rest.get(run) else { break };
        match b {
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            _ => {
                out.push_str("\\x");
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 0xf)] as char);
            }
        }
        rest = &rest[run + 1..];
    }
}

/// Quoted and escaped; data over [`SHOW_LIMIT`] bytes is shortened to its first 32 bytes,
/// followed by `… (N bytes, sha256 …)`.
pub fn show_bytes(data: &[u8]) -> String {
    if data.len() <= SHOW_LIMIT {
        let mut out = String::with_capacity(data.len() + 8);
        out.push('"');
        escape_into(&mut out, data);
        out.push('"');
        out
    } else {
        format!(
            "\"{}\"… ({} bytes, sha256 {})",
            escape_bytes(&data[..32]),
            data.len(),
            &sha256_hex(data)[..16]
        )
    }
}

/// Bytes as spaced hex (`de ad be ef`), shortened like [`show_bytes`] when long.
pub fn show_hex(data: &[u8]) -> String {
    let spaced = |d: &[u8]| {
        d.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if data.len() <= SHOW_LIMIT {
        format!("[{}]", spaced(data))
    } else {
        format!(
            "[{} …] ({} bytes, sha256 {})",
            spaced(&data[..32]),
            data.len(),
            &sha256_hex(data)[..16]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The escaping rule byte by byte, as the module doc states it.
    fn one_by_one(data: &[u8]) -> String {
        data.iter()
            .map(|&b| match b {
                b'\n' => "\\n".to_string(),
                b'\r' => "\\r".to_string(),
                b'\t' => "\\t".to_string(),
                b'\\' => "\\\\".to_string(),
                b'"' => "\\\"".to_string(),
                0x20..=0x7e => (b as char).to_string(),
                _ => format!("\\x{b:02x}"),
            })
            .collect()
    }

    proptest! {
        #[test]
        fn runs_are_escaped_as_byte_by_byte(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(escape_bytes(&data), one_by_one(&data));
            if data.len() <= SHOW_LIMIT {
                prop_assert_eq!(show_bytes(&data), format!("\"{}\"", one_by_one(&data)));
            }
        }
    }

    #[test]
    fn escapes_controls_and_binary() {
        assert_eq!(
            escape_bytes(b"a\"b\\\n\r\t\x00\xff"),
            "a\\\"b\\\\\\n\\r\\t\\x00\\xff"
        );
    }

    #[test]
    fn shortens_long_data_with_length_and_digest() {
        let data = vec![b'a'; 1000];
        let shown = show_bytes(&data);
        assert!(shown.starts_with(&format!("\"{}\"…", "a".repeat(32))));
        assert!(shown.contains("(1000 bytes, sha256 "));
        assert_eq!(show_bytes(b"x"), "\"x\"");
        assert_eq!(show_hex(&[0xde, 0xad, 0x00]), "[de ad 00]");
        let long = show_hex(&[0u8; 100]);
        assert!(
            long.starts_with("[00 00 ") && long.contains(" …] (100 bytes, sha256 "),
            "{long}"
        );
    }
}
