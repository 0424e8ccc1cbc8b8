//! The dry run: plans every destination with no credentials and no AWS, writes the planned
//! LINE requests and the Pinpoint CSV to a directory, and changes nothing.

use super::util::*;
use audience_store::StateStore;
use audience_store_sqlite::EmbeddedStore;
use audience_sync::{
    LineDestination, PinpointDestination, PinpointSyncConfig, SegmentOutcome, SyncContext,
    SyncRunner,
};
use std::time::Duration;

#[tokio::test]
async fn dry_run_plans_and_writes_without_credentials_or_changes() {
    let store = EmbeddedStore::in_memory().unwrap();
    enter(&store, "vip", &users(0, 60), T0).await;
    enter(&store, "buyers", &users(0, 3), T0).await;
    let out = tempfile::tempdir().unwrap();
    let runner = SyncRunner::new(vec![
        Box::new(LineDestination::new(line_config(), None)),
        Box::new(PinpointDestination::new(
            PinpointSyncConfig::default(),
            None,
        )),
    ]);
    let mut ctx = SyncContext::new(&store, T0, Duration::from_secs(60));
    ctx.dry_run = true;
    ctx.out_dir = Some(out.path().to_path_buf());
    let report = runner.run(&ctx, &rules(), None).await.unwrap();
    let text = report.to_text();
    let vip = report.segments.iter().find(|s| s.segment == "vip").unwrap();
    assert_eq!(vip.outcome, SegmentOutcome::Planned);
    assert_eq!(
        vip.planned,
        vec![
            r#"POST /v2/bot/audienceGroup/upload create audience "VIP members" with 60 IDs"#
                .to_string()
        ],
        "{text}"
    );
    let buyers = report
        .segments
        .iter()
        .find(|s| s.segment == "buyers")
        .unwrap();
    assert!(
        buyers.planned[0].contains("audience-stream/imports/buyers/v1.csv")
            && buyers.planned[0].contains("3 rows"),
        "{text}"
    );

    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("line/vip.json")).unwrap()).unwrap();
    assert_eq!(plan["plan"]["requests"][0]["request"], "create");
    assert_eq!(
        plan["plan"]["requests"][0]["ids"].as_array().unwrap().len(),
        60
    );
    let csv = std::fs::read_to_string(out.path().join("pinpoint/buyers/v1.csv")).unwrap();
    assert!(
        csv.starts_with("ChannelType,Address,Id,User.UserId\n"),
        "{csv}"
    );
    assert!(
        csv.contains("EMAIL,user0@example.com,ep-user-000000,user-000000"),
        "{csv}"
    );
    let request: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.path().join("pinpoint/buyers/v1.request.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        request["ImportJobRequest"]["SegmentName"],
        "audience-stream-buyers"
    );

    // Nothing changed.
    assert_eq!(pending(&store, "line", "vip").await.len(), 60);
    assert_eq!(pending(&store, "pinpoint", "buyers").await.len(), 3);
    assert!(store
        .destination_state("line", "vip")
        .await
        .unwrap()
        .is_none());
    assert!(store.ledger(10).await.unwrap().is_empty());
}
