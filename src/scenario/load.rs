/*!
Reading a scenario file: read, parse, validate; every problem reported together.

- [`load_file`] reads a file (at most [`MAX_FILE_SIZE`] bytes, UTF-8) and validates it.
- [`load_str`] validates text already in memory, [`load_bytes`] bytes.
- [`collect_files`] expands the paths given on the command line.

Syntax errors come first: when the TOML does not parse, all of its syntax errors are
reported and nothing else (the tree after an error is a guess). Otherwise the validator
reports every problem it finds in one go.
*/

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::raw;
use super::validate::{syntax_problems, validate};
use crate::diagnostic::{LoadError, MAX_FILE_SIZE, read_text_file, text_from_bytes};
use crate::scenario::Scenario;

/// A scenario file from this size on is large: its parse tree (about 30 times its size)
/// is worth the care of [`leave_large_parse_trees_to_exit`] and the CLI's huge pages.
pub const LARGE_FILE: usize = 256 << 10;

/// How many more bytes of source may have their parse trees left to the end of the
/// process: none until a command asks, then [`LEAVE_AT_MOST`] in all, so a suite of many
/// large files frees the trees past the first few megabytes as usual.
static LEAVE_BUDGET: AtomicUsize = AtomicUsize::new(0);
const LEAVE_AT_MOST: usize = 4 << 20;

/// For a command that loads its files once and then exits (`netdrill run`, `check`):
/// the parse tree of a [`LARGE_FILE`] is not freed node by node once validated (for a
/// file of 20,000 steps that was 10.8M instructions, 4% of a whole `netdrill run`),
/// the process exit frees it (for files of up to 4 MiB in all: about 120 MB of trees).
/// A process that loads files over and over must not ask.
pub fn leave_large_parse_trees_to_exit() {
    LEAVE_BUDGET.store(LEAVE_AT_MOST, Ordering::Relaxed);
}

/// Reads and validates the scenario file at `path`.
pub fn load_file(path: &Path) -> Result<Scenario, LoadError> {
    let text = read_text_file(path).map_err(|t| LoadError::from_trouble(path, t))?;
    load_str(&text, path)
}

/// Validates the bytes of the scenario file `path` (checks size and UTF-8 first).
pub fn load_bytes(bytes: Vec<u8>, path: &Path) -> Result<Scenario, LoadError> {
    let text = text_from_bytes(bytes).map_err(|t| LoadError::from_trouble(path, t))?;
    load_str(&text, path)
}

/// Validates `source` as the scenario file `path`.
pub fn load_str(source: &str, path: &Path) -> Result<Scenario, LoadError> {
    if source.len() as u64 > MAX_FILE_SIZE {
        return Err(LoadError::TooLarge {
            path: path.to_path_buf(),
            size: source.len() as u64,
        });
    }
    if source.trim().is_empty() {
        return Err(LoadError::Empty {
            path: path.to_path_buf(),
        });
    }
    let (root, errors) = raw::parse(source);
    if !errors.is_empty() {
        return Err(LoadError::invalid(
            path.to_path_buf(),
            source,
            syntax_problems(source, &errors),
        ));
    }
    let validated = validate(source, path, root.get_ref())
        .map_err(|problems| LoadError::invalid(path.to_path_buf(), source, problems));
    if source.len() >= LARGE_FILE
        && LEAVE_BUDGET
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(source.len())
            })
            .is_ok()
    {
        std::mem::forget(root);
    }
    validated
}

/// Expands files and directories (recursively, `*.toml`, sorted) into scenario files.
///
/// A file given by name is taken whatever its extension; a path that does not exist is
/// an error naming it.
pub fn collect_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    Ok(collect(paths)?.files)
}

/// What [`collect`] found.
#[derive(Debug, Default)]
pub struct Found {
    /// The scenario files, in order: each path given, a directory's files sorted.
    pub files: Vec<PathBuf>,
    /// `*.toml` entries of a directory that are not regular files (a FIFO, a socket, a
    /// device, a broken link), with what they are: skipped, never opened.
    pub skipped: Vec<(PathBuf, &'static str)>,
}

/// Like [`collect_files`], and says which directory entries were skipped. A path given
/// by name that is not a regular file or a directory is an error: opening a FIFO would
/// wait forever for a writer.
pub fn collect(paths: &[PathBuf]) -> std::io::Result<Found> {
    let mut found = Found::default();
    for p in paths {
        let meta = std::fs::metadata(p)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
        if meta.is_dir() {
            let start = found.files.len();
            walk(p, &mut found)?;
            found.files[start..].sort();
        } else if let Some(what) = crate::diagnostic::not_regular(meta.file_type()) {
            return Err(std::io::Error::other(format!(
                "{}: it is {what}, not a scenario file",
                p.display()
            )));
        } else {
            found.files.push(p.clone());
        }
    }
    Ok(found)
}

fn walk(dir: &Path, found: &mut Found) -> std::io::Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let mut ty = entry.file_type()?;
        let link = ty.is_symlink();
        if link {
            match std::fs::metadata(&path) {
                Ok(m) => ty = m.file_type(),
                Err(_) if is_toml(&path) => {
                    found.skipped.push((path, "a broken symbolic link"));
                    continue;
                }
                Err(_) => continue,
            }
        }
        if ty.is_dir() {
            // A linked directory is not entered: a link loop would never end.
            if !link {
                walk(&path, found)?;
            }
        } else if is_toml(&path) {
            match crate::diagnostic::not_regular(ty) {
                None => found.files.push(path),
                Some(what) => found.skipped.push((path, what)),
            }
        }
    }
    Ok(())
}

fn is_toml(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "toml")
}
