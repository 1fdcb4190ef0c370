//! Completeness, derived from the registries (`action::ACTIONS`, `action::modifiers`): every action and
//! modifier has a reference entry in docs/scenarios.md, an entry in the JSON Schema, a
//! valid example that uses it and an invalid one. A new word cannot be forgotten in any
//! of them.

use std::path::Path;

use netdrill::scenario::vocab;

fn repo(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The text of every `*.toml` below `dir`, concatenated.
fn tomls(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "toml") {
                out.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
                out.push('\n');
            }
        }
    }
    out
}

#[test]
fn every_action_and_modifier_is_documented_in_the_schema_and_exemplified() {
    let docs = std::fs::read_to_string(repo("docs/scenarios.md")).unwrap();
    let schema = serde_json::to_string(&netdrill::scenario::schema::json_schema()).unwrap();
    let valid = tomls(&repo("tests/valid")) + &tomls(&repo("scenarios"));
    let invalid = tomls(&repo("tests/invalid"));
    let mut missing = Vec::new();
    let actions: Vec<_> = vocab::actions().collect();
    let modifiers: Vec<_> = vocab::modifiers().collect();
    for (kind, words) in [("action", actions), ("modifier", modifiers)] {
        for w in words {
            let used = regex::Regex::new(&format!(r"(^|[\s{{.,]){}\s*=", w.name)).unwrap();
            let checks = [
                (
                    "a reference entry in docs/scenarios.md",
                    docs.contains(&format!("`{}`", w.name)),
                ),
                (
                    "a JSON Schema entry",
                    schema.contains(&format!("\"{}\"", w.name)),
                ),
                (
                    "a valid example (tests/valid/ or scenarios/)",
                    used.is_match(&valid),
                ),
                (
                    "an invalid example (tests/invalid/)",
                    used.is_match(&invalid),
                ),
            ];
            for (what, ok) in checks {
                if !ok {
                    missing.push(format!("{kind} `{}` lacks {what}", w.name));
                }
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
