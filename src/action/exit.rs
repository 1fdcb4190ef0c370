/*!
A process's end: `exit` (it exits with this code, within the wait) and `kill` (end it:
SIGTERM, then SIGKILL).
*/

use super::{Action, BASE, Decl, Session, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::interp::session::KILL_GRACE;
use crate::scenario::model::Step;
use crate::scenario::raw;
use crate::transcript::Failure;

/// `exit`.
pub const EXIT: Decl = Decl {
    word: Word {
        name: "exit",
        value: ValueType::Integer,
        about: "process: it exits with this code",
    },
    kinds: super::PROCESS,
    waits: true,
    parse,
    ..BASE
};

/// `kill`.
pub const KILL: Decl = Decl {
    word: Word {
        name: "kill",
        value: ValueType::True,
        about: "process: end it (SIGTERM, then SIGKILL)",
    },
    kinds: super::PROCESS,
    parse: |cx| {
        raw::expect_true("kill", cx.value())?;
        Ok(Action::Kill(Kill))
    },
    ..BASE
};

/// `exit`: the process exits with this code.
#[derive(Debug, Clone)]
pub struct Exit(pub i32);

/// `kill = true`.
#[derive(Debug, Clone)]
pub struct Kill;

fn parse(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    let code = raw::expect_int_in("exit", cx.value(), i64::from(i32::MIN), i64::from(i32::MAX))?;
    Ok(Action::Exit(Exit(code as i32)))
}

super::plain_action!(Exit, "exit");
super::plain_action!(Kill, "kill");

impl Exit {
    /// The code.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        self.0.to_string()
    }

    /// Waits for the exit and compares its status; the end of its stderr explains a
    /// wrong one.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let timeout = cx.timeout(step);
        let child = cx.process(&step.actor)?;
        let info = child.wait_exit(timeout).await.map_err(|e| {
            Failure::msg(format!(
                "it did not exit within {}: {e}",
                humantime::format_duration(timeout)
            ))
        })?;
        if info.code() == Some(self.0) {
            return Ok(None);
        }
        Err(Failure::diff(
            child.with_stderr_tail("it exited with another status"),
            format!("exit {}", self.0),
            info.to_string(),
        ))
    }
}

impl Kill {
    /// Nothing to add to the word.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        String::new()
    }

    /// Ends it.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        cx.process(&step.actor)?.terminate(KILL_GRACE).await;
        Ok(None)
    }
}
