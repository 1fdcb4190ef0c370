/*!
Diagnostics: typed miette errors that name the file, line and column, underline the
span and say how to fix it.

A scenario file that cannot be loaded gives one [`LoadError`]. When the file could be
read, its [`LoadError::Invalid`] variant holds the file's text and every [`Problem`]
found in it (all of them, sorted by position), so one run of `netdrill check` shows
everything to fix. The other variants are about the file itself: missing, unreadable,
not UTF-8, empty or too large.

[`render_plain`] renders any diagnostic without colour, the same way everywhere
(`check`, snapshots, run reports).
*/

use std::fmt;
use std::path::PathBuf;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};

/// The largest scenario file the loader reads.
pub const MAX_FILE_SIZE: u64 = 4 * 1024 * 1024;

/// The most problems one file reports (then one "… and N more").
pub const MAX_PROBLEMS: usize = 100;

/// What can be wrong with a scenario or rubric file itself, before its text is read
/// as TOML: [`read_text_file`] and [`text_from_bytes`] say which, and each loader turns
/// it into its own error.
#[derive(Debug)]
pub enum FileTrouble {
    /// It could not be read (missing, a directory, no permission…).
    Io(std::io::Error),
    /// It is larger than [`MAX_FILE_SIZE`] (its size in bytes).
    TooLarge(u64),
    /// It is not UTF-8: the first bad byte, its offset and 1-based line.
    NotUtf8 {
        /// Byte offset of the first byte that is not valid UTF-8.
        offset: usize,
        /// Its 1-based line.
        line: usize,
        /// The byte itself.
        byte: u8,
    },
}

/// Reads the text file at `path`: at most [`MAX_FILE_SIZE`] bytes, UTF-8.
pub fn read_text_file(path: &std::path::Path) -> Result<String, FileTrouble> {
    use std::io::Read;
    // Look before opening: opening a FIFO for reading blocks until a writer comes.
    let kind = std::fs::metadata(path)
        .map_err(FileTrouble::Io)?
        .file_type();
    if let Some(what) = not_regular(kind) {
        return Err(FileTrouble::Io(std::io::Error::other(format!(
            "it is {what}, not a regular file"
        ))));
    }
    let file = std::fs::File::open(path).map_err(FileTrouble::Io)?;
    let meta = file.metadata().map_err(FileTrouble::Io)?;
    if meta.len() > MAX_FILE_SIZE {
        return Err(FileTrouble::TooLarge(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(FileTrouble::Io)?;
    text_from_bytes(bytes)
}

/// What a file that is not a regular file is ("a directory", "a FIFO"…); `None` for a
/// regular file. Symbolic links are followed by the caller's `metadata`.
pub fn not_regular(kind: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_char_device() || kind.is_block_device() {
        Some("a device")
    } else {
        Some("not a file")
    }
}

/// The bytes of a file as text: at most [`MAX_FILE_SIZE`] bytes, UTF-8.
pub fn text_from_bytes(bytes: Vec<u8>) -> Result<String, FileTrouble> {
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(FileTrouble::TooLarge(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        FileTrouble::NotUtf8 {
            offset,
            line: bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1,
            byte: bytes.get(offset).copied().unwrap_or(0),
        }
    })
}

/// One thing wrong in a scenario file, at one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// One sentence: what is wrong.
    pub message: String,
    /// Where, in bytes of the file.
    pub span: SourceSpan,
    /// A short label under the span.
    pub label: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl Problem {
    /// A problem at `span`, with a short `label` under it.
    pub fn new(
        span: impl Into<SourceSpan>,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Problem {
        Problem {
            message: message.into(),
            span: span.into(),
            label: label.into(),
            help: None,
        }
    }

    /// Adds (or replaces) the help line.
    pub fn help(mut self, help: impl Into<String>) -> Problem {
        self.help = Some(help.into());
        self
    }

    /// Adds the help line when there is one.
    pub fn maybe_help(mut self, help: Option<String>) -> Problem {
        if help.is_some() {
            self.help = help;
        }
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(self.label.clone()),
            self.span,
        ))))
    }
}

/// Why a scenario file could not be loaded.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum LoadError {
    /// The file was read but is not a valid scenario: every problem found in it.
    #[error("{} is not a valid scenario ({})", path.display(), plural(problems.len(), "problem"))]
    Invalid {
        /// The file, as given.
        path: PathBuf,
        /// Its text, named by the path, for the snippets.
        #[source_code]
        src: NamedSource<String>,
        /// Every problem, sorted by position.
        #[related]
        problems: Vec<Problem>,
    },
    /// The file could not be read (missing, a directory, no permission…).
    #[error("cannot read {}: {source}", path.display())]
    #[diagnostic(help("check the path; `netdrill check` takes scenario files or directories"))]
    Io {
        /// The file, as given.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8 text.
    #[error(
        "{} is not UTF-8 text: byte {offset} (line {line}) is 0x{byte:02x}",
        path.display()
    )]
    #[diagnostic(help(
        "save the file as UTF-8; write raw bytes with `send_hex` instead of putting them in the file"
    ))]
    NotUtf8 {
        /// The file, as given.
        path: PathBuf,
        /// Byte offset of the first byte that is not valid UTF-8.
        offset: usize,
        /// Its 1-based line.
        line: usize,
        /// The byte itself.
        byte: u8,
    },
    /// The file is empty (or only whitespace).
    #[error("{} is empty", path.display())]
    #[diagnostic(help("a scenario needs at least `steps = [ {{ connect = \"target\" }}, … ]`"))]
    Empty {
        /// The file, as given.
        path: PathBuf,
    },
    /// The file is larger than [`MAX_FILE_SIZE`].
    #[error(
        "{} is too large: {size} bytes, the limit is {} bytes (4 MiB)",
        path.display(),
        MAX_FILE_SIZE
    )]
    #[diagnostic(help(
        "a scenario file is a script, not data: split it, or generate large payloads with `chunk` and shorter strings"
    ))]
    TooLarge {
        /// The file, as given.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },
}

impl LoadError {
    /// The error of a file that could not be read as text.
    pub fn from_trouble(path: &std::path::Path, trouble: FileTrouble) -> LoadError {
        let path = path.to_path_buf();
        match trouble {
            FileTrouble::Io(source) => LoadError::Io { path, source },
            FileTrouble::TooLarge(size) => LoadError::TooLarge { path, size },
            FileTrouble::NotUtf8 { offset, line, byte } => LoadError::NotUtf8 {
                path,
                offset,
                line,
                byte,
            },
        }
    }

    /// The file this error is about, as given to the loader.
    pub fn path(&self) -> &std::path::Path {
        match self {
            LoadError::Invalid { path, .. }
            | LoadError::Io { path, .. }
            | LoadError::NotUtf8 { path, .. }
            | LoadError::Empty { path }
            | LoadError::TooLarge { path, .. } => path,
        }
    }

    /// How many problems this error reports (1 for a file-level error).
    pub fn problem_count(&self) -> usize {
        match self {
            LoadError::Invalid { problems, .. } => problems.len(),
            _ => 1,
        }
    }

    /// The problems found in the file's text (empty for a file-level error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            LoadError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }

    /// An invalid-scenario error; sorts the problems by position and drops duplicates.
    pub fn invalid(path: PathBuf, source: &str, mut problems: Vec<Problem>) -> LoadError {
        problems.sort_by_key(|p| (p.span.offset(), p.span.len()));
        problems.dedup_by(|a, b| a.span == b.span && a.message == b.message);
        if problems.len() > MAX_PROBLEMS {
            let rest = problems.len() - MAX_PROBLEMS;
            let at = problems[MAX_PROBLEMS].span;
            problems.truncate(MAX_PROBLEMS);
            problems.push(
                Problem::new(
                    at,
                    format!("… and {}, not shown", plural(rest, "more problem")),
                    "and more from here",
                )
                .help("fix the problems above and check again"),
            );
        }
        LoadError::Invalid {
            src: NamedSource::new(path.display().to_string(), shown_source(source)),
            path,
            problems,
        }
    }
}

/// `1 problem`, `3 problems`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Renders a diagnostic as plain text (Unicode, no colour, width 100, no links): the
/// same output for `check`, snapshots and run reports.
pub fn render_plain(err: &dyn Diagnostic) -> String {
    render(err, false)
}

/// Most source text (a label's lines and one line of context each side) the graphical
/// handler is asked to draw; miette's drawing uses
/// `u16` format widths and panics past 65,535 columns, so wider lines (a generated
/// 1 MiB payload, say) are reported by the narratable handler instead.
const MAX_DRAWN_LINE: usize = 4_096;

/// Renders `err` (and its related diagnostics) with miette: graphically, in colour when
/// `color`, or as plain narrated text when a label sits on a very long line.
pub fn render(err: &dyn Diagnostic, color: bool) -> String {
    let mut out = String::new();
    let rendered = if drawable(err, None) {
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        miette::GraphicalReportHandler::new_themed(theme)
            .with_width(100)
            .with_links(false)
            .with_urls(false)
            .render_report(&mut out, err)
    } else {
        narrate(err, None, &mut out);
        Ok(())
    };
    if rendered.is_err() {
        // Rendering only fails on a broken source span; fall back to the message.
        out = format!("Error: {err}\n");
    }
    out
}

/// A diagnostic whose label sits on a line too long to draw, as plain lines: the message,
/// each label with the file, line and column where it is and the start of what it marks
/// (at most 60 characters), the help; then the related diagnostics the same way.
fn narrate(diag: &dyn Diagnostic, parent: Option<&dyn miette::SourceCode>, out: &mut String) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "× {diag}");
    let source = diag.source_code().or(parent);
    if let (Some(src), Some(labels)) = (source, diag.labels()) {
        for l in labels {
            let Ok(c) = src.read_span(l.inner(), 0, 0) else {
                continue;
            };
            let text = String::from_utf8_lossy(c.data());
            let mut marked: String = text.chars().take(60).collect();
            if text.chars().count() > 60 {
                marked.push('…');
            }
            let _ = writeln!(
                out,
                "  at {}:{}:{}: {} ({marked})",
                c.name().unwrap_or("the file"),
                c.line() + 1,
                c.column() + 1,
                l.label().unwrap_or("here")
            );
        }
    }
    if let Some(help) = diag.help() {
        let _ = writeln!(out, "  help: {help}");
    }
    if let Some(related) = diag.related() {
        for d in related {
            out.push('\n');
            narrate(d, source, out);
        }
    }
}

/// True when every label of `diag` and its related diagnostics lies on lines short
/// enough to draw.
fn drawable(diag: &dyn Diagnostic, parent: Option<&dyn miette::SourceCode>) -> bool {
    let source = diag.source_code().or(parent);
    let labels_ok = match (source, diag.labels()) {
        (Some(src), Some(mut labels)) => labels.all(|l| {
            // One line of context each side, as the graphical handler shows.
            src.read_span(l.inner(), 1, 1)
                .map(|c| c.data().len() <= MAX_DRAWN_LINE)
                .unwrap_or(true)
        }),
        _ => true,
    };
    labels_ok
        && diag
            .related()
            .is_none_or(|mut r| r.all(|d| drawable(d, source)))
}

/// The file's text as a diagnostic shows it: a carriage return that does not end a line
/// (`\r` not before `\n`) becomes a space, one byte for one, so the report counts lines
/// as the file's author sees them, puts its caret on the right line, and never sends a raw
/// `\r` to the terminal (which would overwrite the start of the line).
pub fn shown_source(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    for (i, c) in source.char_indices() {
        if c == '\r' && bytes.get(i + 1) != Some(&b'\n') {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod render_tests {
    #[test]
    fn a_lone_carriage_return_is_shown_as_a_space() {
        assert_eq!(super::shown_source("a\rb\r\nc"), "a b\r\nc");
        assert_eq!(super::shown_source("é\r"), "é ");
    }

    use super::*;

    /// miette's graphical handler panics on lines over 65,535 columns; a problem next to
    /// such a line (a generated payload) must still render.
    #[test]
    fn a_problem_beside_a_huge_line_renders_without_panicking() {
        let big = "a".repeat(100_000);
        let text = format!(
            "name = \"x\"\ntags = [\"a\"\nsteps = [{{ connect = \"target\" }}]\n[vars]\nbig = \"{big}\"\nafter = \n"
        );
        let err = crate::scenario::load_str(&text, std::path::Path::new("huge.toml"))
            .expect_err("invalid");
        let shown = render_plain(&err);
        assert!(
            shown.contains("huge.toml"),
            "{}",
            &shown[..shown.len().min(500)]
        );
        assert!(shown.len() < 50_000 || shown.contains("syntax"));
    }
}
