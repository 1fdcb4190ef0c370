/*!
`netdrill serve NAME [--port N] [--udp]`, `netdrill serve --list`.

Runs one built-in server ([`crate::builtin`]) in the foreground on 127.0.0.1, prints
`serving NAME (tcp) on 127.0.0.1:PORT` once it listens, and serves until Ctrl-C or
SIGTERM (then exits 0). An unknown name, a name asked over the wrong protocol, or a
port already in use is an error with exit status 2.
*/

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use crate::builtin::{BuiltinServer, CATALOG, find, protocol_name};
use crate::cli::{EXIT_INVALID, EXIT_OK};
use crate::scenario::Protocol;

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
    if args.list {
        print!("{}", catalog_table());
        println!("\nRun one with `netdrill serve NAME [--port N]`; add `--udp` for a udp one.");
        return ExitCode::from(EXIT_OK);
    }
    let Some(name) = args.name else {
        eprintln!("error: name the built-in server to run, for example `netdrill serve uppercase`");
        eprintln!("\nThe built-in servers:\n{}", catalog_table());
        return ExitCode::from(EXIT_INVALID);
    };
    let protocol = if args.udp {
        Protocol::Udp
    } else {
        Protocol::Tcp
    };
    if find(&name, protocol).is_none() {
        eprintln!("{}", unknown_name_message(&name, protocol));
        return ExitCode::from(EXIT_INVALID);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    runtime.block_on(serve(&name, protocol, args.port.unwrap_or(0)))
}

async fn serve(name: &str, protocol: Protocol, port: u16) -> ExitCode {
    let proto = protocol_name(protocol);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let server = match BuiltinServer::start(name, protocol, addr).await {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            eprintln!(
                "error: port {port} ({proto}) is already in use on 127.0.0.1\n\
                 help: choose another with `--port N`, or leave `--port` out for a free one"
            );
            return ExitCode::from(EXIT_INVALID);
        }
        Err(e) => {
            eprintln!("error: cannot serve {name} ({proto}) on {addr}: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "serving {name} ({proto}) on {}", server.local_addr());
    let _ = out.flush();
    drop(out);
    if let Err(e) = until_interrupted().await {
        eprintln!("error: cannot listen for Ctrl-C: {e}");
    }
    server.shutdown().await;
    ExitCode::from(EXIT_OK)
}

/// Waits for SIGINT or SIGTERM.
async fn until_interrupted() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

/// The catalog as an aligned table: name, protocol, what it does.
pub fn catalog_table() -> String {
    let width = CATALOG
        .iter()
        .map(|b| b.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!("{:<width$}  {:<8}  {}\n", "NAME", "PROTOCOL", "ABOUT");
    for b in CATALOG {
        let proto = protocol_name(b.protocol);
        out.push_str(&format!("{:<width$}  {proto:<8}  {}\n", b.name, b.about));
    }
    out
}

/// The error for a name not in the catalog for `protocol`: the other protocol's
/// server of that name, or the closest names, and where to find the list.
pub fn unknown_name_message(name: &str, protocol: Protocol) -> String {
    let other = match protocol {
        Protocol::Tcp => Protocol::Udp,
        Protocol::Udp => Protocol::Tcp,
    };
    let proto = protocol_name(protocol);
    let mut msg = format!("error: there is no built-in {proto} server named `{name}`");
    if find(name, other).is_some() {
        let fix = match other {
            Protocol::Udp => "add `--udp`",
            Protocol::Tcp => "drop `--udp`",
        };
        msg.push_str(&format!(
            "\nhelp: `{name}` is a {} server: {fix}",
            protocol_name(other)
        ));
        return msg;
    }
    let mut close: Vec<(usize, &str)> = CATALOG
        .iter()
        .filter(|b| b.protocol == protocol)
        .map(|b| (strsim::levenshtein(name, b.name), b.name))
        .filter(|(d, n)| *d <= 3 || n.contains(name))
        .collect();
    close.sort();
    close.dedup();
    if let Some((_, best)) = close.first() {
        msg.push_str(&format!("\nhelp: did you mean `{best}`?"));
    }
    msg.push_str("\nhelp: `netdrill serve --list` lists the built-in servers");
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_every_entry_aligned() {
        let t = catalog_table();
        assert_eq!(t.lines().count(), CATALOG.len() + 1);
        let col = t.lines().next().unwrap().find("PROTOCOL").unwrap();
        for (line, b) in t.lines().skip(1).zip(CATALOG) {
            assert!(line.starts_with(b.name));
            assert_eq!(&line[col..col + 3], protocol_name(b.protocol));
        }
    }

    #[test]
    fn unknown_names_get_help() {
        let m = unknown_name_message("upercase", Protocol::Tcp);
        assert!(m.contains("did you mean `uppercase`?"), "{m}");
        let m = unknown_name_message("uppercase-udp-joins", Protocol::Tcp);
        assert!(m.contains("add `--udp`"), "{m}");
        let m = unknown_name_message("uppercase-iterative", Protocol::Udp);
        assert!(m.contains("drop `--udp`"), "{m}");
        let m = unknown_name_message("zzzzzzzzzzzz", Protocol::Tcp);
        assert!(!m.contains("did you mean"), "{m}");
        assert!(m.contains("--list"), "{m}");
    }
}
