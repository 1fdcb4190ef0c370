/*!
Transcript snapshots for `run --snapshots DIR`: each scenario's transcript is compared
with `DIR/<path>.transcript` (the scenario path with separators turned into `__`), or
written there with `--update-snapshots`. A missing snapshot is a failure unless
updating, so CI never passes by accident on a new scenario.
*/

use std::path::{Component, Path, PathBuf};

use similar::TextDiff;

/// The snapshot file for `scenario_file` under `dir`.
pub fn path_for(dir: &Path, scenario_file: &Path) -> PathBuf {
    let parts: Vec<String> = scenario_file
        .with_extension("")
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    dir.join(format!("{}.transcript", parts.join("__")))
}

/// The result of comparing one transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compared {
    /// Same as stored.
    Same,
    /// Written (new or changed) because of `--update-snapshots`.
    Written,
    /// No stored snapshot.
    Missing(PathBuf),
    /// Differs: a unified diff, stored → now.
    Differs(String),
}

/// Compares `transcript` with its snapshot, or writes it when `update` is set.
pub fn compare(
    dir: &Path,
    scenario_file: &Path,
    transcript: &str,
    update: bool,
) -> std::io::Result<Compared> {
    let path = path_for(dir, scenario_file);
    let stored = match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if stored.as_deref() == Some(transcript) {
        return Ok(Compared::Same);
    }
    if update {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, transcript)?;
        return Ok(Compared::Written);
    }
    match stored {
        None => Ok(Compared::Missing(path)),
        Some(old) => Ok(Compared::Differs(
            TextDiff::from_lines(&old, transcript)
                .unified_diff()
                .header("stored", "this run")
                .to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_flatten_the_path() {
        let p = path_for(
            Path::new("snaps"),
            Path::new("./scenarios/tcp/one-line.toml"),
        );
        assert_eq!(p, Path::new("snaps/scenarios__tcp__one-line.transcript"));
    }

    #[test]
    fn compare_write_and_diff() {
        let dir = tempfile::tempdir().unwrap();
        let f = Path::new("a/b.toml");
        assert!(matches!(
            compare(dir.path(), f, "x\n", false).unwrap(),
            Compared::Missing(_)
        ));
        assert_eq!(
            compare(dir.path(), f, "x\n", true).unwrap(),
            Compared::Written
        );
        assert_eq!(
            compare(dir.path(), f, "x\n", false).unwrap(),
            Compared::Same
        );
        match compare(dir.path(), f, "y\n", false).unwrap() {
            Compared::Differs(d) => assert!(d.contains("-x") && d.contains("+y"), "{d}"),
            other => panic!("{other:?}"),
        }
    }
}
