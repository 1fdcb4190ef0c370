/*!
"Did you mean …?": the closest known word to a misspelt one.
*/

/// The candidate closest to `word`, when it is close enough to be a likely typo.
///
/// Uses Jaro-Winkler similarity (good at typos near the end of a word, common in
/// `recv_lnie`) and accepts a candidate at or above 0.85, or within a Damerau-Levenshtein
/// distance of 2 for short words.
pub fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = word.to_ascii_lowercase();
    let mut best: Option<(f64, &'a str)> = None;
    for cand in candidates {
        if cand == word {
            continue;
        }
        let jw = strsim::jaro_winkler(&lower, cand);
        let dl = strsim::damerau_levenshtein(&lower, cand);
        let close = jw >= 0.85 || (dl <= 2 && cand.len() > 2) || lower == cand;
        if !close {
            continue;
        }
        let score = jw - dl as f64 * 0.01;
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, cand));
        }
    }
    best.map(|(_, c)| c)
}

/// "did you mean `x`?" when there is a close candidate.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// `` `a`, `b` or `c` ``.
pub fn one_of(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_and_ignores_strangers() {
        let words = ["recv_line", "recv", "send", "shutdown", "timeout"];
        assert_eq!(closest("recv_lnie", words), Some("recv_line"));
        assert_eq!(closest("recvline", words), Some("recv_line"));
        assert_eq!(closest("timeuot", words), Some("timeout"));
        assert_eq!(closest("sned", words), Some("send"));
        assert_eq!(closest("banana", words), None);
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
