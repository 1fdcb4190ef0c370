/*!
`spawn`: start a program as an actor — a command line, or (`true`) the target's own
command for a target that is a client, told the port of the first scripted listener.
Every program runs in its own process group (and PID namespace) and is reaped.
*/

use super::{Action, BASE, Decl, Makes, Session, State, StepCx, StepOutput, ValueType, Word};
use crate::diagnostic::Problem;
use crate::interp::process::ChildGroup;
use crate::interp::session::Actor;
use crate::scenario::model::{ActorKind, Role, Step, Template};
use crate::scenario::raw::{self, span};
use crate::transcript::Failure;

/// `spawn`.
pub const SPAWN: Decl = Decl {
    word: Word {
        name: "spawn",
        value: ValueType::TextOrTrue,
        about: "process: start this command (true: the target's own command)",
    },
    kinds: super::PROCESS,
    makes: Makes::Kind(ActorKind::Process),
    state: State::Opens,
    parse,
    ..BASE
};

/// `spawn`.
#[derive(Debug, Clone)]
pub struct Spawn {
    /// A command line, or `None` for the target's own command.
    pub command: Option<Template>,
}

fn parse(cx: &mut StepCx<'_, '_>) -> Result<Action, Problem> {
    let v = cx.value();
    let command = match v.get_ref() {
        raw::DeValue::Boolean(true) => {
            if cx.role() != Role::Client {
                return Err(Problem::new(
                    span(v),
                    "`spawn = true` starts the target's own command, but the target is a server",
                    "target is a server",
                )
                .help("set `role = \"client\"` in [target] (then the target is started by this step), or give a command: `spawn = \"python3 client.py\"`"));
            }
            None
        }
        raw::DeValue::String(s) => {
            if cx.actor() == "target" {
                return Err(Problem::new(
                    span(v),
                    "the target's command comes from [target] `command` (or the CLI)",
                    "not a command here",
                )
                .help("write `{ target.spawn = true }`"));
            }
            if s.trim().is_empty() {
                return Err(Problem::new(span(v), "`spawn` needs a command", "empty"));
            }
            Some(cx.text("spawn", v, s)?)
        }
        _ => {
            return Err(Problem::new(
                span(v),
                format!(
                    "`spawn` takes a command string or `true`, not {}",
                    raw::type_name(v.get_ref())
                ),
                "bad value",
            ));
        }
    };
    Ok(Action::Spawn(Spawn { command }))
}

super::plain_action!(Spawn, "spawn");

impl Spawn {
    /// The command as written.
    pub fn detail(&self, _: &Session<'_, '_>) -> String {
        match &self.command {
            Some(c) => format!("\"{c}\""),
            None => "the target's command".into(),
        }
    }

    /// Starts the program.
    pub async fn exec(&self, cx: &mut Session<'_, '_>, step: &Step) -> StepOutput {
        let mut env = Vec::new();
        let line = match &self.command {
            Some(c) => cx.render(c)?,
            None => target_command(cx, &mut env)?,
        };
        let child = ChildGroup::spawn(&line, cx.cwd(), &env)
            .map_err(|e| Failure::msg(format!("could not start `{line}`: {e}")))?;
        cx.add_actor(&step.actor, Actor::Process(Box::new(child)));
        Ok(None)
    }
}

/// The target's command line, its `{{port}}` the port it must connect to (also in
/// `NETDRILL_PORT`).
fn target_command(
    cx: &Session<'_, '_>,
    env: &mut Vec<(String, String)>,
) -> Result<String, Failure> {
    let Some(cmd) = cx.target_command() else {
        return Err(Failure::msg(
            "the target has no command to spawn (set [target] command or --target-cmd)",
        ));
    };
    let port = cx.port_for_client_target();
    if let Some(p) = &port {
        env.push(("NETDRILL_PORT".to_string(), p.clone()));
    }
    let template = Template::parse(cmd)
        .map_err(|e| Failure::msg(format!("bad target command: {}", e.message)))?;
    let value = |name: &str| match name {
        "port" => port.clone(),
        _ => cx.var(name).map(str::to_string),
    };
    if let Some(name) = template.vars().find(|name| value(name).is_none()) {
        return Err(Failure::msg(format!(
            "`{{{{{name}}}}}` in the target's command has no value: listen or bind first"
        )));
    }
    template
        .render(value)
        .map_err(|e| Failure::msg(format!("the target's command: {e}")))
}
