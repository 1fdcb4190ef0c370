/*!
Loading and selecting scenarios: every file is loaded (an invalid one is kept, to be
reported, whatever the selection); valid ones are kept when their tags and name pass
`--tag`, `--skip-tag` and `--filter`. `--list` prints the selection without running it.
*/

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::RunArgs;
use super::outcome::invalid_outcome;
use crate::cli::{EXIT_INVALID, EXIT_OK};
use crate::report::ScenarioOutcome;
use crate::scenario::{Scenario, load_file};

/// A file to run, or the report of one that could not be loaded.
pub(super) struct Item {
    pub(super) file: PathBuf,
    pub(super) loaded: Result<Arc<Scenario>, ScenarioOutcome>,
}

/// Loads `files` and keeps the selected ones (and every invalid one), in order.
pub(super) fn load(files: Vec<PathBuf>, args: &RunArgs) -> Vec<Item> {
    files
        .into_iter()
        .map(|file| {
            let loaded = load_file(&file)
                .map(Arc::new)
                .map_err(|e| invalid_outcome(&file, &e));
            Item { file, loaded }
        })
        .filter(|item| match &item.loaded {
            Ok(sc) => selected(sc, &item.file, args),
            Err(_) => true,
        })
        .collect()
}

/// `--tag` (any of them), `--skip-tag` (none of them), `--filter` (name or path).
fn selected(sc: &Scenario, file: &std::path::Path, args: &RunArgs) -> bool {
    let tagged = args.tags.is_empty() || sc.tags.iter().any(|t| args.tags.contains(t));
    let skipped = sc.tags.iter().any(|t| args.skip_tags.contains(t));
    let matched = args
        .filter
        .as_ref()
        .is_none_or(|re| re.is_match(&sc.name) || re.is_match(&file.to_string_lossy()));
    tagged && !skipped && matched
}

/// `--list`: one line per selected file (path, name, tags); invalid files are listed as
/// such, with their diagnostics on stderr, and make the exit status 2.
pub(super) fn list(items: &[Item]) -> ExitCode {
    let mut invalid = 0;
    for item in items {
        match &item.loaded {
            Ok(sc) => {
                let tags = if sc.tags.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", sc.tags.join(", "))
                };
                println!("{}  {}{tags}", item.file.display(), sc.name);
            }
            Err(outcome) => {
                invalid += 1;
                println!("{}  (invalid)", item.file.display());
                if let Some((text, _)) = &outcome.error {
                    eprint!("{text}");
                }
            }
        }
    }
    ExitCode::from(if invalid > 0 { EXIT_INVALID } else { EXIT_OK })
}
