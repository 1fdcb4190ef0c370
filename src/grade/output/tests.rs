/*!
Unit tests of the output files: CSV fields, transcript names, atomic writes.
*/

use super::*;

#[test]
fn csv_fields_are_quoted_when_needed() {
    assert_eq!(csv_field("alice"), "alice");
    assert_eq!(csv_field("jane doe"), "jane doe");
    assert_eq!(csv_field("a,b"), "\"a,b\"");
    assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
}

#[test]
fn transcript_names_are_slugs() {
    assert_eq!(
        transcript_file_name(2, "A line, split over three writes!"),
        "02-a-line-split-over-three-writes.txt"
    );
    assert_eq!(transcript_file_name(12, "ÄÖ"), "12-.txt");
}

#[test]
fn atomic_writes_replace_whole_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x/results.json");
    write_atomic(&p, b"one").unwrap();
    write_atomic(&p, b"two").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"two");
    let leftovers = std::fs::read_dir(dir.path().join("x")).unwrap().count();
    assert_eq!(leftovers, 1);
}
