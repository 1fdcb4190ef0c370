/*! `netdrill schema`: print the JSON Schema of the scenario format. */

use std::process::ExitCode;

/// Runs `schema`.
pub fn main() -> ExitCode {
    todo!("schema")
}
