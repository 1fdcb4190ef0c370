/*!
Scenario files: parse (raw TOML tree with spans), validate (typed model), template.

[`load_file`] and [`load_str`] are the entry points: they report every problem of a file
together, as one [`crate::diagnostic::LoadError`].

- `raw`: the spanned TOML tree and typed accessors; `schema`: the JSON Schema document;
- `validate` (top level, `[target]`, `[actors]`, `[vars]`, `[link]`) and `steps` (the
  step grammar, actors and variables): raw tree → [`Scenario`];
- `values` (templates, regexes, hex, addresses), `vocab` (the action and modifier
  words, derived from `crate::action`), `suggest` ("did you mean");
- `model`, `template`: the typed scenario every other part uses.
*/

pub mod filters;
pub mod load;
pub mod model;
pub mod raw;
pub mod schema;
pub mod steps;
pub mod suggest;
pub mod template;
pub mod validate;
pub mod values;
pub mod vocab;

pub use load::{
    Found, LARGE_FILE, collect, collect_files, leave_large_parse_trees_to_exit, load_bytes,
    load_file, load_str,
};
pub use model::*;
