/*!
The rubric's `build`, run once per submission before its tests, its output kept up to
[`BUILD_OUTPUT_CAP`].
*/

use std::path::Path;
use std::time::{Duration, Instant};

use crate::grade::outcome::BuildResult;
use crate::interp::process::ChildGroup;

/// The most build output kept.
const BUILD_OUTPUT_CAP: usize = 16 * 1024;

/// Runs the build command in `dir`, with its output (stdout and stderr) kept up to
/// [`BUILD_OUTPUT_CAP`].
pub(super) async fn run_build(command: &str, dir: &Path, within: Duration) -> BuildResult {
    let started = Instant::now();
    let line = format!("exec 2>&1; {command}");
    let mut child = match ChildGroup::spawn(&line, dir, &[]) {
        Ok(c) => c,
        Err(e) => {
            return BuildResult {
                command: command.to_string(),
                ok: false,
                status: format!("could not be started ({e})"),
                output: String::new(),
                duration_ms: 0,
            };
        }
    };
    let mut output = String::new();
    let deadline = Instant::now() + within;
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match child.next_stdout_line(left).await {
            Ok(Some(l)) => {
                if output.len() < BUILD_OUTPUT_CAP {
                    output.push_str(&l);
                    output.push('\n');
                }
            }
            Ok(None) => break,
            Err(_) => {
                timed_out = true;
                break;
            }
        }
    }
    if output.len() > BUILD_OUTPUT_CAP {
        let mut cut = BUILD_OUTPUT_CAP;
        while !output.is_char_boundary(cut) {
            cut -= 1;
        }
        output.truncate(cut);
        output.push_str("\n… (the rest of the build output is cut)\n");
    }
    let left = deadline.saturating_duration_since(Instant::now());
    let status = match (
        timed_out,
        child.wait_exit(left.max(Duration::from_millis(100))).await,
    ) {
        (false, Ok(exit)) => Ok(exit),
        _ => Err(format!(
            "did not finish within {}",
            humantime::format_duration(within)
        )),
    };
    let exit = child.terminate(Duration::from_millis(200)).await;
    let (ok, status) = match status {
        Ok(_) if exit.code() == Some(0) => (true, exit.to_string()),
        Ok(_) => (false, exit.to_string()),
        Err(why) => (false, why),
    };
    BuildResult {
        command: command.to_string(),
        ok,
        status,
        output,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}
