/*!
`netdrill init [DIR]`: write a starter suite into DIR (default `.`): three example
scenarios, the JSON Schema with the taplo file that wires it to the scenarios, and a
GitHub Actions workflow.

The templates are the files in `src/cli/init/`. An existing file is never overwritten:
it is skipped, and said so. Exit status 0, or 2 when DIR or a file cannot be written.
*/

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{EXIT_INVALID, EXIT_OK};

/// Arguments of `init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The directory to write the suite into (created if needed).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// Where the workflow goes, for the hint after writing it.
const WORKFLOW: &str = ".github/workflows/netdrill.yml";

/// The files of the starter suite: where each goes under DIR, and its text.
fn templates() -> Result<Vec<(&'static str, String)>, serde_json::Error> {
    Ok(vec![
        (
            "scenarios/tcp-uppercase.toml",
            include_str!("init/tcp-uppercase.toml").into(),
        ),
        (
            "scenarios/udp-uppercase.toml",
            include_str!("init/udp-uppercase.toml").into(),
        ),
        (
            "scenarios/client.toml",
            include_str!("init/client.toml").into(),
        ),
        ("netdrill.schema.json", super::schema::text()?),
        (".taplo.toml", include_str!("init/taplo.toml").into()),
        (WORKFLOW, include_str!("init/netdrill.yml").into()),
    ])
}

/// What became of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// It was written.
    Wrote,
    /// Something was already there; it was left alone.
    Skipped,
}

/// Writes `text` to `root/rel`, creating the directories on the way, unless something
/// already exists there. The file is created with `create_new`, so a file that appears
/// between a check and the write is never overwritten either.
fn write_new(root: &Path, rel: &str, text: &str) -> Result<Written, (PathBuf, io::Error)> {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| (parent.to_path_buf(), e))?;
    }
    let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(Written::Skipped),
        Err(e) => return Err((path, e)),
    };
    if let Err(e) = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
    {
        // Leave no half-written file behind: the next `init` would skip it.
        drop(file);
        let _ = std::fs::remove_file(&path);
        return Err((path, e));
    }
    Ok(Written::Wrote)
}

/// A path as the user should read it: relative to DIR as given (`.` left out).
fn shown(dir: &Path, rel: &str) -> String {
    if dir == Path::new(".") {
        rel.to_string()
    } else {
        dir.join(rel).display().to_string()
    }
}

/// Runs `init`.
pub fn main(args: InitArgs) -> ExitCode {
    let dir = args.dir;
    let templates = match templates() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: could not render the JSON Schema: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    if dir.exists() && !dir.is_dir() {
        eprintln!("error: {} exists and is not a directory", dir.display());
        return ExitCode::from(EXIT_INVALID);
    }
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return ExitCode::from(EXIT_INVALID);
    }
    let mut out = io::stdout().lock();
    let mut workflow_written = false;
    for (rel, text) in &templates {
        match write_new(&dir, rel, text) {
            Ok(Written::Wrote) => {
                workflow_written |= *rel == WORKFLOW;
                let _ = writeln!(out, "wrote {}", shown(&dir, rel));
            }
            Ok(Written::Skipped) => {
                let _ = writeln!(out, "skipped {}: already exists", shown(&dir, rel));
            }
            Err((path, e)) => {
                let _ = out.flush();
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::from(EXIT_INVALID);
            }
        }
    }
    let cd = if dir == Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", dir.display())
    };
    let _ = writeln!(
        out,
        "next: {cd}netdrill check scenarios/ && netdrill run scenarios/"
    );
    if workflow_written {
        let _ = writeln!(
            out,
            "      and set where CI installs netdrill from in {} (it says REPLACE-ME)",
            shown(&dir, WORKFLOW)
        );
    }
    ExitCode::from(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_new_file_and_the_directories_on_the_way() {
        let dir = tempfile::tempdir().unwrap();
        let got = write_new(dir.path(), "a/b/c.toml", "new").unwrap();
        assert_eq!(got, Written::Wrote);
        let text = std::fs::read_to_string(dir.path().join("a/b/c.toml")).unwrap();
        assert_eq!(text, "new");
    }

    #[test]
    fn an_existing_file_is_skipped_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("scenarios")).unwrap();
        let path = dir.path().join("scenarios/tcp-uppercase.toml");
        std::fs::write(&path, "mine").unwrap();
        let got = write_new(dir.path(), "scenarios/tcp-uppercase.toml", "template").unwrap();
        assert_eq!(got, Written::Skipped);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
    }

    #[test]
    fn an_existing_directory_in_the_files_place_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".taplo.toml")).unwrap();
        let got = write_new(dir.path(), ".taplo.toml", "template").unwrap();
        assert_eq!(got, Written::Skipped);
        assert!(dir.path().join(".taplo.toml").is_dir());
    }

    #[test]
    fn a_file_in_the_place_of_a_directory_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("scenarios"), "a file").unwrap();
        let (path, _) = write_new(dir.path(), "scenarios/client.toml", "template").unwrap_err();
        assert_eq!(path, dir.path().join("scenarios"));
    }

    #[test]
    fn a_second_pass_skips_everything_the_first_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let templates = templates().unwrap();
        for (rel, text) in &templates {
            assert_eq!(write_new(dir.path(), rel, text).unwrap(), Written::Wrote);
        }
        for (rel, text) in &templates {
            assert_eq!(write_new(dir.path(), rel, text).unwrap(), Written::Skipped);
        }
    }

    #[test]
    fn paths_are_shown_relative_to_dir_as_given() {
        assert_eq!(
            shown(Path::new("."), "scenarios/client.toml"),
            "scenarios/client.toml"
        );
        assert_eq!(
            shown(Path::new("suite"), "scenarios/client.toml"),
            "suite/scenarios/client.toml"
        );
    }
}
