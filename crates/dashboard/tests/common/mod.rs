//! Shared test setup: the shipped rules, a live-like replay of fixtures/events.jsonl into a
//! store (batches of 100 in time order, each evaluated at its newest event time, as the
//! consumer Lambda would), and a realistic sync ledger on top.

#![allow(dead_code)]

use audience_core::{decode_record, Millis, Payload, RawRecord, RecordId, Rules};
use audience_pipeline::{process_batch, BatchOptions};
use audience_store::{LedgerEntry, LedgerStatus, StateStore};
use audience_store_sqlite::EmbeddedStore;
use std::path::PathBuf;

/// The newest fixture event: 2025-12-01T00:00:00Z.
pub const NOW: Millis = 1_764_547_200_000;
const HOUR: Millis = 3_600_000;

pub fn repo_root() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into())).join("../..")
}

pub fn rules() -> Rules {
    let path = repo_root().join("fixtures/segments.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    Rules::load(&text, "fixtures/segments.yaml").unwrap()
}

/// The shipped rules with a size alert on `hyogo` (`change_abs: 1, within: 1h`), and a size
/// snapshot an hour before NOW recording `hyogo` 5 members smaller than `members`: the page
/// must mark hyogo with a sudden change.
pub async fn with_hyogo_alert(store: &dyn StateStore, members: i64) -> Rules {
    let text = std::fs::read_to_string(repo_root().join("fixtures/segments.yaml")).unwrap();
    let text = text.replacen(
        "  - id: hyogo\n",
        "  - id: hyogo\n    alert: { change_abs: 1, within: 1h }\n",
        1,
    );
    let rules = Rules::load(&text, "segments.yaml").unwrap();
    assert!(rules.segment("hyogo").unwrap().def.alert.is_some());
    store
        .record_sizes(&audience_store::SizeSnapshot {
            at: NOW - HOUR,
            sizes: [("hyogo".to_string(), members - 5)].into_iter().collect(),
        })
        .await
        .unwrap();
    rules
}

/// Replays fixtures/events.jsonl in time order into `store`.
pub async fn replay_fixture(store: &dyn StateStore, rules: &Rules) {
    let text = std::fs::read_to_string(repo_root().join("fixtures/events.jsonl")).unwrap();
    let records: Vec<RawRecord> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| RawRecord {
            id: RecordId::new("file:events.jsonl", (i + 1).to_string()),
            payload: Payload::Json(line.as_bytes().to_vec()),
            arrival_ms: None,
        })
        .collect();
    assert_eq!(records.len(), 3000);
    for chunk in records.chunks(100) {
        let now = chunk
            .iter()
            .filter_map(|r| {
                decode_record(r, &rules.decode, audience_core::Clock::at(i64::MAX)).ok()
            })
            .map(|d| d.event.event_timestamp)
            .max()
            .unwrap();
        let out = process_batch(store, rules, chunk, now, &BatchOptions::default())
            .await
            .unwrap();
        assert!(out.failed.is_empty());
    }
}

/// One ledger row: hours before NOW, destination, segment, action, target, users, exits,
/// status, duration ms, message.
type Row = (
    f64,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    u64,
    u64,
    LedgerStatus,
    u64,
    &'static str,
);

/// A sync ledger consistent with the replayed members, appended in time order: hyogo fully
/// synced to LINE (with one rotation) and Pinpoint; recent-buyers 40 behind on LINE after a
/// failure with its import still running; big-spenders parked.
pub async fn add_ledger(store: &dyn StateStore) {
    use LedgerStatus::{Failed, Ok, Parked, Running};
    let counts = store.segment_counts().await.unwrap();
    let m = |s: &str| counts.get(s).map_or(0, |c| c.members.max(0) as u64);
    let (hyogo, buyers, hlb) = (m("hyogo"), m("recent-buyers"), m("hyogo-line-buyers"));
    #[rustfmt::skip]
    let rows: Vec<Row> = vec![
        (72.0, "line", "hyogo", "create", "1700000000001", hyogo - 8, 0, Ok, 840, ""),
        (48.0, "line", "hyogo", "add", "1700000000001", 6, 0, Ok, 310, ""),
        (31.0, "pinpoint", "hyogo", "import", "job-7f3a", 12, 3, Running, 0, "import job job-7f3a created"),
        (30.0, "pinpoint", "hyogo", "import", "job-7f3a", 0, 0, Ok, 95_000, "import job job-7f3a COMPLETED"),
        (20.0, "line", "hyogo", "rotate", "1700000000002", hyogo - 5, 9, Ok, 2_400, "replacement built: 9 exits pending for 7 days"),
        (19.5, "line", "hyogo", "rotate", "1700000000002", 0, 9, Ok, 150, "switched to replacement 1700000000002 (READY); 9 exits now effective"),
        (18.5, "line", "hyogo", "delete", "1700000000001", 0, 0, Ok, 120, "old audience deleted after the grace period"),
        (6.0, "line", "hyogo-line-buyers", "create", "1700000000004", hlb, 0, Ok, 700, ""),
        (5.0, "line", "big-spenders", "create", "", 0, 0, Parked, 450, "HTTP 400: audienceGroup description too long"),
        (3.0, "line", "recent-buyers", "create", "1700000000003", buyers - 40, 0, Ok, 910, ""),
        (2.0, "line", "hyogo", "add", "1700000000002", 5, 0, Ok, 290, ""),
        (1.5, "pinpoint", "recent-buyers", "import", "job-81c2", 40, 2, Running, 60_000, "IN_PROGRESS"),
        (1.0, "line", "recent-buyers", "add", "1700000000003", 40, 0, Failed, 31_000, "HTTP 500 from LINE after 5 attempts; will retry"),
    ];
    for (hours, dest, seg, action, target, users, exits, status, ms, msg) in rows {
        let mut detail = serde_json::Value::Null;
        if dest == "pinpoint" && status == Ok {
            detail = serde_json::json!({ "total_processed": m(seg), "total_failures": 0 });
        }
        let entry = LedgerEntry {
            at: NOW - (hours * HOUR as f64) as Millis,
            destination: dest.into(),
            segment: seg.into(),
            action: action.into(),
            target: (!target.is_empty()).then(|| target.to_string()),
            users,
            exits,
            status,
            attempts: if status == Failed { 5 } else { 1 },
            duration_ms: ms,
            message: (!msg.is_empty()).then(|| msg.to_string()),
            detail,
        };
        store.append_ledger(&entry).await.unwrap();
    }
}

/// An in-memory store holding the fixture replay and the ledger.
pub async fn fixture_store() -> (EmbeddedStore, Rules) {
    let store = EmbeddedStore::in_memory().unwrap();
    let rules = rules();
    replay_fixture(&store, &rules).await;
    add_ledger(&store).await;
    (store, rules)
}
