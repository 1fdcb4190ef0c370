/*!
The words of a step, derived from the action registry ([`crate::action::ACTIONS`]) and
the modifier registry ([`crate::action::modifiers::MODIFIERS`]): the loader checks steps
against them, "did you mean" suggests from them, and `netdrill schema` builds the step
schema from them, so none of these can disagree with the actions themselves.
*/

use crate::action::{ACTIONS, modifiers::MODIFIERS};
pub use crate::action::{ValueType, Word};

/// Every action word, in registry order.
pub fn actions() -> impl Iterator<Item = &'static Word> {
    ACTIONS.iter().map(|d| &d.word)
}

/// Every modifier word.
pub fn modifiers() -> impl Iterator<Item = &'static Word> {
    MODIFIERS.iter().map(|m| &m.word)
}

/// The action named `name`.
pub fn action(name: &str) -> Option<&'static Word> {
    crate::action::decl(name).map(|d| &d.word)
}

/// The modifier named `name`.
pub fn modifier(name: &str) -> Option<&'static Word> {
    crate::action::modifiers::modifier(name).map(|m| &m.word)
}

/// True for any action or modifier word (which cannot name an actor).
pub fn is_word(name: &str) -> bool {
    action(name).is_some() || modifier(name).is_some()
}

/// Every modifier word, in order.
pub fn modifier_words() -> Vec<&'static str> {
    modifiers().map(|w| w.name).collect()
}

/// Every action and modifier word.
pub fn all_words() -> impl Iterator<Item = &'static str> {
    actions().chain(modifiers()).map(|w| w.name)
}
