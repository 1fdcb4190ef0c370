//! The `netdrill` binary: a thin shell over [`netdrill::cli::main`].

fn main() -> std::process::ExitCode {
    netdrill::cli::main()
}
