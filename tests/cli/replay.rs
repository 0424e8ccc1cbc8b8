//! `replay`: summary numbers, set-aside reasons, redelivery.

use crate::util::*;
use serde_json::Value;

#[test]
fn replay_of_the_kinesis_fixtures_reports_true_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let s = run_json(
        dir.path(),
        &[
            "replay",
            "--json",
            "--out",
            "out",
            &fixture("kinesis-batch-1.json"),
            &fixture("kinesis-batch-2.json"),
        ],
    );
    let facts = facts();
    assert_eq!(s["records"], 3000);
    assert_eq!(s["decoded"], 3000);
    assert_eq!(s["set_aside"], 0);
    assert_eq!(s["duplicates"], 0);
    assert_eq!(
        s["now"], "2025-12-01T00:00:00Z",
        "now defaults to the newest event time"
    );
    assert_eq!(
        s["users"].as_u64().unwrap() as usize,
        facts.len(),
        "one stored user per identity"
    );
    let hyogo = facts
        .values()
        .filter(|f| f.pref.as_ref().is_some_and(|(_, p)| p == "兵庫県"))
        .count();
    assert!(hyogo > 10, "the fixture has Hyogo users");
    assert_eq!(
        s["segments"]["hyogo"]["members"].as_u64().unwrap() as usize,
        hyogo
    );
    assert_eq!(
        s["segments"]["recent-buyers"]["members"].as_u64().unwrap() as usize,
        recent_buyers(&facts, NEWEST)
    );
    assert_eq!(
        s["segments"]["dormant"]["members"].as_u64().unwrap() as usize,
        dormant(&facts, NEWEST)
    );
    assert_eq!(
        s["segments"]["big-spenders"]["members"].as_u64().unwrap() as usize,
        spenders(&facts, NEWEST, 10_000.0)
    );
    // Every member entered once in this run; pending LINE additions equal the entries.
    assert_eq!(
        s["segments"]["hyogo"]["entered"],
        s["segments"]["hyogo"]["members"]
    );
    assert_eq!(
        s["pending"]["line"]["hyogo"]["additions"],
        s["segments"]["hyogo"]["members"]
    );
    assert_eq!(
        s["pending"]["pinpoint"]["hyogo"]["additions"],
        s["segments"]["hyogo"]["members"]
    );
    // The planned requests are written (as `sync --dry-run` plans them): a LINE create with
    // the members' LINE IDs, and a Pinpoint import file with its CreateImportJob request.
    let read = |p: &str| {
        std::fs::read_to_string(dir.path().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    let plan: Value = serde_json::from_str(&read("out/outbox/line/hyogo.json")).unwrap();
    assert_eq!(plan["plan"]["requests"][0]["request"], "create", "{plan}");
    assert_eq!(
        plan["plan"]["requests"][0]["description"],
        "audience-stream hyogo"
    );
    let ids = plan["plan"]["requests"][0]["ids"].as_array().unwrap();
    assert!(!ids.is_empty() && ids.iter().all(|i| i.as_str().unwrap().starts_with('U')));
    let pp: Value =
        serde_json::from_str(&read("out/outbox/pinpoint/hyogo/v1.request.json")).unwrap();
    assert_eq!(
        pp["ImportJobRequest"]["SegmentName"],
        "audience-stream-hyogo"
    );
    assert_eq!(pp["members"], s["segments"]["hyogo"]["members"]);
    let csv = read("out/outbox/pinpoint/hyogo/v1.csv");
    assert!(
        csv.starts_with("ChannelType,Address,Id,User.UserId"),
        "{csv}"
    );
    assert_eq!(csv.lines().count() as u64 - 1, pp["rows"].as_u64().unwrap());
}

#[test]
fn replaying_the_same_files_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = [fixture("events.jsonl"), fixture("user-attributes.jsonl")];
    let first = run_json(dir.path(), &["replay", "--json", &files[0], &files[1]]);
    let stats1 = run_json(dir.path(), &["stats", "--json"]);
    let second = run_json(dir.path(), &["replay", "--json", &files[0], &files[1]]);
    let stats2 = run_json(dir.path(), &["stats", "--json"]);
    assert_eq!(second["records"], first["records"]);
    // Counted events are recognised by their fingerprint; every other record is re-applied
    // with no effect (maxima, minima and last-writer-wins): nothing is written either way.
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap();
    assert_eq!(
        n(&second, "duplicates") + n(&second, "unchanged"),
        n(&second, "decoded"),
        "every record of the second pass is a duplicate or has no effect"
    );
    assert!(n(&second, "duplicates") > 0, "{second}");
    assert_eq!(n(&second, "decoded"), n(&first, "decoded"));
    assert_eq!(n(&first, "duplicates"), 0);
    for seg in second["segments"].as_object().unwrap().values() {
        assert_eq!(
            (seg["entered"].as_u64(), seg["exited"].as_u64()),
            (Some(0), Some(0))
        );
    }
    assert_eq!(stats1, stats2, "stats identical after the second pass");
}

#[test]
fn attribute_rows_feed_attribute_segments() {
    let dir = tempfile::tempdir().unwrap();
    let rows = std::fs::read_to_string(fixture("user-attributes.jsonl")).unwrap();
    let hyogo_rows = rows.lines().filter(|l| l.contains("兵庫県")).count();
    let s = run_json(
        dir.path(),
        &["replay", "--json", &fixture("user-attributes.jsonl")],
    );
    assert_eq!(s["files"][0]["format"], "attributes");
    assert_eq!(
        s["segments"]["hyogo"]["members"].as_u64().unwrap() as usize,
        hyogo_rows
    );
}

#[test]
fn every_malformed_record_is_set_aside_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let s = run_json(
        dir.path(),
        &[
            "replay",
            "--json",
            "--out",
            "out",
            &fixture("malformed/kinesis-malformed.json"),
            &fixture("malformed/events-malformed.jsonl"),
        ],
    );
    let reasons = s["set_aside_reasons"].as_object().unwrap();
    for reason in [
        "not_base64",
        "not_utf8",
        "not_json",
        "not_object",
        "wrong_type",
        "no_user_key",
        "too_deep",
    ] {
        assert!(
            reasons.get(reason).and_then(Value::as_u64).unwrap_or(0) >= 1,
            "{reason} missing in {reasons:?}"
        );
    }
    assert_eq!(
        reasons["not_json"], 2,
        "one in the Kinesis file, one JSON Lines line"
    );
    assert_eq!(
        s["set_aside"].as_u64().unwrap() + s["decoded"].as_u64().unwrap(),
        s["records"].as_u64().unwrap()
    );
    assert!(
        s["decoded"].as_u64().unwrap() > 0,
        "good records around the bad ones are applied"
    );
    let lines = std::fs::read_to_string(dir.path().join("out/set-aside.jsonl")).unwrap();
    assert_eq!(
        lines.lines().count() as u64,
        s["set_aside"].as_u64().unwrap()
    );
    assert!(
        lines.contains("file:events-malformed.jsonl:3"),
        "the bad line is named by file and line: {lines}"
    );
    assert!(
        lines.contains("shardId-"),
        "Kinesis records are named by shard and sequence number"
    );
}
