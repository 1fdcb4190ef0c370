/*!
Transcript snapshots for `run --snapshots DIR`, stored in insta's `.snap` format so that
`cargo insta review` works on them, and `netdrill snapshots review|accept|reject` works
without cargo.

- **Name.** A scenario's snapshot is `DIR/<name>.snap`, where `<name>` is the scenario's
  path, without `.toml`, relative to the project root, with `/` turned into `__`. The
  project root is the deepest directory that holds both the scenario file and `DIR`, so
  `scenarios/tcp/x.toml`, `./scenarios/tcp/x.toml` and its absolute path name the same
  snapshot from any working directory (`scenarios__tcp__x.snap`).
- **File.** A YAML header between `---` lines (`source`: the scenario path relative to
  the root; `expression`: the command that produced it), then the transcript.
- **Pending.** A new or changed transcript that is not accepted on the spot goes to
  `<name>.snap.new` beside it, as insta does; `review`, `accept` and `reject` act on
  those files.
- **Update mode** ([`UpdateMode`]): `--update-snapshots`, else
  `NETDRILL_UPDATE_SNAPSHOTS=always|new|no|auto`, like `INSTA_UPDATE`. `auto` (the
  default) is `new` on a developer's machine and `no` in CI (`CI` set), so CI never
  writes a snapshot silently.
*/

use std::path::{Component, Path, PathBuf};

use similar::{ChangeTag, TextDiff};

use super::write_atomically;

/// What to do with a new or changed transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    /// Write it as the stored snapshot (`.snap`); the scenario does not fail.
    Always,
    /// Write it beside the stored one (`.snap.new`) for review; the scenario fails.
    New,
    /// Write nothing; the scenario fails.
    No,
}

impl UpdateMode {
    /// The mode from `--update-snapshots` and the environment (see the module docs).
    pub fn resolve(flag: bool) -> Result<UpdateMode, String> {
        if flag {
            return Ok(UpdateMode::Always);
        }
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        let var = std::env::var("NETDRILL_UPDATE_SNAPSHOTS").unwrap_or_default();
        match var.as_str() {
            "always" | "1" => Ok(UpdateMode::Always),
            "new" => Ok(UpdateMode::New),
            "no" | "0" => Ok(UpdateMode::No),
            "" | "auto" if ci => Ok(UpdateMode::No),
            "" | "auto" => Ok(UpdateMode::New),
            other => Err(format!(
                "NETDRILL_UPDATE_SNAPSHOTS is `{other}`: write always, new, no or auto"
            )),
        }
    }
}

/// The snapshot's name: the scenario path relative to the project root, `__`-joined.
pub fn name_for(dir: &Path, scenario_file: &Path) -> String {
    let parts: Vec<String> = relative_to_root(dir, scenario_file)
        .with_extension("")
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    parts.join("__")
}

/// The snapshot file for `scenario_file` under `dir`.
pub fn path_for(dir: &Path, scenario_file: &Path) -> PathBuf {
    dir.join(format!("{}.snap", name_for(dir, scenario_file)))
}

/// The pending file beside a snapshot: `x.snap.new`.
pub fn pending_for(snap: &Path) -> PathBuf {
    let mut s = snap.as_os_str().to_os_string();
    s.push(".new");
    PathBuf::from(s)
}

/// The scenario path relative to the deepest directory that holds both it and `dir`
/// (when that is `/`, the path relative to the working directory, or as given).
fn relative_to_root(dir: &Path, scenario_file: &Path) -> PathBuf {
    let file = lenient_canonical(scenario_file);
    let snaps = lenient_canonical(dir);
    let common: PathBuf = file
        .components()
        .zip(snaps.components())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect();
    if common.components().count() > 1
        && let Ok(rel) = file.strip_prefix(&common)
    {
        return rel.to_path_buf();
    }
    std::env::current_dir()
        .ok()
        .and_then(|cwd| file.strip_prefix(lenient_canonical(&cwd)).ok())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| scenario_file.to_path_buf())
}

/// The canonical form of the longest existing prefix of `path`, with the rest appended.
fn lenient_canonical(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut rest = Vec::new();
    let mut head = absolute.as_path();
    loop {
        if let Ok(c) = std::fs::canonicalize(head) {
            let mut out = c;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (head.parent(), head.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                head = parent;
            }
            _ => return absolute,
        }
    }
}

/// A `.snap` file's text: insta's header, then the transcript.
pub fn render(dir: &Path, scenario_file: &Path, transcript: &str) -> String {
    let source = relative_to_root(dir, scenario_file);
    let source = source.to_string_lossy();
    format!(
        "---\nsource: {}\nexpression: {}\n---\n{}\n",
        yaml_scalar(&source),
        yaml_scalar(&format!("netdrill run {source}")),
        transcript.trim_end()
    )
}

/// A YAML scalar: plain when that is unambiguous, else double-quoted (JSON's quoting
/// is valid YAML).
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./ @+".contains(c))
        && !s.starts_with([' ', '-', '@'])
        && !s.ends_with(' ');
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

/// The transcript stored in a `.snap` file's text (after the header), trailing
/// whitespace trimmed as insta compares it.
pub fn body(text: &str) -> &str {
    let mut rest = text;
    if let Some(after) = rest.strip_prefix("---\n") {
        rest = match after.find("\n---\n") {
            Some(end) => &after[end + 5..],
            None if after.starts_with("---\n") => &after[4..],
            None => after,
        };
    }
    rest.trim_end()
}

/// The result of comparing one transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compared {
    /// Same as stored.
    Same,
    /// Stored (new or changed), in `UpdateMode::Always`: the path.
    Written(PathBuf),
    /// No stored snapshot; the pending file when one was written.
    Missing {
        /// The snapshot that should exist.
        path: PathBuf,
        /// The `.snap.new` written for review (`UpdateMode::New`).
        pending: Option<PathBuf>,
    },
    /// Differs from the stored snapshot.
    Differs {
        /// A line diff, stored → this run.
        diff: String,
        /// The `.snap.new` written for review (`UpdateMode::New`).
        pending: Option<PathBuf>,
    },
}

/// Compares `transcript` with its snapshot, writing what `mode` says.
pub fn compare(
    dir: &Path,
    scenario_file: &Path,
    transcript: &str,
    mode: UpdateMode,
    color: bool,
) -> std::io::Result<Compared> {
    let path = path_for(dir, scenario_file);
    let pending = pending_for(&path);
    let stored = match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if stored.as_deref().map(body) == Some(transcript.trim_end()) {
        remove_if_present(&pending)?;
        return Ok(Compared::Same);
    }
    let text = render(dir, scenario_file, transcript);
    let written = match mode {
        UpdateMode::Always => {
            write_atomically(&path, &text)?;
            remove_if_present(&pending)?;
            return Ok(Compared::Written(path));
        }
        UpdateMode::New => {
            write_atomically(&pending, &text)?;
            Some(pending)
        }
        UpdateMode::No => None,
    };
    Ok(match stored {
        None => Compared::Missing {
            path,
            pending: written,
        },
        Some(old) => Compared::Differs {
            diff: diff(body(&old), transcript.trim_end(), color),
            pending: written,
        },
    })
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A line diff of two transcripts, `-` stored and `+` this run, with three lines of
/// context; red and green when `color`.
pub fn diff(old: &str, new: &str, color: bool) -> String {
    let mut out = String::from("--- stored\n+++ this run\n");
    let diff = TextDiff::from_lines(old, new);
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        out.push_str(&format!("{}\n", hunk.header()));
        for change in hunk.iter_changes() {
            let (sign, paint) = match change.tag() {
                ChangeTag::Delete => ('-', "\x1b[31m"),
                ChangeTag::Insert => ('+', "\x1b[32m"),
                ChangeTag::Equal => (' ', ""),
            };
            let line = change.value().trim_end_matches('\n');
            if color && !paint.is_empty() {
                out.push_str(&format!("{paint}{sign}{line}\x1b[0m\n"));
            } else {
                out.push_str(&format!("{sign}{line}\n"));
            }
        }
    }
    out
}

/// The pending snapshots (`*.snap.new`) under `dir`, sorted.
pub fn pending(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            let ty = entry.file_type()?;
            if ty.is_dir() {
                dirs.push(path);
            } else if ty.is_file() && path.to_string_lossy().ends_with(".snap.new") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The stored snapshot a pending file would replace.
pub fn stored_for(pending: &Path) -> PathBuf {
    let s = pending.to_string_lossy();
    PathBuf::from(s.strip_suffix(".new").unwrap_or(&s).to_string())
}

/// Accepts a pending snapshot: it becomes the stored one.
pub fn accept(pending: &Path) -> std::io::Result<()> {
    std::fs::rename(pending, stored_for(pending))
}

/// Rejects a pending snapshot: it is deleted, the stored one stays.
pub fn reject(pending: &Path) -> std::io::Result<()> {
    std::fs::remove_file(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_relative_to_the_common_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("scenarios/tcp")).unwrap();
        std::fs::write(root.join("scenarios/tcp/one-line.toml"), "").unwrap();
        let snaps = root.join("snapshots/cli");
        let spelled = [
            root.join("scenarios/tcp/one-line.toml"),
            root.join("scenarios/./tcp/../tcp/one-line.toml"),
        ];
        for s in &spelled {
            assert_eq!(name_for(&snaps, s), "scenarios__tcp__one-line");
        }
    }

    #[test]
    fn the_body_follows_the_header() {
        let text = render(Path::new("s"), Path::new("a.toml"), "  1 x\n  2 y\n");
        assert!(text.starts_with("---\nsource: a.toml\n"), "{text}");
        assert_eq!(body(&text), "  1 x\n  2 y");
    }

    #[test]
    fn compare_in_each_mode() {
        let dir = tempfile::tempdir().unwrap();
        let snaps = dir.path().join("snaps");
        let f = dir.path().join("b.toml");
        std::fs::write(&f, "").unwrap();
        match compare(&snaps, &f, "x\n", UpdateMode::No, false).unwrap() {
            Compared::Missing { pending: None, .. } => {}
            other => panic!("{other:?}"),
        }
        assert!(!snaps.join("b.snap.new").exists());
        match compare(&snaps, &f, "x\n", UpdateMode::New, false).unwrap() {
            Compared::Missing {
                pending: Some(p), ..
            } => assert_eq!(p, snaps.join("b.snap.new")),
            other => panic!("{other:?}"),
        }
        assert_eq!(pending(&snaps).unwrap(), vec![snaps.join("b.snap.new")]);
        accept(&snaps.join("b.snap.new")).unwrap();
        assert_eq!(
            compare(&snaps, &f, "x\n", UpdateMode::No, false).unwrap(),
            Compared::Same
        );
        match compare(&snaps, &f, "y\n", UpdateMode::No, false).unwrap() {
            Compared::Differs {
                diff,
                pending: None,
            } => {
                assert!(diff.contains("-x\n") && diff.contains("+y\n"), "{diff}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            compare(&snaps, &f, "y\n", UpdateMode::Always, false).unwrap(),
            Compared::Written(snaps.join("b.snap"))
        );
        assert_eq!(
            compare(&snaps, &f, "y\n", UpdateMode::No, false).unwrap(),
            Compared::Same
        );
    }
}
