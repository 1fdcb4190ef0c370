/*!
`netdrill snapshots review|accept|reject [DIR]`: the pending transcripts (`*.snap.new`)
that `run --snapshots DIR` wrote, handled without cargo, as `cargo insta review` does.

- `review` shows each pending transcript as a line diff against the stored one (or in
  full when it is new) and asks: accept, reject or skip.
- `accept` makes every pending transcript the stored one; `reject` deletes them.
*/

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{EXIT_INVALID, EXIT_OK};
use crate::diagnostic::plural;
use crate::report::snapshot;

/// Arguments of `snapshots`.
#[derive(Debug, clap::Args)]
pub struct SnapshotsArgs {
    /// What to do with the pending snapshots.
    #[command(subcommand)]
    pub action: SnapshotsAction,
}

/// The `snapshots` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SnapshotsAction {
    /// Show each pending transcript's diff and ask: accept, reject or skip.
    Review(DirArg),
    /// Accept every pending transcript.
    Accept(DirArg),
    /// Reject (delete) every pending transcript.
    Reject(DirArg),
}

/// The snapshot directory.
#[derive(Debug, clap::Args)]
pub struct DirArg {
    /// The directory given to `run --snapshots` (default `snapshots/`).
    #[arg(default_value = "snapshots")]
    pub dir: PathBuf,
}

/// What to do with the pending snapshots of a directory.
type Act = fn(&Path, &[PathBuf]) -> std::io::Result<()>;

/// Runs `snapshots`.
pub fn main(args: SnapshotsArgs) -> ExitCode {
    let (dir, act): (&Path, Act) = match &args.action {
        SnapshotsAction::Review(d) => (&d.dir, review),
        SnapshotsAction::Accept(d) => (&d.dir, accept_all),
        SnapshotsAction::Reject(d) => (&d.dir, reject_all),
    };
    let pending = match snapshot::pending(dir) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {}: {e}", dir.display());
            return ExitCode::from(EXIT_INVALID);
        }
    };
    if pending.is_empty() {
        println!("no pending snapshots in {}", dir.display());
        return ExitCode::from(EXIT_OK);
    }
    match act(dir, &pending) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

fn accept_all(_: &Path, pending: &[PathBuf]) -> std::io::Result<()> {
    for p in pending {
        snapshot::accept(p)?;
        println!("accepted {}", snapshot::stored_for(p).display());
    }
    println!("{} accepted", plural(pending.len(), "snapshot"));
    Ok(())
}

fn reject_all(_: &Path, pending: &[PathBuf]) -> std::io::Result<()> {
    for p in pending {
        snapshot::reject(p)?;
        println!("rejected {}", p.display());
    }
    println!("{} rejected", plural(pending.len(), "snapshot"));
    Ok(())
}

/// Asks about each pending snapshot on stdin; end of input skips the rest.
fn review(dir: &Path, pending: &[PathBuf]) -> std::io::Result<()> {
    let color = super::color::stdout();
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut counts = [0usize; 3];
    let mut out = std::io::stdout().lock();
    for (i, p) in pending.iter().enumerate() {
        let stored = snapshot::stored_for(p);
        let new_text = std::fs::read_to_string(p)?;
        let new = snapshot::body(&new_text);
        let name = stored.strip_prefix(dir).unwrap_or(&stored);
        writeln!(out, "\n[{}/{}] {}", i + 1, pending.len(), name.display())?;
        match std::fs::read_to_string(&stored) {
            Ok(old) => write!(out, "{}", snapshot::diff(snapshot::body(&old), new, color))?,
            Err(_) => {
                writeln!(out, "new snapshot:")?;
                for l in new.lines() {
                    writeln!(out, "+{l}")?;
                }
            }
        }
        let choice = loop {
            write!(out, "accept (a), reject (r), skip (s)? ")?;
            out.flush()?;
            let mut line = String::new();
            if input.read_line(&mut line)? == 0 {
                writeln!(out)?;
                break None;
            }
            match line.trim() {
                "a" | "accept" => break Some(0),
                "r" | "reject" => break Some(1),
                "s" | "skip" | "" => break Some(2),
                _ => writeln!(out, "answer a, r or s")?,
            }
        };
        match choice {
            Some(0) => snapshot::accept(p)?,
            Some(1) => snapshot::reject(p)?,
            Some(_) => {}
            None => {
                counts[2] += pending.len() - i;
                break;
            }
        }
        counts[choice.unwrap_or(2)] += 1;
    }
    writeln!(
        out,
        "{} accepted, {} rejected, {} skipped",
        counts[0], counts[1], counts[2]
    )?;
    Ok(())
}
