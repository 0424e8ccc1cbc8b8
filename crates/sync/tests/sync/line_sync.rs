//! LINE sync against the fake: creating and filling, batching, rotation for exits, and
//! converging the fake's current audience to the segment's LINE members.

use super::util::*;
use audience_line::fake::{FakeLine, FakeOp};
use audience_line::LineClient;
use audience_store::{LedgerStatus, StateStore};
use audience_store_sqlite::EmbeddedStore;
use audience_sync::{LineSyncConfig, SegmentOutcome};

fn ids_of(fake: &FakeLine, op: FakeOp) -> Vec<usize> {
    fake.requests_for(op)
        .iter()
        .filter(|r| r.status < 300)
        .filter_map(|r| r.ids)
        .collect()
}

#[tokio::test]
async fn first_sync_creates_and_fills_then_sends_nothing_more() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    let mut list = users(0, 60);
    // Five members without a LINE ID: nothing to send, and they must not block.
    list.extend((0..5).map(|n| U {
        key: format!("nolink-{n}"),
        line: None,
        email: None,
    }));
    enter(&store, "vip", &list, T0).await;

    let report = sync_line(&store, &client, line_config(), T0).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );
    assert_eq!(ids_of(&fake, FakeOp::Create), vec![60]);
    let state = line_state(&store, "vip").await;
    let audience = state.audience.audience_id.unwrap();
    assert!(state.audience.created_by_us);
    assert_eq!(state.audience.description.as_deref(), Some("VIP members"));
    assert!(state.audience.expire_at.unwrap() > T0);
    assert_eq!(
        fake.members(audience).unwrap(),
        line_members(&store, "vip").await
    );
    assert!(
        pending(&store, "line", "vip").await.is_empty(),
        "every entry acknowledged"
    );
    let rows = ledger(&store, "line").await;
    assert!(rows.iter().any(|r| r.action == "create"
        && r.status == LedgerStatus::Ok
        && r.users == 60
        && r.target == Some(audience.to_string())));
    assert!(rows.iter().any(|r| r.action == "skip" && r.users == 5));

    let before = fake.requests().len();
    let report = sync_line(&store, &client, line_config(), T0 + MINUTE).await;
    assert_eq!(report.segments[0].sent, 0);
    assert_eq!(fake.requests().len(), before, "nothing pending: no request");
}

#[tokio::test]
async fn twenty_five_thousand_additions_are_three_json_requests_or_one_file() {
    // Existing audience, 25,000 new members: 3 JSON adds of ≤ 10,000.
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    enter(&store, "vip", &users(0, 60), T0).await;
    sync_line(&store, &client, line_config(), T0).await;
    enter(&store, "vip", &users(1_000, 25_000), T0 + MINUTE).await;
    fake.clear_requests();
    let report = sync_line(&store, &client, line_config(), T0 + 2 * MINUTE).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );
    assert_eq!(ids_of(&fake, FakeOp::Add), vec![10_000, 10_000, 5_000]);
    assert!(fake.requests_for(FakeOp::AddByFile).is_empty());
    let audience = line_state(&store, "vip")
        .await
        .audience
        .audience_id
        .unwrap();
    assert_eq!(
        fake.members(audience).unwrap(),
        line_members(&store, "vip").await
    );
    assert!(pending(&store, "line", "vip").await.is_empty());

    // Above the file threshold: one upload by file (here the first create).
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    enter(&store, "vip", &users(0, 25_000), T0).await;
    let config = LineSyncConfig {
        file_threshold: 20_000,
        ..line_config()
    };
    sync_line(&store, &client, config, T0).await;
    assert_eq!(ids_of(&fake, FakeOp::CreateByFile), vec![25_000]);
    assert!(
        fake.requests_for(FakeOp::Create).is_empty() && fake.requests_for(FakeOp::Add).is_empty()
    );
    let audience = line_state(&store, "vip")
        .await
        .audience
        .audience_id
        .unwrap();
    assert_eq!(fake.members(audience).unwrap().len(), 25_000);
    assert!(pending(&store, "line", "vip").await.is_empty());
}

#[tokio::test]
async fn exits_trigger_exactly_one_rotation_and_the_audience_converges() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    let members = users(0, 100);
    enter(&store, "vip", &members, T0).await;
    sync_line(&store, &client, line_config(), T0).await;
    let first = line_state(&store, "vip")
        .await
        .audience
        .audience_id
        .unwrap();

    // 2 exits (2%), recent: they wait for the policy.
    exit(&store, "vip", &members[..2], T0 + HOUR).await;
    let report = sync_line(&store, &client, line_config(), T0 + 2 * HOUR).await;
    assert!(
        report.segments[0]
            .notes
            .iter()
            .any(|n| n.contains("wait for the rotation policy")),
        "{report:?}"
    );
    assert!(fake.requests_for(FakeOp::CreateByFile).is_empty());
    assert_eq!(
        pending(&store, "line", "vip").await.len(),
        2,
        "exits stay pending"
    );

    // 20 exits (22% with the first two): rotate. Keep the replacement IN_PROGRESS.
    fake.set_auto_settle(false);
    exit(&store, "vip", &members[2..20], T0 + 3 * HOUR).await;
    sync_line(&store, &client, line_config(), T0 + 4 * HOUR).await;
    assert_eq!(
        ids_of(&fake, FakeOp::CreateByFile),
        vec![80],
        "one replacement built by file from the 80 members"
    );
    let state = line_state(&store, "vip").await;
    let replacement = state.audience.replacement.as_ref().unwrap().audience_id;
    assert_eq!(
        state.audience.audience_id,
        Some(first),
        "still the old audience until READY"
    );
    assert_eq!(state.exits_owed, 20);
    assert_eq!(state.audience.generation, 2);
    assert_eq!(
        fake.audience(replacement).unwrap().description,
        "VIP members #2"
    );
    assert!(
        pending(&store, "line", "vip").await.is_empty(),
        "exits folded into the replacement"
    );

    // A member enters while the replacement is built: added to both audiences.
    let newcomer = users(500, 1);
    enter(&store, "vip", &newcomer, T0 + 5 * HOUR).await;
    let report = sync_line(&store, &client, line_config(), T0 + 6 * HOUR).await;
    assert!(
        report.segments[0]
            .notes
            .iter()
            .any(|n| n.contains("IN_PROGRESS")),
        "{report:?}"
    );
    assert!(fake
        .members(replacement)
        .unwrap()
        .contains(&newcomer[0].line.clone().unwrap()));
    assert!(fake
        .members(first)
        .unwrap()
        .contains(&newcomer[0].line.clone().unwrap()));

    // LINE finishes the replacement: the next run switches and retires the old audience.
    fake.settle(replacement);
    fake.set_auto_settle(true);
    sync_line(&store, &client, line_config(), T0 + 7 * HOUR).await;
    let state = line_state(&store, "vip").await;
    assert_eq!(state.audience.audience_id, Some(replacement));
    assert!(state.audience.replacement.is_none());
    assert_eq!(state.exits_owed, 0);
    assert_eq!(
        fake.members(replacement).unwrap(),
        line_members(&store, "vip").await,
        "the current audience equals the segment"
    );
    assert!(ledger(&store, "line")
        .await
        .iter()
        .any(|r| r.action == "rotate" && r.status == LedgerStatus::Ok && r.exits == 20));

    // More exits right away: the interval (24 h) forbids a second rotation.
    exit(&store, "vip", &members[20..60], T0 + 7 * HOUR + 10 * MINUTE).await;
    sync_line(&store, &client, line_config(), T0 + 7 * HOUR + 20 * MINUTE).await;
    assert_eq!(
        fake.requests_for(FakeOp::CreateByFile).len(),
        1,
        "exactly one rotation"
    );
    assert!(
        fake.audience(first).is_some(),
        "old audience kept during the grace period"
    );

    // After the grace period the old audience (ours) is deleted.
    sync_line(&store, &client, line_config(), T0 + 10 * HOUR).await;
    assert!(fake.audience(first).is_none(), "old audience deleted");
    assert!(line_state(&store, "vip").await.audience.retired.is_empty());
}

#[tokio::test]
async fn a_failed_replacement_keeps_the_current_audience_and_the_exits_owed() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    let members = users(0, 100);
    enter(&store, "vip", &members, T0).await;
    sync_line(&store, &client, line_config(), T0).await;
    let first = line_state(&store, "vip")
        .await
        .audience
        .audience_id
        .unwrap();
    fake.set_auto_settle(false);
    exit(&store, "vip", &members[..30], T0 + HOUR).await;
    sync_line(&store, &client, line_config(), T0 + 2 * HOUR).await;
    let replacement = line_state(&store, "vip")
        .await
        .audience
        .replacement
        .unwrap()
        .audience_id;
    fake.set_status(replacement, audience_line::AudienceStatus::Failed);
    sync_line(&store, &client, line_config(), T0 + 3 * HOUR).await;
    let state = line_state(&store, "vip").await;
    assert_eq!(state.audience.audience_id, Some(first));
    assert!(state.audience.replacement.is_none());
    assert_eq!(state.exits_owed, 30, "the exits still need a rotation");
    assert!(ledger(&store, "line")
        .await
        .iter()
        .any(|r| r.action == "rotate" && r.status == LedgerStatus::Failed));
    // A day later the policy rotates again, from the current membership.
    fake.set_auto_settle(true);
    sync_line(&store, &client, line_config(), T0 + 2 * HOUR + DAY).await;
    assert!(
        fake.audience(replacement).is_none(),
        "the failed replacement (ours, unused) is deleted"
    );
    sync_line(&store, &client, line_config(), T0 + 3 * HOUR + DAY).await;
    let state = line_state(&store, "vip").await;
    let current = state.audience.audience_id.unwrap();
    assert_ne!(current, first);
    assert_eq!(
        fake.audience(current).unwrap().description,
        "VIP members #3"
    );
    assert_eq!(
        fake.members(current).unwrap(),
        line_members(&store, "vip").await
    );
}

#[tokio::test]
async fn a_segment_that_shrinks_to_a_handful_then_to_nobody_still_rotates() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    let members = users(0, 60);
    enter(&store, "vip", &members, T0).await;
    sync_line(&store, &client, line_config(), T0).await;
    let first = line_state(&store, "vip")
        .await
        .audience
        .audience_id
        .unwrap();

    // 57 of 60 leave: the replacement holds 3 users, becomes READY and is switched to.
    exit(&store, "vip", &members[..57], T0 + HOUR).await;
    let report = sync_line(&store, &client, line_config(), T0 + 2 * HOUR).await;
    assert!(
        report.segments[0]
            .notes
            .iter()
            .any(|n| n.contains("fewer than 50 recipients")),
        "{report:?}"
    );
    assert_eq!(ids_of(&fake, FakeOp::CreateByFile), vec![3]);
    sync_line(&store, &client, line_config(), T0 + 3 * HOUR).await;
    let state = line_state(&store, "vip").await;
    let small = state.audience.audience_id.unwrap();
    assert_ne!(small, first, "switched to the 3-member audience");
    assert_eq!(
        fake.audience(small).unwrap().status,
        audience_line::AudienceStatus::Ready
    );
    assert_eq!(
        fake.members(small).unwrap(),
        line_members(&store, "vip").await
    );
    assert_eq!(fake.members(small).unwrap().len(), 3);
    assert_eq!(state.exits_owed, 0);

    // The last 3 leave; a day later the segment rotates to an empty audience (by JSON:
    // a file cannot be empty) that LINE accepts as READY.
    exit(&store, "vip", &members[57..], T0 + 4 * HOUR).await;
    sync_line(&store, &client, line_config(), T0 + 3 * HOUR + DAY).await;
    sync_line(&store, &client, line_config(), T0 + 4 * HOUR + DAY).await;
    let state = line_state(&store, "vip").await;
    let empty = state.audience.audience_id.unwrap();
    assert_ne!(empty, small, "switched to the empty audience");
    assert!(fake.members(empty).unwrap().is_empty());
    assert_eq!(
        fake.audience(empty).unwrap().status,
        audience_line::AudienceStatus::Ready
    );
    assert_eq!(state.exits_owed, 0);
    assert!(pending(&store, "line", "vip").await.is_empty());
    assert_eq!(
        ids_of(&fake, FakeOp::Create),
        vec![60, 0],
        "first audience, then the empty one"
    );
    assert_eq!(
        ids_of(&fake, FakeOp::CreateByFile),
        vec![3],
        "the 3-member replacement"
    );

    // `audiences` reads this history back from the stored state and the ledger.
    let stored = line_state(&store, "vip").await;
    let rows = store.ledger(1000).await.unwrap();
    let h = audience_sync::line::history::audience_history("vip", Some(&stored), &rows);
    let current = h.current.as_ref().unwrap();
    assert_eq!(current.audience_id, empty);
    assert_eq!(current.name.as_deref(), Some("VIP members #3"));
    assert_eq!(current.in_use_from, Some(T0 + 4 * HOUR + DAY));
    assert!(h.replacement.is_none());
    let earlier: Vec<_> = h
        .earlier
        .iter()
        .map(|r| {
            (
                r.audience_id,
                r.name.as_deref(),
                r.in_use_from,
                r.replaced_at,
            )
        })
        .collect();
    assert_eq!(
        earlier,
        vec![
            (
                small,
                Some("VIP members #2"),
                Some(T0 + 3 * HOUR),
                Some(T0 + 4 * HOUR + DAY)
            ),
            (first, Some("VIP members"), Some(T0), Some(T0 + 3 * HOUR)),
        ]
    );
    assert_eq!(
        h.earlier[1].deleted_at,
        Some(T0 + 3 * HOUR + DAY),
        "deleted after the grace period"
    );
}
