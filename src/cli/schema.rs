/*!
`netdrill schema`: print the JSON Schema (draft 2020-12) of the scenario format.

Editors use it to complete and check scenario files (see docs/editors.md).
*/

use std::io::Write;
use std::process::ExitCode;

use super::{EXIT_FAILED, EXIT_OK};

/// Runs `schema`.
pub fn main() -> ExitCode {
    let schema = crate::scenario::schema::json_schema();
    let text = match serde_json::to_string_pretty(&schema) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("netdrill schema: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    // A closed pipe (`netdrill schema | head`) is not an error worth a panic.
    let _ = writeln!(std::io::stdout().lock(), "{text}");
    ExitCode::from(EXIT_OK)
}
