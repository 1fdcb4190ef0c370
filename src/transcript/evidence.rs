/*!
What a failing step compared, kept in full (up to a bound) for the reports.

A transcript line shows data escaped and shortened (64 bytes, then length and SHA-256),
so that it stays one line and a snapshot stays small. A student whose server sent the
wrong header on line 7 of a 220-byte reply needs to see line 7: the human and JSON
reports render the [`Evidence`] of a failure instead — everything up to
[`EVIDENCE_LIMIT`] bytes, and beyond that the region around the first difference.

What is kept never depends on how the bytes were split into reads: a mismatch found
before all the data arrived keeps what arrived through the first wrong byte, no more
(see `interp::tcp`).
*/

/// The most bytes of each side kept in full.
pub const EVIDENCE_LIMIT: usize = 4096;

/// How much is kept before the first difference when a side is over the limit.
const CONTEXT_BEFORE: usize = 1024;

/// What is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceKind {
    /// Bytes the scenario wrote as text: shown as text, with a line diff.
    Text,
    /// Bytes the scenario wrote in hex: shown as a hex dump.
    Hex,
    /// A pattern: only what arrived is shown, in full; there is nothing to diff with.
    Pattern,
}

/// Expected and actual bytes of a failing step, windowed to the bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// How to show it.
    pub kind: EvidenceKind,
    /// The expected bytes kept (for a pattern: the pattern's text).
    pub expected: Vec<u8>,
    /// The bytes that arrived, kept.
    pub actual: Vec<u8>,
    /// Offset of the kept window in both sides (0 when everything is kept).
    pub offset: usize,
    /// Full lengths of the two sides.
    pub expected_len: usize,
    /// See `expected_len`.
    pub actual_len: usize,
    /// What came after the actual bytes, if anything: " then EOF", " then RST".
    pub end: &'static str,
    /// Where what arrived was cut, when the step stopped reading at a mismatch:
    /// "through the line that differs", "through the first wrong byte".
    pub cut: &'static str,
}

impl Evidence {
    /// Expected and actual bytes, windowed around their first difference when either
    /// is over the limit.
    pub fn compare(kind: EvidenceKind, expected: &[u8], actual: &[u8]) -> Evidence {
        let first = expected
            .iter()
            .zip(actual)
            .position(|(a, b)| a != b)
            .unwrap_or(expected.len().min(actual.len()));
        let offset = if expected.len().max(actual.len()) <= EVIDENCE_LIMIT {
            0
        } else {
            first.saturating_sub(CONTEXT_BEFORE)
        };
        let window =
            |d: &[u8]| d[offset.min(d.len())..(offset + EVIDENCE_LIMIT).min(d.len())].to_vec();
        Evidence {
            kind,
            expected: window(expected),
            actual: window(actual),
            offset,
            expected_len: expected.len(),
            actual_len: actual.len(),
            end: "",
            cut: "",
        }
    }

    /// What arrived, against a pattern (`pattern` is shown as written).
    pub fn pattern(pattern: &str, actual: &[u8]) -> Evidence {
        Evidence {
            kind: EvidenceKind::Pattern,
            expected: pattern.as_bytes().to_vec(),
            actual: actual[..actual.len().min(EVIDENCE_LIMIT)].to_vec(),
            offset: 0,
            expected_len: pattern.len(),
            actual_len: actual.len(),
            end: "",
            cut: "",
        }
    }

    /// The same, saying where what arrived was cut.
    pub fn cut(mut self, cut: &'static str) -> Evidence {
        self.cut = cut;
        self
    }

    /// The same, saying how the stream ended after what arrived.
    pub fn ended(mut self, end: &'static str) -> Evidence {
        self.end = end;
        self
    }

    /// The byte offset of the first difference, if the two sides differ.
    pub fn first_difference(&self) -> Option<usize> {
        if self.kind == EvidenceKind::Pattern {
            return None;
        }
        self.expected
            .iter()
            .zip(&self.actual)
            .position(|(a, b)| a != b)
            .or_else(|| {
                (self.expected_len != self.actual_len)
                    .then(|| self.expected.len().min(self.actual.len()))
            })
            .map(|at| at + self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_data_is_kept_whole() {
        let e = Evidence::compare(EvidenceKind::Text, b"HELLO\n", b"HELLx\n");
        assert_eq!((e.offset, e.expected.len(), e.actual.len()), (0, 6, 6));
        assert_eq!(e.first_difference(), Some(4));
        let same_prefix = Evidence::compare(EvidenceKind::Text, b"ab", b"abc");
        assert_eq!(same_prefix.first_difference(), Some(2));
    }

    #[test]
    fn long_data_keeps_the_region_around_the_first_difference() {
        let expected = vec![b'a'; 100_000];
        let mut actual = expected.clone();
        actual[50_000] = b'b';
        let e = Evidence::compare(EvidenceKind::Text, &expected, &actual);
        assert_eq!(e.offset, 50_000 - CONTEXT_BEFORE);
        assert_eq!(e.actual.len(), EVIDENCE_LIMIT);
        assert_eq!(e.first_difference(), Some(50_000));
        assert_eq!((e.expected_len, e.actual_len), (100_000, 100_000));
    }
}
