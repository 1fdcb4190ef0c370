/*! `netdrill serve NAME [--port N]`, `netdrill serve --list`. */

use std::process::ExitCode;

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The built-in server to run (see `--list`).
    pub name: Option<String>,
    /// Port to listen on (default: an ephemeral port, printed at start).
    #[arg(long)]
    pub port: Option<u16>,
    /// Serve over UDP instead of TCP.
    #[arg(long)]
    pub udp: bool,
    /// List the built-in servers.
    #[arg(long)]
    pub list: bool,
}

/// Runs `serve`.
pub fn main(args: ServeArgs) -> ExitCode {
    let _ = args;
    todo!("serve")
}
