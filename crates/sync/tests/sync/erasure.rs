//! Erasure and LINE: a user erased with `user delete` (`audience_pipeline::erase_user`) has
//! no state left, and its exit entry makes the next sync rotate the audience without its LINE
//! ID. (Pinpoint's side — the next import no longer lists the user — is in `pinpoint_sync`.)

use super::util::*;
use audience_core::plan::line::RotationPolicy;
use audience_core::ChangeKind;
use audience_line::fake::{FakeLine, FakeOp};
use audience_line::LineClient;
use audience_store::StateStore;
use audience_store_sqlite::EmbeddedStore;
use audience_sync::{LineSyncConfig, SegmentOutcome};

#[tokio::test]
async fn an_erased_user_is_rotated_out_of_the_line_audience() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    // Rotate for any exit (one in sixty), so the test is about the erasure's exit.
    let config = LineSyncConfig {
        rotation: RotationPolicy {
            min_exit_ratio: 0.01,
            ..RotationPolicy::default()
        },
        ..line_config()
    };
    let members = users(0, 60);
    enter(&store, "vip", &members, T0).await;
    let report = sync_line(&store, &client, config.clone(), T0).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );
    let first = line_state(&store, "vip")
        .await
        .audience
        .audience_id
        .unwrap();
    let erased_line_id = line_id(0);
    assert!(fake.members(first).unwrap().contains(&erased_line_id));

    let report = audience_pipeline::erase_user(&store, &rules(), "user-000000", T0 + HOUR, false)
        .await
        .unwrap();
    assert_eq!(report.erased.state, 1);
    assert_eq!(report.segments, vec!["vip"]);
    assert!(store
        .load_users(&["user-000000".into()])
        .await
        .unwrap()
        .states
        .is_empty());
    let exits: Vec<_> = pending(&store, "line", "vip").await;
    assert_eq!(exits.len(), 1);
    assert_eq!(
        (exits[0].user.as_str(), exits[0].op),
        ("user-000000", ChangeKind::Exited)
    );
    let erasures = ledger(&store, "erasure").await;
    assert_eq!(erasures.len(), 1);
    let row = serde_json::to_string(&erasures[0]).unwrap();
    assert!(
        !row.contains("user-000000") && !row.contains(&erased_line_id),
        "the ledger names no one: {row}"
    );

    // The next sync counts the exit although the user's state is gone: a replacement is
    // built from the 59 remaining members, without the erased LINE ID.
    fake.set_auto_settle(false);
    let report = sync_line(&store, &client, config.clone(), T0 + 2 * HOUR).await;
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
        "one replacement from the 59 remaining members"
    );
    let replacement = line_state(&store, "vip")
        .await
        .audience
        .replacement
        .as_ref()
        .unwrap()
        .audience_id;
    assert!(!fake.members(replacement).unwrap().contains(&erased_line_id));
    assert!(
        pending(&store, "line", "vip").await.is_empty(),
        "the exit entry is acknowledged"
    );

    // LINE finishes it: the segment switches to the audience without the user.
    fake.settle(replacement);
    fake.set_auto_settle(true);
    sync_line(&store, &client, config, T0 + 3 * HOUR).await;
    assert_eq!(
        line_state(&store, "vip").await.audience.audience_id,
        Some(replacement)
    );
    assert_eq!(
        fake.members(replacement).unwrap(),
        line_members(&store, "vip").await
    );

    // A second erasure finds nothing.
    let again =
        audience_pipeline::erase_user(&store, &rules(), "user-000000", T0 + 4 * HOUR, false)
            .await
            .unwrap();
    assert!(again.found_nothing(), "{again:?}");
    assert_eq!(
        ledger(&store, "erasure").await.len(),
        1,
        "nothing erased, nothing recorded"
    );
}
