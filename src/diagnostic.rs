/*!
Diagnostics: typed miette errors that name the file, line and column, underline the
span and say how to fix it.
*/

/// Everything wrong with one scenario file.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("invalid scenario")]
pub struct LoadError {}
