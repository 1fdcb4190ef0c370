/*!
`netdrill grade merge`: the outputs of the shards of one class joined into one, or
refused (writing nothing) when they do not make one whole split of one rubric.
*/

use std::path::{Path, PathBuf};

use super::{Summary, write_atomic};

/// Combines the outputs of shards (`DIR/summary.json` + `DIR/<submission>/…` each) into
/// `out`: the submissions' folders are copied, the summaries joined.
pub fn merge(shards: &[PathBuf], out: &Path) -> Result<Summary, String> {
    // Read and check every shard first: a refused merge writes nothing.
    let read = read_summaries(shards)?;
    check_whole_split(&read)?;
    let mut m = join_summaries(&read)?;
    m.submissions
        .sort_by(|a, b| a.submission.cmp(&b.submission));
    copy_submissions(&read, out)?;
    m.write(out)
        .map_err(|e| format!("cannot write the summary into {}: {e}", out.display()))?;
    Ok(m)
}

/// The `summary.json` of every shard directory, in order.
fn read_summaries(shards: &[PathBuf]) -> Result<Vec<(&PathBuf, Summary)>, String> {
    let mut read = Vec::new();
    for shard in shards {
        let path = shard.join("summary.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let s: Summary = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a netdrill summary: {e}", path.display()))?;
        read.push((shard, s));
    }
    Ok(read)
}

/// Every shard of a split must be there, once: a lost artifact must not silently
/// drop part of a class.
fn check_whole_split(read: &[(&PathBuf, Summary)]) -> Result<(), String> {
    let labels: Vec<Option<(usize, usize)>> = read
        .iter()
        .map(|(_, s)| s.shard.as_deref().and_then(parse_shard_label))
        .collect();
    if let Some(Some((_, n))) = labels.first() {
        let mut have: Vec<usize> = labels.iter().flatten().map(|(k, _)| *k).collect();
        have.sort_unstable();
        let expected: Vec<usize> = (1..=*n).collect();
        if labels.iter().any(|l| l.is_none_or(|(_, m)| m != *n)) || have != expected {
            let missing: Vec<String> = expected
                .iter()
                .filter(|k| !have.contains(k))
                .map(|k| format!("{k}/{n}"))
                .collect();
            let shown: Vec<String> = labels
                .iter()
                .map(|l| {
                    l.map(|(k, m)| format!("{k}/{m}"))
                        .unwrap_or("not a shard".into())
                })
                .collect();
            return Err(if missing.is_empty() {
                format!(
                    "the shards given do not make one whole split: {}",
                    shown.join(", ")
                )
            } else {
                format!(
                    "shard {} missing: a split into {n} needs all of them (given: {})",
                    missing.join(", "),
                    shown.join(", ")
                )
            });
        }
    }
    Ok(())
}

/// The summaries joined, in the order given: one rubric, no submission twice.
fn join_summaries(read: &[(&PathBuf, Summary)]) -> Result<Summary, String> {
    let mut merged: Option<Summary> = None;
    for (shard, s) in read {
        let s = s.clone();
        merged = Some(match merged {
            None => Summary { shard: None, ..s },
            Some(m) => add_shard(m, shard, s)?,
        });
    }
    merged.ok_or_else(|| "no shard directories given".to_string())
}

/// `m` with the shard `s` (from the directory `shard`) added: refused when it was
/// graded with another rubric, or has a submission `m` has too.
fn add_shard(mut m: Summary, shard: &Path, s: Summary) -> Result<Summary, String> {
    if m.tests != s.tests || m.title != s.title {
        return Err(format!(
            "{} was graded with another rubric ({:?}) than the shards before it ({:?})",
            shard.display(),
            s.title,
            m.title
        ));
    }
    for row in s.submissions {
        if m.submissions.iter().any(|r| r.submission == row.submission) {
            return Err(format!(
                "submission {:?} appears in more than one shard",
                row.submission
            ));
        }
        m.submissions.push(row);
    }
    m.complete &= s.complete;
    if m.cut_short.is_none() {
        m.cut_short = s.cut_short;
    }
    if m.limits_note.is_none() {
        m.limits_note = s.limits_note;
    }
    if s.isolation == "none" {
        m.isolation = s.isolation;
        m.isolation_note = s.isolation_note;
    }
    Ok(m)
}

/// Copies every submission's folder of every shard into `out`.
fn copy_submissions(read: &[(&PathBuf, Summary)], out: &Path) -> Result<(), String> {
    for (shard, s) in read {
        for row in &s.submissions {
            let from = shard.join(&row.submission);
            if from.is_dir() {
                copy_dir(&from, &out.join(&row.submission))
                    .map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
            }
        }
    }
    Ok(())
}

/// `K/N` as written in a summary's `shard`.
fn parse_shard_label(label: &str) -> Option<(usize, usize)> {
    let (k, n) = label.split_once('/')?;
    Some((k.parse().ok()?, n.parse().ok()?))
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else if kind.is_file() {
            let bytes = std::fs::read(entry.path())?;
            write_atomic(&dest, &bytes)?;
        }
    }
    Ok(())
}
