/*!
`sleep`: wait a while, with no actor (to let a server reach a state, or to space out
steps on purpose; never to wait for readiness).
*/

use std::time::Duration;

use super::{Action, BASE, Decl, Session, State, StepOutput, ValueType, Word};
use crate::scenario::model::Step;
use crate::scenario::raw;

/// `sleep`.
pub const SLEEP: Decl = Decl {
    word: Word {
        name: "sleep",
        value: ValueType::Duration,
        about: "wait this long",
    },
    state: State::NoActor,
    parse: |cx| {
        Ok(Action::Sleep(Sleep(raw::expect_duration(
            "sleep",
            cx.value(),
            true,
        )?)))
    },
    ..BASE
};

/// `sleep`.
#[derive(Debug, Clone)]
pub struct Sleep(pub Duration);

super::plain_action!(Sleep, "sleep");

impl Sleep {
    /// How long.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        humantime::format_duration(self.0).to_string()
    }

    /// Sleeps.
    pub async fn exec(&self, _: &mut Session<'_, '_>, _: &Step) -> StepOutput {
        tokio::time::sleep(self.0).await;
        Ok(None)
    }
}
