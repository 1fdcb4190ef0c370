/*!
`parallel = N, steps = [...]`: N concurrent copies of a block of steps, each with fresh
actors (a concurrent server must serve them all at once). The copies run in
`crate::interp::parallel`; this file is the declaration and the parse.
*/

use super::{Action, BASE, Decl, Session, State, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::scenario::model::{Scenario, Step};
use crate::scenario::raw;

/// The most copies a `parallel` step may ask for.
pub const MAX_PARALLEL: i64 = 10_000;

/// `parallel`.
pub const PARALLEL: Decl = Decl {
    word: Word {
        name: "parallel",
        value: ValueType::Positive,
        about: "run this many concurrent copies of `steps`, each with fresh actors",
    },
    state: State::NoActor,
    waits: true,
    modifiers: &["steps"],
    parse,
    ..BASE
};

/// `parallel = N, steps = [...]`.
#[derive(Debug, Clone)]
pub struct Parallel {
    /// N.
    pub copies: usize,
    /// The steps each copy runs.
    pub steps: Vec<Step>,
}

fn parse(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    let copies = raw::expect_int_in("parallel", cx.value(), 1, MAX_PARALLEL);
    let Some((list, _)) = cx.modifier("steps") else {
        return Err(Problem::new(cx.key(), "`parallel` without `steps`", "no steps")
            .help("give the steps each copy runs: `{ parallel = 10, steps = [ { connect = \"target\" }, … ] }`"));
    };
    // The block is checked even when the count is wrong, so all its problems show.
    let steps = cx.nested_steps(list);
    Ok(Action::Parallel(Parallel {
        copies: copies? as usize,
        steps,
    }))
}

impl Parallel {
    /// The action's word.
    pub fn word(&self) -> &'static str {
        "parallel"
    }

    /// True when a step of the block talks to the target.
    pub fn uses_target(&self, _: &Step, sc: &Scenario) -> bool {
        self.steps.iter().any(|s| s.action.uses_target(s, sc))
    }

    /// How many copies.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        format!("{} copies", self.copies)
    }

    /// The session runs the copies itself (`crate::interp::parallel`): a block's steps
    /// are a session's, not one action's.
    pub async fn exec(&self, _: &mut Session<'_, '_>, _: &Step) -> StepOutput {
        Ok(None)
    }
}
