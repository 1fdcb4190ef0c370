//! Real servers (`examples/protocols/`): DNS against dnsmasq, TFTP against tftpd-hpa
//! (with a lost ACK on the transfer port), HTTP/1.1 against nginx, SMTP against
//! aiosmtpd. `.ci/install` installs them (the README's test command runs it first); a
//! machine without one of them fails here, with the program's name in the report: these
//! tests are never skipped.

use std::process::{Command, Stdio};

fn run_example(file: &str) {
    // The servers live in /usr/sbin, which a user's PATH may lack.
    let path = format!(
        "{}:/usr/sbin:/sbin",
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_netdrill"))
        .args(["run", "-v", file])
        .env("PATH", path)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .expect("netdrill runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{file} failed (its program is installed by .ci/run):\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dns_a_and_nxdomain_against_dnsmasq() {
    run_example("examples/protocols/dns.toml");
}

#[test]
fn tftp_read_with_a_lost_ack_against_tftpd_hpa() {
    run_example("examples/protocols/tftp.toml");
}

#[test]
fn http_tiny_writes_pipelining_and_half_close_against_nginx() {
    run_example("examples/protocols/http.toml");
}

#[test]
fn smtp_dialogue_against_aiosmtpd() {
    run_example("examples/protocols/smtp.toml");
}
