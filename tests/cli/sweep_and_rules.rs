//! `sweep`, `rules diff`, `rules apply` and `explain` over a replayed store.

use crate::util::*;

fn replayed() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    run_json(dir.path(), &["replay", "--json", &fixture("events.jsonl")]);
    dir
}

#[test]
fn sweep_moves_users_on_time() {
    let dir = replayed();
    let facts = facts();
    let later = NEWEST + 20 * DAY;
    let out = run_json(
        dir.path(),
        &["sweep", "--json", "--now", "2025-12-21T00:00:00Z"],
    );
    assert!(out["users"].as_u64().unwrap() > 0);
    let stats = run_json(dir.path(), &["stats", "--json"]);
    assert_eq!(
        stats["segments"]["recent-buyers"]["members"]
            .as_u64()
            .unwrap() as usize,
        recent_buyers(&facts, later)
    );
    assert_eq!(
        stats["segments"]["dormant"]["members"].as_u64().unwrap() as usize,
        dormant(&facts, later)
    );
    assert!(
        dormant(&facts, later) > dormant(&facts, NEWEST),
        "time alone made users dormant"
    );
    // A second sweep at the same instant finds nothing new.
    let again = run_json(
        dir.path(),
        &["sweep", "--json", "--now", "2025-12-21T00:00:00Z"],
    );
    assert_eq!(again["changes"].as_array().unwrap().len(), 0);
}

#[test]
fn a_sudden_change_is_flagged_by_sweep_and_stats() {
    // `dormant` with an alert on any change within 7 days; the sweep records sizes each run.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("segments.yaml")).unwrap();
    let with_alert = text.replacen(
        "  - id: dormant\n",
        "  - id: dormant\n    alert: { change_abs: 1, within: 7d }\n",
        1,
    );
    assert_ne!(text, with_alert);
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, with_alert).unwrap();
    let rules = rules.to_str().unwrap();
    let facts = facts();
    let (before, after) = (dormant(&facts, NEWEST), dormant(&facts, NEWEST + 7 * DAY));
    assert_ne!(
        before, after,
        "the fixture's dormant segment moves in a week"
    );
    run_json(
        dir.path(),
        &[
            "replay",
            "--json",
            "--rules",
            rules,
            &fixture("events.jsonl"),
        ],
    );
    let first = run_json(
        dir.path(),
        &[
            "sweep",
            "--json",
            "--rules",
            rules,
            "--now",
            "2025-12-01T00:00:00Z",
        ],
    );
    assert!(
        first["alerts"]["dormant"]["sudden_change"].is_null(),
        "no earlier size yet: {}",
        first["alerts"]
    );
    let week = run_json(
        dir.path(),
        &[
            "sweep",
            "--json",
            "--rules",
            rules,
            "--now",
            "2025-12-08T00:00:00Z",
        ],
    );
    let change = &week["alerts"]["dormant"]["sudden_change"];
    assert_eq!(
        change["before"].as_u64().unwrap() as usize,
        before,
        "{week}"
    );
    assert_eq!(change["now"].as_u64().unwrap() as usize, after, "{week}");
    let stats = run_json(
        dir.path(),
        &[
            "stats",
            "--json",
            "--rules",
            rules,
            "--now",
            "2025-12-08T00:00:00Z",
        ],
    );
    assert_eq!(stats["size_alerts"]["dormant"]["sudden_change"], *change);
    let text = run(
        dir.path(),
        &["stats", "--rules", rules, "--now", "2025-12-08T00:00:00Z"],
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!(
            "sudden change: dormant grew from {before} to {after}"
        )),
        "{text}"
    );
    // Segments without an alert are not judged.
    assert!(stats["size_alerts"].get("hyogo").is_none());
}

#[test]
fn rules_diff_reports_a_changed_threshold() {
    let dir = replayed();
    let facts = facts();
    let text = std::fs::read_to_string(fixture("segments.yaml")).unwrap();
    let changed = text.replace("min: 10000", "min: 20000");
    assert_ne!(text, changed);
    let new = dir.path().join("new.yaml");
    std::fs::write(&new, changed).unwrap();
    let diff = run_json(
        dir.path(),
        &[
            "rules",
            "diff",
            &fixture("segments.yaml"),
            new.to_str().unwrap(),
            "--json",
            "--now",
            "2025-12-01T00:00:00Z",
        ],
    );
    let exits = diff["exit"]["big-spenders"].as_array().map_or(0, Vec::len);
    let expected = spenders(&facts, NEWEST, 10_000.0) - spenders(&facts, NEWEST, 20_000.0);
    assert!(expected > 0, "the fixture has users between the thresholds");
    assert_eq!(exits, expected);
    assert!(diff["enter"].as_object().unwrap().is_empty());
    // Nothing was written.
    let stats = run_json(dir.path(), &["stats", "--json"]);
    assert_eq!(
        stats["segments"]["big-spenders"]["members"]
            .as_u64()
            .unwrap() as usize,
        spenders(&facts, NEWEST, 10_000.0)
    );
}

#[test]
fn explain_shows_the_deciding_values() {
    let dir = replayed();
    let facts = facts();
    let (user, f) = facts
        .iter()
        .find(|(_, f)| f.pref.as_ref().is_some_and(|(_, p)| p == "兵庫県"))
        .unwrap();
    let out = run_json(
        dir.path(),
        &[
            "explain",
            user,
            "--segment",
            "hyogo",
            "--json",
            "--now",
            "2025-12-01T00:00:00Z",
        ],
    );
    assert_eq!(out[0]["member_now"], true);
    assert!(
        out[0]["explanation"]["detail"]
            .as_str()
            .unwrap()
            .contains("兵庫県"),
        "{out}"
    );
    let _ = f;
    let text = run(
        dir.path(),
        &["explain", user, "--now", "2025-12-01T00:00:00Z"],
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("IN  hyogo"), "{text}");
    assert!(text.contains("count of `_monetization.purchase`"), "{text}");
}

#[test]
fn rules_apply_publishes_a_changed_threshold() {
    let dir = replayed();
    let facts = facts();
    let text = std::fs::read_to_string(fixture("segments.yaml")).unwrap();
    let changed = text.replace("min: 10000", "min: 20000");
    let new = dir.path().join("new.yaml");
    std::fs::write(&new, &changed).unwrap();
    let new = new.to_str().unwrap();
    let expected = spenders(&facts, NEWEST, 10_000.0) - spenders(&facts, NEWEST, 20_000.0);
    let before = run_json(dir.path(), &["stats", "--json"]);
    let queued_exits = |stats: &serde_json::Value| {
        stats["pending"]["line"]["big-spenders"]["exits"]
            .as_u64()
            .unwrap_or(0)
    };

    let out = run_json(
        dir.path(),
        &[
            "rules",
            "apply",
            new,
            "--json",
            "--now",
            "2025-12-01T00:00:00Z",
        ],
    );
    let outcome = &out["outcome"];
    assert_eq!(outcome["finished"], true, "{out}");
    assert_eq!(
        outcome["run"]["exited"]["big-spenders"].as_u64().unwrap() as usize,
        expected
    );
    let stats = run_json(dir.path(), &["stats", "--json"]);
    assert_eq!(
        stats["segments"]["big-spenders"]["members"]
            .as_u64()
            .unwrap() as usize,
        spenders(&facts, NEWEST, 20_000.0)
    );
    assert_eq!(
        queued_exits(&stats) - queued_exits(&before),
        expected as u64,
        "the exits are queued for LINE"
    );

    // Again: nothing changes, and the human summary says so.
    let again = run(
        dir.path(),
        &["rules", "apply", new, "--now", "2025-12-01T00:00:00Z"],
    );
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        text.contains("no user entered or exited any segment"),
        "{text}"
    );
    assert_eq!(run_json(dir.path(), &["stats", "--json"]), stats);

    // --resume with nothing unfinished is an error that says so.
    let resume = run(dir.path(), &["rules", "apply", new, "--resume"]);
    assert!(!resume.status.success());
    assert!(
        String::from_utf8_lossy(&resume.stderr).contains("nothing to resume"),
        "{}",
        String::from_utf8_lossy(&resume.stderr)
    );

    // A file that drops a segment with members is refused, naming it, and writes nothing.
    assert!(stats["segments"]["dormant"]["members"].as_u64().unwrap() > 0);
    let start = changed.find("  - id: dormant").unwrap();
    let end = changed.find("  - id: line-linked").unwrap();
    let dropping = format!("{}{}", &changed[..start], &changed[end..]);
    let path = dir.path().join("dropping.yaml");
    std::fs::write(&path, dropping).unwrap();
    let refused = run(dir.path(), &["rules", "apply", path.to_str().unwrap()]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("`dormant`") && err.contains("--drop-removed"),
        "{err}"
    );
    assert_eq!(run_json(dir.path(), &["stats", "--json"]), stats);
}
