/*!
Scenario files: parse (raw TOML tree with spans), validate (typed model), template.

[`load_file`] and [`load_str`] are the entry points: they report every problem of a file
together, as one [`crate::diagnostic::LoadError`].
*/

pub mod load;
pub mod model;
pub mod raw;
pub mod template;

pub use load::{collect_files, load_file, load_str};
pub use model::*;
