/*!
Benchmark of scenario checking: writes 1,000 varied, realistic scenario files into a
temporary directory, loads them all with the library (several rounds, best kept), then
runs `netdrill check` on the directory, and prints the elapsed time and files per
second of each.

Run with `cargo bench --bench check`.
*/

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const FILES: usize = 1000;
const ROUNDS: usize = 5;

/// A small deterministic generator (no seed from the clock: the same files every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

fn tcp_scenario(i: usize, rng: &mut Lcg) -> String {
    let mut s = format!(
        "name = \"uppercase exercise {i}\"\nabout = \"Lines split over writes.\"\ntags = [\"tcp\", \"lab{}\"]\ntimeout = \"2s\"\n\nsteps = [\n",
        i % 7
    );
    let clients = 1 + rng.next(3);
    for c in 0..clients {
        let _ = writeln!(s, "  {{ c{c}.connect = \"target\" }},");
    }
    for k in 0..5 + rng.next(40) {
        let c = rng.next(clients);
        let word = format!("word{k} number {i}");
        match rng.next(6) {
            0 => {
                let _ = writeln!(
                    s,
                    "  {{ c{c}.send = \"{word}\\n\", chunks = [1, 2, 3], pause = \"5ms\" }},"
                );
                let _ = writeln!(s, "  {{ c{c}.recv_line = \"{}\" }},", word.to_uppercase());
            }
            1 => {
                let _ = writeln!(s, "  {{ c{c}.send = \"{word}\\n\", chunk = 2 }},");
                let _ = writeln!(
                    s,
                    "  {{ c{c}.recv_match = '^WORD(\\d+) NUMBER \\d+$', capture = \"n{k}\", timeout = \"1s\" }},"
                );
                let _ = writeln!(s, "  {{ c{c}.send = \"again {{{{n{k}}}}}\\n\" }},");
                let _ = writeln!(s, "  {{ c{c}.recv_until = \"\\n\", match = \"^AGAIN\" }},");
            }
            2 => {
                let _ = writeln!(s, "  {{ c{c}.send_hex = \"68 69 0a\" }},");
                let _ = writeln!(s, "  {{ c{c}.recv_hex = \"48 49 0a\" }},");
            }
            3 => {
                let _ = writeln!(s, "  {{ c{c}.send = \"{{{{greeting}}}} {k}\\n\" }},");
                let _ = writeln!(
                    s,
                    "  {{ c{c}.recv_bytes = {}, match = \"HELLO\" }},",
                    8 + k.to_string().len()
                );
            }
            4 => {
                let _ = writeln!(s, "  {{ c{c}.silence = \"20ms\" }},");
            }
            _ => {
                let _ = writeln!(s, "  {{ c{c}.send = \"{word}\\n\" }},");
                let _ = writeln!(s, "  {{ c{c}.recv = \"{}\\n\" }},", word.to_uppercase());
            }
        }
    }
    for c in 0..clients {
        let _ = writeln!(s, "  {{ c{c}.shutdown = \"write\" }},");
        let _ = writeln!(s, "  {{ c{c}.recv_eof = true }},");
    }
    s.push_str("]\n\n[vars]\ngreeting = \"hello\"\n\n[target]\nbuiltin = \"uppercase\"\n");
    if rng.next(3) == 0 {
        s.push_str("\n[link.to_target]\ndelay = \"2ms\"\nslice = 3\n");
    }
    s
}

fn udp_scenario(i: usize, rng: &mut Lcg) -> String {
    let mut s = format!(
        "name = \"udp loss {i}\"\ntimeout = \"500ms\"\n\nsteps = [\n  {{ peer.bind = true }},\n"
    );
    for k in 0..3 + rng.next(20) {
        let _ = writeln!(s, "  {{ send = \"ping {k}\" }},");
        let _ = writeln!(s, "  {{ recv = \"PING {k}\", from = \"target\" }},");
        if rng.next(4) == 0 {
            let _ = writeln!(s, "  {{ send = \"to peer {k}\", to = \"peer\" }},");
            let _ = writeln!(
                s,
                "  {{ peer.recv_match = \"^to peer (\\\\d+)$\", capture = \"k{k}\" }},"
            );
            let _ = writeln!(s, "  {{ peer.reply = \"ack {{{{k{k}}}}}\" }},");
            let _ = writeln!(s, "  {{ recv = \"ack {k}\", from = \"peer\" }},");
        }
    }
    s.push_str("  { silence = \"50ms\" },\n]\n\n[target]\nbuiltin = \"uppercase\"\nprotocol = \"udp\"\n\n[link]\nseed = 42\n\n[link.to_target]\nloss = 0.2\ndelay = \"1ms\"\n\n[link.from_target]\ndrop = [2]\n");
    s
}

fn client_scenario(i: usize, rng: &mut Lcg) -> String {
    let mut s = format!(
        "name = \"client {i}\"\n\nsteps = [\n  {{ srv.listen = true }},\n  {{ target.spawn = true }},\n  {{ srv.accept = \"conn\" }},\n"
    );
    for k in 0..2 + rng.next(10) {
        let _ = writeln!(
            s,
            "  {{ conn.recv_line = \"HELLO {k} {{{{srv.port}}}}\" }},"
        );
        let _ = writeln!(s, "  {{ conn.send = \"WELCOME {k}\\n\" }},");
        let _ = writeln!(s, "  {{ target.stdout_match = \"^got WELCOME {k}$\" }},");
    }
    s.push_str("  { target.close_stdin = true },\n  { conn.recv_eof = true },\n  { target.exit = 0 },\n]\n\n[target]\ncommand = \"python3 client.py {{port}}\"\nrole = \"client\"\n");
    s
}

fn parallel_scenario(i: usize, _rng: &mut Lcg) -> String {
    format!(
        "name = \"load {i}\"\n\nsteps = [\n  {{ parallel = {}, timeout = \"5s\", steps = [\n    {{ connect = \"target\" }},\n    {{ send = \"hi\\n\" }},\n    {{ recv_line = \"HI\" }},\n    {{ close = true }},\n  ] }},\n]\n\n[target]\nbuiltin = \"uppercase\"\n",
        10 + i % 90
    )
}

fn write_files(dir: &Path) -> u64 {
    let mut rng = Lcg(0x5eed);
    let mut bytes = 0;
    for i in 0..FILES {
        let text = match i % 10 {
            0..=5 => tcp_scenario(i, &mut rng),
            6 | 7 => udp_scenario(i, &mut rng),
            8 => client_scenario(i, &mut rng),
            _ => parallel_scenario(i, &mut rng),
        };
        bytes += text.len() as u64;
        let sub = dir.join(format!("group{:02}", i % 20));
        std::fs::create_dir_all(&sub).expect("mkdir");
        std::fs::write(sub.join(format!("s{i:04}.toml")), text).expect("write");
    }
    bytes
}

fn rate(d: Duration) -> f64 {
    FILES as f64 / d.as_secs_f64()
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = write_files(dir.path());
    let files = netdrill::scenario::collect_files(&[dir.path().to_path_buf()]).expect("collect");
    assert_eq!(files.len(), FILES);

    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut steps = 0;
        for f in &files {
            match netdrill::scenario::load_file(f) {
                Ok(s) => steps += s.steps.len(),
                Err(e) => panic!("{}", netdrill::diagnostic::render_plain(&e)),
            }
        }
        best = best.min(start.elapsed());
        std::hint::black_box(steps);
    }
    println!(
        "library: loaded {FILES} files ({} KiB) in {:.1} ms (best of {ROUNDS}): {:.0} files/s",
        bytes / 1024,
        best.as_secs_f64() * 1000.0,
        rate(best)
    );

    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_netdrill"))
        .arg("check")
        .arg(dir.path())
        .output()
        .expect("run netdrill check");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "binary:  `netdrill check DIR` in {:.1} ms: {:.0} files/s ({})",
        took.as_secs_f64() * 1000.0,
        rate(took),
        String::from_utf8_lossy(&out.stdout).trim()
    );
}
