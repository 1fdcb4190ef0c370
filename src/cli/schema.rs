/*!
`netdrill schema`: print the JSON Schema (draft 2020-12) of the scenario format.

Editors use it to complete and check scenario files (see docs/editors.md).
*/

use std::io::Write;
use std::process::ExitCode;

use super::{EXIT_FAILED, EXIT_OK};

/// The JSON Schema as `netdrill schema` prints it (pretty JSON, ending in a newline);
/// `netdrill init` writes the same text to `netdrill.schema.json`.
pub fn text() -> Result<String, serde_json::Error> {
    let schema = crate::scenario::schema::json_schema();
    Ok(serde_json::to_string_pretty(&schema)? + "\n")
}

/// Runs `schema`.
pub fn main() -> ExitCode {
    let text = match text() {
        Ok(text) => text,
        Err(e) => {
            eprintln!("netdrill schema: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    // A closed pipe (`netdrill schema | head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    ExitCode::from(EXIT_OK)
}
