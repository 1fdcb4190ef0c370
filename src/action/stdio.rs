/*!
A process's standard streams: `stdin` (write to it), `close_stdin`, `stdout_line` (the
next line it prints equals this) and `stdout_match` (the next line matches a regex).
*/

use super::recv_match::matched;
use super::{Action, BASE, Decl, Session, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::scenario::model::{Pattern, Step, Template};
use crate::scenario::raw;
use crate::transcript::{Evidence, EvidenceKind, Failure, show_bytes};

/// `stdin`.
pub const STDIN: Decl = Decl {
    word: Word {
        name: "stdin",
        value: ValueType::Text,
        about: "process: write to its standard input",
    },
    kinds: super::PROCESS,
    parse: |cx| Ok(Action::Stdin(Stdin(cx.own_text()?))),
    ..BASE
};

/// `close_stdin`.
pub const CLOSE_STDIN: Decl = Decl {
    word: Word {
        name: "close_stdin",
        value: ValueType::True,
        about: "process: close its standard input",
    },
    kinds: super::PROCESS,
    parse: |cx| {
        raw::expect_true("close_stdin", cx.value())?;
        Ok(Action::CloseStdin(CloseStdin))
    },
    ..BASE
};

/// `stdout_line`.
pub const STDOUT_LINE: Decl = Decl {
    word: Word {
        name: "stdout_line",
        value: ValueType::Text,
        about: "process: the next line it prints equals this",
    },
    kinds: super::PROCESS,
    waits: true,
    captures: true,
    parse: |cx| Ok(Action::StdoutLine(StdoutLine(cx.own_text()?))),
    ..BASE
};

/// `stdout_match`.
pub const STDOUT_MATCH: Decl = Decl {
    word: Word {
        name: "stdout_match",
        value: ValueType::Regex,
        about: "process: the next line it prints matches this regex",
    },
    kinds: super::PROCESS,
    waits: true,
    captures: true,
    parse: parse_stdout_match,
    ..BASE
};

/// `stdin`: write to the process's standard input.
#[derive(Debug, Clone)]
pub struct Stdin(pub Template);

/// `close_stdin = true`.
#[derive(Debug, Clone)]
pub struct CloseStdin;

/// `stdout_line`: the next line printed equals this.
#[derive(Debug, Clone)]
pub struct StdoutLine(pub Template);

/// `stdout_match`: the next line printed matches.
#[derive(Debug, Clone)]
pub struct StdoutMatch(pub Pattern);

fn parse_stdout_match(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    Ok(Action::StdoutMatch(StdoutMatch(
        cx.pattern("stdout_match", cx.value())?,
    )))
}

super::plain_action!(Stdin, "stdin");
super::plain_action!(CloseStdin, "close_stdin");
super::plain_action!(StdoutLine, "stdout_line");
super::plain_action!(StdoutMatch, "stdout_match");

impl Stdin {
    /// What is written.
    pub fn detail(&self, cx: &Session<'_, '_>) -> crate::transcript::Detail {
        cx.shown_text(&self.0)
    }

    /// Writes it.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let data = cx.render(&self.0)?;
        cx.process(&step.actor)?
            .write_stdin(data.as_bytes())
            .await
            .map_err(|e| Failure::msg(format!("could not write to its stdin: {e}")))?;
        Ok(None)
    }
}

impl CloseStdin {
    /// Nothing to add to the word.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        String::new()
    }

    /// Closes it: the program reads EOF.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        cx.process(&step.actor)?.close_stdin();
        Ok(None)
    }
}

impl StdoutLine {
    /// The line expected, as written.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        format!("\"{}\"", self.0)
    }

    /// Reads the next line it prints and compares it.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let want = cx.render(&self.0)?;
        let timeout = cx.timeout(step);
        let line = cx.stdout_line(&step.actor, timeout).await?;
        if line != want {
            return Err(Failure::diff(
                "the printed line differs from the expected one",
                show_bytes(want.as_bytes()),
                show_bytes(line.as_bytes()),
            )
            .with_evidence(Evidence::compare(
                EvidenceKind::Text,
                want.as_bytes(),
                line.as_bytes(),
            )));
        }
        Ok(Some(line.into_bytes()))
    }
}

impl StdoutMatch {
    /// The regex.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        format!("/{}/", self.0.template)
    }

    /// Reads the next line it prints and matches it.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let re = cx.regex(&self.0)?;
        let timeout = cx.timeout(step);
        let line = cx.stdout_line(&step.actor, timeout).await?;
        matched(&re, line.as_bytes()).map(Some)
    }
}
