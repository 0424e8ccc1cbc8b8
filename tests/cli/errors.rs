//! Unusable input stops a run with a message naming it; --help teaches with examples.

use crate::util::*;

#[test]
fn unreadable_input_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["replay", "no-such-file.jsonl"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-file.jsonl"), "{err}");
}

#[test]
fn invalid_rules_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("bad.yaml");
    std::fs::write(
        &rules,
        "segments:\n  - id: a\n    condition: { line_linked: true }\n    colour: red\n",
    )
    .unwrap();
    let out = run(
        dir.path(),
        &[
            "replay",
            "--rules",
            rules.to_str().unwrap(),
            &fixture("events.jsonl"),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml:4:"), "{err}");
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn every_command_explains_itself_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        vec!["replay"],
        vec!["stats"],
        vec!["explain"],
        vec!["sweep"],
        vec!["rules", "check"],
        vec!["rules", "diff"],
        vec!["gen"],
        vec!["table", "create"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let out = run(dir.path(), &args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{cmd:?}");
        assert!(
            text.contains("Example"),
            "{cmd:?} --help has no example:\n{text}"
        );
    }
    let replay = run(dir.path(), &["replay", "--help"]);
    assert!(String::from_utf8_lossy(&replay.stdout).contains("NEWEST EVENT TIME"));
}

#[test]
fn the_deployed_rules_file_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let deployed = root().join("deploy/rules/segments.yaml");
    let out = run(dir.path(), &["rules", "check", deployed.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("hyogo"));
}
