/*!
A step's detail in the transcript: what it sent or read, as the transcript shows it.

Most steps of a long script send or read a short text; escaping it for every step of a
run whose transcript nobody reads (a passing `netdrill run`) was a twentieth of the run.
A short text is kept as it is, shared with the scenario, and escaped only when the
transcript is shown: [`Detail::quoted`]. Everything else is text already.
*/

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::escape::{SHOW_LIMIT, show_bytes};

/// What a step sent or read, as the transcript shows it.
#[derive(Debug, Clone)]
pub struct Detail(Shown);

#[derive(Debug, Clone)]
enum Shown {
    /// Already as shown.
    Text(String),
    /// A short text, shown quoted and escaped ([`show_bytes`]) when it is read.
    Quoted(Arc<str>),
}

impl Detail {
    /// No detail (the word says it all).
    pub fn none() -> Detail {
        Detail(Shown::Text(String::new()))
    }

    /// `text`, shown quoted and escaped: kept as it is when short (at most
    /// [`SHOW_LIMIT`] bytes, so showing it is cheap), escaped now when longer.
    pub fn quoted(text: &Arc<str>) -> Detail {
        if text.len() <= SHOW_LIMIT {
            Detail(Shown::Quoted(Arc::clone(text)))
        } else {
            Detail(Shown::Text(show_bytes(text.as_bytes())))
        }
    }

    /// As the transcript shows it.
    pub fn text(&self) -> Cow<'_, str> {
        match &self.0 {
            Shown::Text(t) => Cow::Borrowed(t),
            Shown::Quoted(t) => Cow::Owned(show_bytes(t.as_bytes())),
        }
    }

    /// True when there is nothing to show.
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            Shown::Text(t) => t.is_empty(),
            // Even an empty text shows as `""`.
            Shown::Quoted(_) => false,
        }
    }

    /// Adds `more` at the end (` (resent once)`).
    pub fn push_str(&mut self, more: &str) {
        if let Shown::Quoted(_) = &self.0 {
            self.0 = Shown::Text(self.text().into_owned());
        }
        if let Shown::Text(t) = &mut self.0 {
            t.push_str(more);
        }
    }
}

impl From<String> for Detail {
    fn from(text: String) -> Detail {
        Detail(Shown::Text(text))
    }
}

impl From<&str> for Detail {
    fn from(text: &str) -> Detail {
        Detail(Shown::Text(text.to_string()))
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl PartialEq for Detail {
    fn eq(&self, other: &Detail) -> bool {
        self.text() == other.text()
    }
}

impl Eq for Detail {}

impl serde::Serialize for Detail {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_text_shows_as_show_bytes_would() {
        let text: Arc<str> = Arc::from("a \"b\"\n");
        let d = Detail::quoted(&text);
        assert_eq!(d.to_string(), show_bytes(text.as_bytes()));
        assert_eq!(d, Detail::from(show_bytes(text.as_bytes())));
        assert!(!d.is_empty());
        assert!(!Detail::quoted(&Arc::from("")).is_empty());
        assert!(Detail::none().is_empty());
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            serde_json::to_string(&show_bytes(text.as_bytes())).unwrap()
        );
    }

    #[test]
    fn a_long_text_is_shortened_and_more_can_be_added() {
        let long: Arc<str> = Arc::from("x".repeat(SHOW_LIMIT + 1));
        let d = Detail::quoted(&long);
        assert_eq!(d.to_string(), show_bytes(long.as_bytes()));
        let mut short = Detail::quoted(&Arc::from("hi"));
        short.push_str(" (resent once)");
        assert_eq!(short.to_string(), "\"hi\" (resent once)");
    }
}
