/*!
Unit tests of rubric reading: sizes, and `[test.target]` merged over `[target]`.
*/

use super::*;
use crate::grade::model::RubricTarget;
use crate::scenario::model::{Protocol, Role};

#[test]
fn sizes_parse_with_binary_and_decimal_units() {
    assert_eq!(parse_size("1GiB"), Ok(1 << 30));
    assert_eq!(parse_size("512MiB"), Ok(512 << 20));
    assert_eq!(parse_size("64KiB"), Ok(64 << 10));
    assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
    assert_eq!(parse_size("10 MB"), Ok(10_000_000));
    assert_eq!(parse_size("3kb"), Ok(3_000));
    assert_eq!(parse_size("16mib"), Ok(16 << 20));
    assert_eq!(parse_size("4096"), Ok(4096));
    assert_eq!(parse_size("100B"), Ok(100));
    assert_eq!(parse_size("2TiB"), Ok(2 << 40));
    assert_eq!(parse_size("0"), Ok(0));
}

#[test]
fn bad_sizes_say_why() {
    assert!(parse_size("").unwrap_err().contains("empty"));
    assert!(parse_size("GiB").unwrap_err().contains("number"));
    assert!(parse_size("1.5GiB").unwrap_err().contains("whole"));
    assert!(parse_size("1G").unwrap_err().contains("ambiguous"));
    assert!(parse_size("1 gigabyte").unwrap_err().contains("not a unit"));
    assert!(parse_size("1Mib").is_ok());
    assert!(parse_size("2MiBs").unwrap_err().contains("`MiB`"));
    assert!(
        parse_size("99999999999999999999")
            .unwrap_err()
            .contains("large")
    );
    assert!(parse_size("99999999999GiB").unwrap_err().contains("large"));
}

#[test]
fn a_test_target_overrides_only_what_it_sets() {
    let rubric = RubricTarget {
        command: Some("python3 server.py {{port}}".into()),
        build: Some("make".into()),
        protocol: Some(Protocol::Tcp),
        port: None,
        role: None,
    };
    let test = RubricTarget {
        role: Some(Role::Client),
        port: Some(9000),
        ..RubricTarget::default()
    };
    let m = rubric.merged(&test);
    assert_eq!(m.command.as_deref(), Some("python3 server.py {{port}}"));
    assert_eq!(m.build.as_deref(), Some("make"));
    assert_eq!(m.protocol, Some(Protocol::Tcp));
    assert_eq!(m.port, Some(9000));
    assert_eq!(m.role, Some(Role::Client));
    let over = RubricTarget {
        command: Some("./client {{port}}".into()),
        protocol: Some(Protocol::Udp),
        ..RubricTarget::default()
    };
    let m2 = m.merged(&over);
    assert_eq!(m2.command.as_deref(), Some("./client {{port}}"));
    assert_eq!(m2.protocol, Some(Protocol::Udp));
    assert_eq!(m2.role, Some(Role::Client));
    assert_eq!(rubric.merged(&RubricTarget::default()), rubric);
}

#[test]
fn a_test_target_in_a_rubric_is_merged_over_the_rubric_target() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.toml"),
        "name = \"s\"\nsteps = [{ connect = \"target\" }]\n",
    )
    .unwrap();
    let path = dir.path().join("rubric.toml");
    let src = "[target]\ncommand = \"./srv {{port}}\"\nbuild = \"make\"\n\n[[test]]\nscenario = \"s.toml\"\npoints = 1\n\n[[test]]\nname = \"as client\"\nscenario = \"s.toml\"\npoints = 2.5\n[test.target]\nrole = \"client\"\ncommand = \"./cli {{port}}\"\n";
    let r = load_rubric_str(src, &path).unwrap_or_else(|e| {
        panic!("{}", crate::diagnostic::render_plain(&e));
    });
    assert_eq!(r.title, "rubric");
    assert_eq!(r.tests.len(), 2);
    assert_eq!(r.tests[0].name, "s");
    assert_eq!(r.tests[0].line, 5);
    assert_eq!(r.tests[0].target, r.target);
    assert_eq!(r.tests[1].number, 2);
    assert_eq!(r.tests[1].line, 9);
    assert_eq!(r.tests[1].target.command.as_deref(), Some("./cli {{port}}"));
    assert_eq!(r.tests[1].target.build.as_deref(), Some("make"));
    assert_eq!(r.tests[1].target.role, Some(Role::Client));
    assert_eq!(r.max_score(), 3.5);
}

#[test]
fn every_test_with_its_own_command_needs_none_at_the_top() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.toml"),
        "steps = [{ connect = \"target\" }]\n",
    )
    .unwrap();
    let path = dir.path().join("r.toml");
    let one = "[[test]]\nname = \"a\"\nscenario = \"s.toml\"\npoints = 1\ntarget = { command = \"./a\" }\n";
    assert!(load_rubric_str(one, &path).is_ok());
    let two = format!("{one}[[test]]\nname = \"b\"\nscenario = \"s.toml\"\npoints = 1\n");
    let err = load_rubric_str(&two, &path).unwrap_err();
    assert_eq!(err.problem_count(), 1);
    assert!(err.problems()[0].to_string().contains("test 2 has none"));
}
