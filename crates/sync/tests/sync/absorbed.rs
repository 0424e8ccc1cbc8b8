//! Exits of absorbed identities: a LINE friend known only by the webhook (`line:U…`) is
//! uploaded to a segment's audience, then an app event folds that identity into an app user
//! who is not a member. The pipeline records an exit for `line:U…` and deletes its state; the
//! sync must count that exit (the ID was sent under the old key) and rotate it out.

use super::util::*;
use audience_core::plan::line::RotationPolicy;
use audience_core::{ChangeKind, Rules};
use audience_line::fake::{FakeLine, FakeOp};
use audience_line::LineClient;
use audience_pipeline::{process_batch, BatchOptions};
use audience_store::StateStore;
use audience_store_sqlite::EmbeddedStore;
use audience_sync::{
    LineDestination, LineSyncConfig, SegmentOutcome, SyncContext, SyncReport, SyncRunner,
};
use audience_testkit::scenarios::records;
use serde_json::json;
use std::time::Duration;

const SEGMENT: &str = "not-yet-buyers";

const RULES: &str = r#"
version: 1
segments:
  - id: not-yet-buyers
    condition:
      all:
        - line_linked: true
        - not: { event_count: { event_type: _monetization.purchase, within: 30d, min: 1 } }
    destinations:
      line: { audience_name: "LINE friends who have not bought" }
"#;

/// The key the "webhook function" signs with in this test.
fn record_key() -> audience_core::signature::RecordKey {
    audience_core::signature::RecordKey::new(b"absorbed-test-record-key".to_vec()).unwrap()
}

/// A follow as the LINE webhook function writes it: signed.
fn follow(line_id: &str, t: i64) -> serde_json::Value {
    let client = format!("line:{line_id}");
    let event_id = format!("wh-{line_id}");
    let sig = audience_core::signature::sign_line_event(
        &record_key(),
        "line.follow",
        t,
        &client,
        line_id,
        &event_id,
    );
    json!({
        "event_type": "line.follow", "event_timestamp": t, "arrival_timestamp": t,
        "client": {"client_id": client},
        "attributes": {"line_user_id": line_id, "webhook_event_id": event_id},
        "audience_stream_signature": sig,
    })
}

fn purchase_with_line(user: &str, line_id: &str, t: i64) -> serde_json::Value {
    json!({
        "event_type": "_monetization.purchase", "event_timestamp": t, "arrival_timestamp": t,
        "metrics": {"_item_price": 1200.0, "_quantity": 1.0},
        "endpoint": {"Id": format!("ep-{user}"), "ChannelType": "GCM", "Address": format!("tok-{user}"),
                     "User": {"UserId": user, "UserAttributes": {"lineUserId": [line_id]}}},
    })
}

async fn sync(
    store: &dyn StateStore,
    rules: &Rules,
    client: &LineClient,
    config: &LineSyncConfig,
    now: i64,
) -> SyncReport {
    let runner = SyncRunner::new(vec![Box::new(LineDestination::new(
        config.clone(),
        Some(client.clone()),
    ))]);
    let ctx = SyncContext::new(store, now, Duration::from_secs(60));
    runner.run(&ctx, rules, Some(SEGMENT)).await.unwrap()
}

#[tokio::test]
async fn a_line_identity_folded_into_a_non_member_is_rotated_out() {
    let rules = Rules::load(RULES, "absorbed.yaml")
        .unwrap()
        .with_record_key(record_key());
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    // Rotate for any exit (one in sixty), so the test is about which exits count.
    let config = LineSyncConfig {
        rotation: RotationPolicy {
            min_exit_ratio: 0.01,
            ..RotationPolicy::default()
        },
        ..line_config()
    };

    // Sixty LINE friends, known only through the webhook: members, uploaded.
    let friends: Vec<String> = (0..60).map(line_id).collect();
    let follows: Vec<_> = friends.iter().map(|id| follow(id, T0 - HOUR)).collect();
    process_batch(
        &store,
        &rules,
        &records(&follows, "shardId-000000000000", 1),
        T0,
        &BatchOptions::default(),
    )
    .await
    .unwrap();
    let report = sync(&store, &rules, &client, &config, T0).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );
    let first = line_state(&store, SEGMENT)
        .await
        .audience
        .audience_id
        .unwrap();
    let absorbed_id = friends[0].clone();
    assert!(fake.members(first).unwrap().contains(&absorbed_id));

    // The first friend buys in the app: `line:U…` is folded into app-1, who has now bought
    // and so is not a member.
    process_batch(
        &store,
        &rules,
        &records(
            &[purchase_with_line("app-1", &absorbed_id, T0 + HOUR)],
            "shardId-000000000000",
            100,
        ),
        T0 + HOUR,
        &BatchOptions::default(),
    )
    .await
    .unwrap();
    let old_key = format!("line:{absorbed_id}");
    assert!(
        store
            .load_users(std::slice::from_ref(&old_key))
            .await
            .unwrap()
            .states
            .is_empty(),
        "the webhook identity is folded away"
    );
    let app = store.load_users(&["app-1".into()]).await.unwrap();
    assert_eq!(
        app.states["app-1"]
            .line_user_id
            .as_ref()
            .map(|s| s.v.as_str()),
        Some(absorbed_id.as_str()),
        "the app user carries the LINE ID now"
    );
    let members = store.list_members(SEGMENT, None, 1_000).await.unwrap();
    assert!(!members.contains(&"app-1".to_string()) && !members.contains(&old_key));
    let exits: Vec<_> = pending(&store, "line", SEGMENT)
        .await
        .into_iter()
        .filter(|e| e.op == ChangeKind::Exited)
        .collect();
    assert_eq!(exits.len(), 1);
    assert_eq!(
        exits[0].user, old_key,
        "the exit is recorded under the old key"
    );

    // The next sync counts that exit: one rotation, and the replacement lacks the LINE ID.
    fake.set_auto_settle(false);
    let report = sync(&store, &rules, &client, &config, T0 + 2 * HOUR).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );
    let built: Vec<usize> = fake
        .requests_for(FakeOp::CreateByFile)
        .iter()
        .filter(|r| r.status < 300)
        .filter_map(|r| r.ids)
        .collect();
    assert_eq!(
        built,
        vec![59],
        "one replacement from the 59 remaining friends"
    );
    let state = line_state(&store, SEGMENT).await;
    let replacement = state.audience.replacement.as_ref().unwrap().audience_id;
    assert!(!fake.members(replacement).unwrap().contains(&absorbed_id));
    assert_eq!(state.exits_owed, 1);
    assert!(pending(&store, "line", SEGMENT).await.is_empty());

    // LINE finishes it: the segment switches, and its audience is exactly the members' IDs.
    fake.settle(replacement);
    fake.set_auto_settle(true);
    sync(&store, &rules, &client, &config, T0 + 3 * HOUR).await;
    let state = line_state(&store, SEGMENT).await;
    assert_eq!(state.audience.audience_id, Some(replacement));
    let current = fake.members(replacement).unwrap();
    assert!(!current.contains(&absorbed_id));
    assert_eq!(current, line_members(&store, SEGMENT).await);
}
