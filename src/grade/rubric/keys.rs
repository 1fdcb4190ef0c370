/*!
Where a key of a rubric sits, and what to say about a key that does not belong there:
most often it belongs elsewhere (a test's key at the top, a limit in `[target]`…).
*/

use miette::SourceSpan;

use super::{LIMIT_KEYS, TARGET_KEYS, TEST_KEYS, TOP_KEYS};
use crate::diagnostic::Problem;
use crate::scenario::suggest::{did_you_mean, one_of};

/// Where a key sits, for the help of an unknown key.
#[derive(Clone, Copy)]
pub(super) enum Place {
    Top,
    Target,
    Limits,
    Test(usize),
    TestTarget(usize),
}

impl Place {
    fn keys(self) -> &'static [&'static str] {
        match self {
            Place::Top => TOP_KEYS,
            Place::Target | Place::TestTarget(_) => TARGET_KEYS,
            Place::Limits => LIMIT_KEYS,
            Place::Test(_) => TEST_KEYS,
        }
    }

    fn name(self) -> String {
        match self {
            Place::Top => "the top level".to_string(),
            Place::Target => "[target]".to_string(),
            Place::Limits => "[limits]".to_string(),
            Place::Test(n) => format!("test {n}"),
            Place::TestTarget(n) => format!("[test.target] of test {n}"),
        }
    }
}

/// Why `key` is not known at `place`, and how to fix it.
pub(super) fn unknown_key(key: &str, k_span: SourceSpan, place: Place) -> Problem {
    let message = match place {
        Place::Top => format!("unknown top-level key `{key}`"),
        _ => format!("unknown key `{key}` in {}", place.name()),
    };
    let is_test_key = TEST_KEYS.contains(&key) && !matches!(key, "timeout" | "target");
    let elsewhere = match place {
        Place::Top if is_test_key => Some(format!(
            "`{key}` belongs to a test: start each test with a `[[test]]` line, then its `scenario` and `points`"
        )),
        Place::Target | Place::Limits if is_test_key => Some(format!(
            "`{key}` belongs to a test: add a `[[test]]` line above it (TOML puts every key after `{}` into that table)",
            place.name()
        )),
        Place::TestTarget(_) if is_test_key || key == "timeout" => Some(format!(
            "`{key}` belongs to the test itself: move it above `[test.target]`"
        )),
        Place::Target | Place::Limits if TOP_KEYS.contains(&key) => Some(format!(
            "`{key}` is a top-level key: move it above `{}` (TOML puts every key after a `[table]` header into that table)",
            place.name()
        )),
        Place::Top | Place::Limits if TARGET_KEYS.contains(&key) => {
            Some(format!("`{key}` belongs in [target]"))
        }
        Place::Test(_) if TARGET_KEYS.contains(&key) => Some(format!(
            "a test's own `{key}` goes in its `[test.target]` table (below the test's keys)"
        )),
        Place::Top | Place::Target | Place::TestTarget(_) if LIMIT_KEYS.contains(&key) => {
            Some(format!("`{key}` belongs in [limits]"))
        }
        Place::Test(_) if LIMIT_KEYS.contains(&key) => Some(format!(
            "limits apply to every test: move `{key}` into the rubric's [limits]"
        )),
        Place::Test(_) if key == "title" => Some("a test's title is its `name`".to_string()),
        Place::Target | Place::TestTarget(_) if matches!(key, "builtin" | "address") => Some(
            "a rubric's target is each submission's program, started with `command`; it replaces the scenario's target"
                .to_string(),
        ),
        _ => None,
    };
    let help = elsewhere
        .or_else(|| did_you_mean(key, place.keys().iter().copied()))
        .unwrap_or_else(|| format!("{} takes {}", place.name(), one_of(place.keys())));
    let help = match place {
        Place::Top => help.replace("the top level takes", "the top-level keys are"),
        _ => help,
    };
    Problem::new(k_span, message, "unknown key").help(help)
}
