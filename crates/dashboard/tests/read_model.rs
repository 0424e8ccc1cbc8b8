//! The read model after a fixture replay: numbers equal the store's own counters, the read
//! budget holds, no user ID reaches the page, an empty store gets a helpful page, and 50
//! segments × 90 days stay under 150 KB.

mod common;

use audience_core::{Cause, ChangeKind, MembershipChange, Rules, UserState};
use audience_dashboard::{counting_store, load, render_page, Counted, LoadOptions, PageOptions};
use audience_store::{LedgerEntry, LedgerStatus, StateStore, UserCommit};
use audience_store_sqlite::EmbeddedStore;
use common::NOW;

#[tokio::test]
async fn numbers_equal_segment_counts_after_fixture_replay() {
    let (store, rules) = common::fixture_store().await;
    let counts = store.segment_counts().await.unwrap();
    let d = load(&store, &rules, NOW, &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(d.segments.len(), rules.segments.len());
    let mut total = 0;
    for row in &d.segments {
        let c = counts.get(&row.id).copied().unwrap_or_default();
        assert_eq!(row.members, c.members, "members of {}", row.id);
        assert_eq!(row.entered_total, c.entered, "entered of {}", row.id);
        assert_eq!(row.exited_total, c.exited, "exited of {}", row.id);
        assert_eq!(d.histories[&row.id].last().unwrap().size, c.members);
        total += c.members;
    }
    assert!(total > 0, "the replay made members");
    assert_eq!(d.summary.total_members, total);
    // Changes: 30-day change equals members now minus the size 30 days ago.
    for row in &d.segments {
        let h = &d.histories[&row.id];
        assert_eq!(
            row.change_30d.absolute,
            h[h.len() - 1].size - h[h.len() - 31].size
        );
    }
    // The stream lag is measured from the newest applied event.
    assert!(d.summary.newest_arrival_ms.is_some());
    assert!(d.summary.stream_lag_ms.unwrap() >= 0);
    // Destination state and reconciliation from the ledger.
    let hyogo = d.segment("hyogo").unwrap();
    let line = hyogo
        .destinations
        .iter()
        .find(|c| c.destination == "line")
        .unwrap();
    assert_eq!(
        line.target.as_deref(),
        Some("1700000000002"),
        "the rotated-to audience"
    );
    assert_eq!(line.rotations, 1);
    let rec = |seg: &str, dest: &str| {
        d.reconciliation
            .iter()
            .find(|r| r.segment == seg && r.destination == dest)
            .unwrap()
            .clone()
    };
    assert_eq!(rec("hyogo", "line").difference, Some(0));
    assert_eq!(rec("hyogo", "pinpoint").difference, Some(0));
    assert_eq!(
        rec("recent-buyers", "line").difference,
        Some(-40),
        "the failed add is not acknowledged"
    );
    assert_eq!(
        rec("recent-buyers", "pinpoint").acknowledged,
        None,
        "the import is still running"
    );
    assert_eq!(rec("big-spenders", "line").acknowledged, None);
    let line_health = d
        .summary
        .destinations
        .iter()
        .find(|h| h.destination == "line")
        .unwrap();
    assert_eq!((line_health.failed_24h, line_health.parked), (1, 1));
    assert!(d.ledger.iter().any(|r| r.rotation));
}

#[tokio::test]
async fn read_budget_is_segments_plus_three_and_never_scans() {
    let (store, rules) = common::fixture_store().await;
    let counting = counting_store(&store);
    let d = load(&counting, &rules, NOW, &LoadOptions::default())
        .await
        .unwrap();
    let budget = rules.segments.len() as u64 + 3;
    assert!(
        counting.total() <= budget,
        "{} reads > {budget}: {:?}",
        counting.total(),
        counting.by_method()
    );
    assert_eq!(
        d.store_reads,
        counting.total(),
        "the page reports what it read"
    );
    let by = counting.by_method();
    for forbidden in [
        "scan_users",
        "list_members",
        "load_users",
        "pending",
        "destination_state",
    ] {
        assert!(!by.contains_key(forbidden), "{forbidden} called: {by:?}");
    }
    let html = render_page(&d, &PageOptions::default()).unwrap();
    assert!(html.contains(&format!(
        "{} store reads (budget: {} segments + 3 = {budget})",
        counting.total(),
        rules.segments.len()
    )));
}

#[tokio::test]
async fn the_page_shows_no_user_ids_and_no_external_urls() {
    let (store, rules) = common::fixture_store().await;
    let d = load(&store, &rules, NOW, &LoadOptions::default())
        .await
        .unwrap();
    let html = render_page(&d, &PageOptions::default()).unwrap();
    let users = store.scan_users(None, 100_000).await.unwrap();
    assert!(users.users.len() > 100);
    for u in &users.users {
        assert!(!html.contains(&u.user), "user key {} on the page", u.user);
    }
    for member in store.list_members("hyogo", None, 1000).await.unwrap() {
        assert!(!html.contains(&member));
    }
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("src="),
        "no external URL"
    );
    assert!(!html.contains("<script"), "no JavaScript");
    assert!(
        html.contains("兵庫県のユーザー"),
        "Japanese descriptions are in the HTML"
    );
    for s in &rules.segments {
        assert!(html.contains(&format!("data-segment=\"{}\"", s.def.id)));
    }
}

#[tokio::test]
async fn empty_store_renders_a_helpful_page() {
    let store = EmbeddedStore::in_memory().unwrap();
    let rules = common::rules();
    let d = load(&store, &rules, NOW, &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(d.summary.total_members, 0);
    assert_eq!(d.summary.stream_lag_ms, None);
    let html = render_page(&d, &PageOptions::default()).unwrap();
    assert!(html.contains("id=\"empty\""));
    assert!(html.contains("No data yet"));
    assert!(html.contains("audience-stream replay fixtures/events.jsonl"));
    assert!(html.contains("No sync requests recorded yet"));
    // No segments at all (a rules file refuses that, but a page must not break): still a page.
    let mut none = rules.clone();
    none.segments.clear();
    let d = load(&store, &none, NOW, &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(d.store_reads, 3);
    let html = render_page(&d, &PageOptions::default()).unwrap();
    assert!(html.contains("defines no segments"));
}

#[tokio::test]
async fn a_sudden_size_change_is_flagged_with_one_more_read() {
    let (store, _) = common::fixture_store().await;
    let members = store.segment_counts().await.unwrap()["hyogo"].members;
    let rules = common::with_hyogo_alert(&store, members).await;
    let d = load(&store, &rules, NOW, &LoadOptions::default())
        .await
        .unwrap();
    let change = d
        .segment("hyogo")
        .unwrap()
        .sudden_change
        .clone()
        .expect("flagged");
    assert_eq!(
        (change.before, change.now, change.change),
        (members - 5, members, 5)
    );
    assert!(d
        .segments
        .iter()
        .filter(|s| s.id != "hyogo")
        .all(|s| s.sudden_change.is_none()));
    assert!(
        d.warnings
            .iter()
            .any(|w| w.starts_with("hyogo: sudden change: grew from")),
        "{:?}",
        d.warnings
    );
    assert_eq!(d.store_reads_budget, rules.segments.len() as u64 + 3 + 1);
    assert!(
        d.store_reads <= d.store_reads_budget,
        "{} > {}",
        d.store_reads,
        d.store_reads_budget
    );
    // An hour later the snapshot is too old for `within: 1h` (more than 2 × within): no verdict.
    let d = load(&store, &rules, NOW + 3 * 3_600_000, &LoadOptions::default())
        .await
        .unwrap();
    assert!(d.segment("hyogo").unwrap().sudden_change.is_none());
}

/// 50 segments with Japanese descriptions and both destinations, 120 days of history, 500
/// ledger rows.
async fn synthetic_store() -> (EmbeddedStore, Rules) {
    let mut yaml = String::from("version: 1\nsegments:\n");
    for i in 0..50 {
        yaml.push_str(&format!(
            "  - id: seg-{i:02}\n    description: 都道府県セグメント {i} — 直近30日の購入者と休眠ユーザーの組み合わせ\n    condition: {{ line_linked: true }}\n    destinations:\n      line: {{ audience_name: \"seg {i}\" }}\n      pinpoint: {{ segment_name: \"seg-{i}\" }}\n"
        ));
    }
    let rules = Rules::load(&yaml, "synthetic.yaml").unwrap();
    let store = EmbeddedStore::in_memory().unwrap();
    let today = audience_core::time::day_of(NOW);
    for u in 0..400i64 {
        let user = format!("synthetic-user-{u:04}");
        let mut changes = Vec::new();
        for s in 0..50i64 {
            if (u * 7 + s * 13) % 5 < 2 {
                let entered_day = today - 120 + ((u * 31 + s * 17) % 120) as i32;
                let seg = format!("seg-{s:02}");
                changes.push(MembershipChange {
                    segment: seg.clone(),
                    user: user.clone(),
                    kind: ChangeKind::Entered,
                    at: audience_core::time::day_start(entered_day) + 3_600_000,
                    day: entered_day,
                    cause: Cause::Rules,
                });
                if (u + s) % 4 == 0 && entered_day < today {
                    changes.push(MembershipChange {
                        segment: seg,
                        user: user.clone(),
                        kind: ChangeKind::Exited,
                        at: audience_core::time::day_start(entered_day + 1 + ((u + s) % 20) as i32)
                            .min(NOW),
                        day: (entered_day + 1 + ((u + s) % 20) as i32).min(today),
                        cause: Cause::Time,
                    });
                }
            }
        }
        let mut state = UserState::new(&user);
        state.version = 1;
        store
            .commit_user(&UserCommit {
                state,
                expected_version: 0,
                changes,
                outbox: vec![],
                links: vec![],
                absorbed: Vec::new(),
                prior_next_flip_at: None,
                batch_id: format!("synthetic-{u}"),
            })
            .await
            .unwrap();
    }
    for i in 0..500i64 {
        store
            .append_ledger(&LedgerEntry {
                at: NOW - i * 600_000,
                destination: if i % 2 == 0 { "line" } else { "pinpoint" }.into(),
                segment: format!("seg-{:02}", i % 50),
                action: if i % 2 == 0 { "add" } else { "import" }.into(),
                target: Some(format!("{}", 1_700_000_000_000 + i)),
                users: 100 + i as u64,
                exits: 0,
                status: if i % 17 == 0 {
                    LedgerStatus::Failed
                } else {
                    LedgerStatus::Ok
                },
                attempts: 1,
                duration_ms: 1234,
                message: (i % 17 == 0)
                    .then(|| "HTTP 500 from LINE after 5 attempts; will retry".to_string()),
                detail: serde_json::Value::Null,
            })
            .await
            .unwrap();
    }
    (store, rules)
}

#[tokio::test]
async fn fifty_segments_times_ninety_days_stay_under_150_kb() {
    let (store, rules) = synthetic_store().await;
    let counting = counting_store(&store);
    let d = load(&counting, &rules, NOW, &LoadOptions::default())
        .await
        .unwrap();
    assert!(counting.total() <= 53, "{:?}", counting.by_method());
    assert!(d.histories.values().all(|h| h.len() == 90));
    assert!(d.segments.iter().any(|s| s.change_30d.absolute != 0));
    let html = render_page(&d, &PageOptions::default()).unwrap();
    assert!(html.len() < 150 * 1024, "page is {} bytes", html.len());
    assert_eq!(
        html.matches("<tr data-segment=\"seg-").count(),
        50 + 100,
        "segment rows + reconciliation rows"
    );
    eprintln!("50 segments × 90 days: {} bytes", html.len());
}

#[tokio::test]
async fn today_and_history_follow_the_rules_time_zone() {
    use audience_core::{Payload, RawRecord, RecordId};
    let seg = "segments:\n  - id: buyers\n    condition: { event_count: { event_type: _monetization.purchase, within: 30d, min: 1 } }\n    destinations: { line: { audience_name: buyers } }\n";
    let tokyo = Rules::load(
        &format!("settings: {{ timezone: Asia/Tokyo }}\n{seg}"),
        "t.yaml",
    )
    .unwrap();
    let utc = Rules::load(seg, "u.yaml").unwrap();
    let store = EmbeddedStore::in_memory().unwrap();
    // 2025-11-30T23:30:00Z: still November in UTC, already 2025-12-01 08:30 in Tokyo.
    let now = NOW - 30 * 60_000;
    let event = serde_json::json!({
        "event_type": "_monetization.purchase", "event_timestamp": now - 60_000,
        "endpoint": {"Id": "ep-1", "User": {"UserId": "u-1"}}
    });
    let records = [RawRecord {
        id: RecordId::new("shard", "1"),
        payload: Payload::Json(event.to_string().into_bytes()),
        arrival_ms: None,
    }];
    let out = audience_pipeline::process_batch(
        &store,
        &tokyo,
        &records,
        now,
        &audience_pipeline::BatchOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(out.changes.len(), 1);
    let d = load(&store, &tokyo, now, &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(d.summary.timezone, "Asia/Tokyo");
    assert_eq!(d.summary.entered_today, 1, "today is 2025-12-01 in Tokyo");
    assert_eq!(d.summary.batches_today, 1);
    let page = render_page(&d, &PageOptions::default()).unwrap();
    assert!(page.contains("Asia/Tokyo"));
    // One member synced to LINE: the page warns that LINE would refuse a narrowcast.
    assert_eq!(
        d.warnings,
        vec!["buyers: 1 members: LINE refuses narrowcasts to fewer than 50 recipients"]
    );
    assert!(page.contains("LINE refuses narrowcasts to fewer than 50 recipients"));
    // Read with UTC days, the same instant is still 2025-11-30: the change is tomorrow's.
    let d = load(&store, &utc, now, &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(d.summary.entered_today, 0);
}

#[tokio::test]
async fn messages_sent_per_segment_per_day_come_from_the_ledger_within_the_budget() {
    let (store, rules) = common::fixture_store().await;
    const HOUR: i64 = 3_600_000;
    // (hours before NOW, segment, action, recipients, status); NOW is 2025-12-01T00:00Z (UTC rules).
    let rows = [
        (1, "welcome", "multicast", 3, LedgerStatus::Ok),
        (2, "welcome", "push", 1, LedgerStatus::Ok),
        (2, "welcome", "multicast", 7, LedgerStatus::DryRun),
        (3, "welcome", "push", 1, LedgerStatus::Failed),
        (3, "welcome", "skip", 4, LedgerStatus::Ok),
        (4, "farewell", "push", 1, LedgerStatus::Ok),
        (30, "welcome", "multicast", 500, LedgerStatus::Ok),
    ];
    for (hours, segment, action, recipients, status) in rows {
        store
            .append_ledger(&LedgerEntry {
                at: NOW - hours * HOUR,
                destination: "line_message".into(),
                segment: segment.into(),
                action: action.into(),
                target: Some(format!("key-{hours}-{action}")),
                users: recipients,
                exits: 0,
                status,
                attempts: 1,
                duration_ms: 10,
                message: None,
                detail: serde_json::json!({ "recipients": recipients }),
            })
            .await
            .unwrap();
    }
    let counting = counting_store(&store);
    let d = load(&counting, &rules, NOW, &LoadOptions::default())
        .await
        .unwrap();
    let got: Vec<(&str, &str, u64, u64)> = d
        .messages
        .iter()
        .map(|m| (m.day.as_str(), m.segment.as_str(), m.requests, m.sent))
        .collect();
    assert_eq!(
        got,
        vec![
            ("2025-11-30", "farewell", 1, 1),
            ("2025-11-30", "welcome", 2, 4),
            ("2025-11-29", "welcome", 1, 500),
        ],
        "accepted push/multicast only, recipients summed per day"
    );
    assert!(
        counting.total() <= rules.segments.len() as u64 + 3,
        "no read of its own: {:?}",
        counting.by_method()
    );
    let html = render_page(&d, &PageOptions::default()).unwrap();
    assert!(html.contains("LINE messages sent"));
    assert!(html.contains(
        r#"<tr data-segment="welcome" data-day="2025-11-29"><td class="n">2025-11-29</td><td class="id">welcome</td><td class="n">1</td><td class="n">500</td></tr>"#
    ), "{html}");
}
