/*!
`--color auto|always|never` (every subcommand) and `NO_COLOR`: one decision for the
whole process, read by every writer of colour (the human report, miette diagnostics,
snapshot diffs, the progress bar).

`auto` colours a stream that is a terminal, unless `NO_COLOR` is set to a non-empty
value (<https://no-color.org>) or `TERM` is `dumb`. `always` and `never` override both.
*/

use std::io::IsTerminal;
use std::sync::OnceLock;

/// When to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    #[default]
    Auto,
    /// Always, even into a pipe or a file.
    Always,
    /// Never.
    Never,
}

static CHOICE: OnceLock<ColorChoice> = OnceLock::new();

/// Records the command line's choice (the first call wins).
pub fn set(choice: ColorChoice) {
    let _ = CHOICE.set(choice);
}

/// Whether to colour standard output.
pub fn stdout() -> bool {
    decide(std::io::stdout().is_terminal())
}

/// Whether to colour standard error.
pub fn stderr() -> bool {
    decide(std::io::stderr().is_terminal())
}

fn decide(terminal: bool) -> bool {
    match CHOICE.get().copied().unwrap_or_default() {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            terminal
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        }
    }
}
