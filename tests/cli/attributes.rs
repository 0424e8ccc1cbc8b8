//! Attribute imports with a column mapping: seed-style rows whose `id` is a LINE user ID
//! (`--id-kind line`), or whose LINE user ID is in a column of its own
//! (`--line-user-id-column`), build the `hyogo` LINE audience.

use crate::util::*;
use std::path::Path;

const LINE_IDS: [&str; 3] = [
    "U0123456789abcdef0123456789abcdef",
    "Ufedcba9876543210fedcba9876543210",
    "U00000000000000000000000000000abc",
];

/// Runs `sync --dry-run --destination line` and returns the planned hyogo file.
fn planned_hyogo(dir: &Path) -> String {
    let out = dir.join("plan");
    let plan = run(
        dir,
        &[
            "sync",
            "--dry-run",
            "--destination",
            "line",
            "--out",
            &out.display().to_string(),
        ],
    );
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    std::fs::read_to_string(out.join("line/hyogo.json")).unwrap_or_default()
}

#[test]
fn rows_keyed_by_line_user_id_build_the_line_audience() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.jsonl");
    let rows: Vec<String> = LINE_IDS
        .iter()
        .map(|id| format!(r#"{{"id": "{id}", "pref": "兵庫県"}}"#))
        .chain([r#"{"id": "U11111111111111111111111111111111", "pref": "大阪府"}"#.to_string()])
        .collect();
    std::fs::write(&seed, rows.join("\n")).unwrap();
    let seed = seed.display().to_string();

    // As app user IDs (the default), nobody is LINE-linked: nothing for LINE.
    let plain = tempfile::tempdir().unwrap();
    run_json(plain.path(), &["replay", "--json", &seed]);
    let stats = run_json(plain.path(), &["stats", "--json"]);
    assert_eq!(stats["segments"]["hyogo"]["members"], 3);
    assert!(!planned_hyogo(plain.path()).contains(LINE_IDS[0]));

    // As LINE user IDs: each row's user is keyed by it and has it as their LINE ID.
    run_json(
        dir.path(),
        &["replay", "--json", "--id-kind", "line", &seed],
    );
    let stats = run_json(dir.path(), &["stats", "--json"]);
    assert_eq!(stats["segments"]["hyogo"]["members"], 3);
    assert_eq!(stats["segments"]["line-linked"]["members"], 4, "{stats}");
    let plan = planned_hyogo(dir.path());
    for id in LINE_IDS {
        assert!(
            plan.contains(id),
            "{id} in the planned hyogo audience: {plan}"
        );
    }
    assert!(
        !plan.contains("U11111111111111111111111111111111"),
        "not in Hyogo"
    );
}

#[test]
fn a_line_user_id_column_and_a_custom_id_column_are_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("crm.jsonl");
    std::fs::write(
        &seed,
        format!(
            "{{\"customer\": \"c-1\", \"line_id\": \"{}\", \"pref\": \"兵庫県\"}}\n{{\"customer\": \"c-2\", \"pref\": \"兵庫県\"}}\n",
            LINE_IDS[1]
        ),
    )
    .unwrap();
    let seed = seed.display().to_string();
    let args = [
        "replay",
        "--json",
        "--id-column",
        "customer",
        "--line-user-id-column",
        "line_id",
        &seed,
    ];
    let summary = run_json(dir.path(), &args);
    assert_eq!(summary["files"][0]["format"], "attributes", "{summary}");
    let explain = run(dir.path(), &["explain", "c-1", "--segment", "hyogo"]);
    assert!(
        explain.status.success(),
        "{}",
        String::from_utf8_lossy(&explain.stderr)
    );
    let plan = planned_hyogo(dir.path());
    assert!(plan.contains(LINE_IDS[1]), "{plan}");
    let stats = run_json(dir.path(), &["stats", "--json"]);
    assert_eq!(stats["segments"]["hyogo"]["members"], 2);
}
