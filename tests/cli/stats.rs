//! `stats`: daily history on the calendar days of `settings.timezone`, and the warning about
//! LINE's narrowcast minimum.

use crate::util::*;
use serde_json::Value;

/// The shipped rules with `settings.timezone: Asia/Tokyo`, written into `dir`.
fn tokyo_rules(dir: &std::path::Path) -> String {
    let text = std::fs::read_to_string(fixture("segments.yaml")).unwrap();
    let text = text.replacen(
        "version: 1\n",
        "version: 1\nsettings:\n  timezone: Asia/Tokyo\n",
        1,
    );
    let path = dir.join("tokyo.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn history_days(stats: &Value, segment: &str) -> Vec<String> {
    stats["history"][segment]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["day"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn history_days_follow_the_rules_time_zone() {
    let events = fixture("events.jsonl");
    let attributes = fixture("user-attributes.jsonl");
    // 23:30 UTC on 2025-11-30 is 08:30 on 2025-12-01 in Tokyo.
    let now = "2025-11-30T23:30:00Z";
    let utc = tempfile::tempdir().unwrap();
    run_json(
        utc.path(),
        &["replay", "--json", "--now", now, &events, &attributes],
    );
    let stats = run_json(utc.path(), &["stats", "--json"]);
    assert_eq!(stats["timezone"], "UTC");
    assert_eq!(history_days(&stats, "hyogo"), vec!["2025-11-30"]);

    let tokyo = tempfile::tempdir().unwrap();
    let rules = tokyo_rules(tokyo.path());
    let args = [
        "replay",
        "--json",
        "--rules",
        &rules,
        "--now",
        now,
        &events,
        &attributes,
    ];
    run_json(tokyo.path(), &args);
    let stats = run_json(tokyo.path(), &["stats", "--json", "--rules", &rules]);
    assert_eq!(stats["timezone"], "Asia/Tokyo");
    assert_eq!(history_days(&stats, "hyogo"), vec!["2025-12-01"]);
}

#[test]
fn small_line_segments_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    run_json(
        dir.path(),
        &[
            "replay",
            "--json",
            &fixture("events.jsonl"),
            &fixture("user-attributes.jsonl"),
        ],
    );
    let stats = run_json(dir.path(), &["stats", "--json"]);
    let warnings: Vec<&str> = stats["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    let rules = audience_core::Rules::load(
        &std::fs::read_to_string(fixture("segments.yaml")).unwrap(),
        "segments.yaml",
    )
    .unwrap();
    let mut expected = Vec::new();
    for seg in rules
        .segments
        .iter()
        .filter(|s| s.def.destinations.has("line"))
    {
        let members = stats["segments"][&seg.def.id]["members"]
            .as_u64()
            .unwrap_or(0);
        if members < 50 {
            expected.push(format!(
                "{}: {members} members: LINE refuses narrowcasts to fewer than 50 recipients",
                seg.def.id
            ));
        }
    }
    assert!(
        !expected.is_empty(),
        "the fixtures have a small LINE segment: {stats}"
    );
    assert_eq!(warnings, expected);
    let text = run(dir.path(), &["stats"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("warning: ") && text.contains("fewer than 50 recipients"),
        "{text}"
    );
}
