//! Sync per destination: a destination kind without configuration is reported
//! `not_configured` and skipped (its entries stay pending) while the others sync; a run can
//! be limited to some kinds; naming an unconfigured kind, or configuring one by halves, is an
//! error; a dry run needs no configuration at all.

use super::util::*;
use audience_destinations::{select_destinations, DestinationKind, LineCredentials};
use audience_line::fake::{FakeLine, FAKE_LONG_LIVED_TOKEN};
use audience_store::StateStore;
use audience_store_sqlite::EmbeddedStore;
use audience_sync::{SegmentOutcome, SyncConfig, SyncContext, SyncReport, SyncRunner};
use std::collections::HashMap;
use std::time::Duration;

fn config() -> SyncConfig {
    SyncConfig {
        line: line_config(),
        ..SyncConfig::default()
    }
}

async fn run(
    store: &dyn StateStore,
    config: &SyncConfig,
    line: &(dyn Fn(&str) -> Option<String> + Sync),
    kinds: &[DestinationKind],
    dry_run: bool,
) -> Result<SyncReport, audience_sync::SyncError> {
    let destinations = select_destinations(
        config,
        &rules(),
        None,
        dry_run,
        LineCredentials::Lookup(line),
        kinds,
    )
    .await?;
    let mut ctx = SyncContext::new(store, T0, Duration::from_secs(60));
    ctx.dry_run = dry_run;
    SyncRunner::new(destinations)
        .run(&ctx, &rules(), None)
        .await
}

fn row<'a>(
    report: &'a SyncReport,
    destination: &str,
    segment: &str,
) -> Option<&'a audience_sync::SegmentReport> {
    report
        .segments
        .iter()
        .find(|s| s.destination == destination && s.segment == segment)
}

#[tokio::test]
async fn an_unconfigured_destination_is_skipped_while_the_others_sync() {
    let store = EmbeddedStore::in_memory().unwrap();
    enter(&store, "vip", &users(0, 60), T0).await;
    enter(&store, "buyers", &users(100, 3), T0).await;
    let fake = FakeLine::start().await;
    let secret = HashMap::from([
        (
            "LINE_CHANNEL_ACCESS_TOKEN",
            FAKE_LONG_LIVED_TOKEN.to_string(),
        ),
        ("LINE_API_BASE", fake.api_base().to_string()),
        ("LINE_DATA_BASE", fake.data_base().to_string()),
    ]);
    let line = move |n: &str| secret.get(n).cloned();

    // Pinpoint has no application, bucket or role: LINE syncs, Pinpoint is reported.
    let report = run(&store, &config(), &line, &[], false).await.unwrap();
    let text = report.to_text();
    assert!(!report.has_failures(), "{text}");
    assert_eq!(
        row(&report, "line", "vip").unwrap().outcome,
        SegmentOutcome::Done,
        "{text}"
    );
    let buyers = row(&report, "pinpoint", "buyers").unwrap();
    assert_eq!(buyers.outcome, SegmentOutcome::NotConfigured, "{text}");
    assert!(
        buyers.notes[0].contains("pinpoint is not configured, skipped"),
        "{text}"
    );
    assert!(text.contains("not_configured"), "{text}");
    assert_eq!(
        fake.members(
            line_state(&store, "vip")
                .await
                .audience
                .audience_id
                .unwrap()
        )
        .unwrap()
        .len(),
        60
    );
    assert!(pending(&store, "line", "vip").await.is_empty());
    assert_eq!(
        pending(&store, "pinpoint", "buyers").await.len(),
        3,
        "Pinpoint work waits"
    );
    assert!(ledger(&store, "pinpoint").await.is_empty());

    // Only LINE: Pinpoint segments are not visited.
    let report = run(&store, &config(), &line, &[DestinationKind::Line], false)
        .await
        .unwrap();
    assert!(
        report.segments.iter().all(|s| s.destination == "line"),
        "{report:?}"
    );

    // Naming Pinpoint while it is not configured is an error.
    let err = run(
        &store,
        &config(),
        &line,
        &[DestinationKind::Pinpoint],
        false,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("Pinpoint destination was asked for but is not configured"),
        "{err}"
    );
    // So is a configuration by halves.
    let mut half = config();
    half.pinpoint.bucket = Some("imports".into());
    let err = run(&store, &half, &line, &[], false)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("only partly configured") && err.contains("--pinpoint-application-id"),
        "{err}"
    );
    // LINE credentials set by halves are an error too, never "not configured".
    let half_line = |n: &str| (n == "LINE_CHANNEL_ID").then(|| "1234567890".to_string());
    let err = run(&store, &config(), &half_line, &[], false)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("LINE_CHANNEL_SECRET"), "{err}");

    // No LINE credentials at all: LINE is reported too, and the run does not fail.
    enter(&store, "vip", &users(500, 1), T0 + MINUTE).await;
    let nothing = |_: &str| None;
    let report = run(&store, &config(), &nothing, &[], false).await.unwrap();
    assert!(!report.has_failures());
    assert_eq!(
        row(&report, "line", "vip").unwrap().outcome,
        SegmentOutcome::NotConfigured
    );
    assert_eq!(pending(&store, "line", "vip").await.len(), 1);

    // A dry run plans every destination with nothing configured.
    let report = run(&store, &SyncConfig::default(), &nothing, &[], true)
        .await
        .unwrap();
    assert_eq!(
        row(&report, "line", "vip").unwrap().outcome,
        SegmentOutcome::Planned
    );
    assert_eq!(
        row(&report, "pinpoint", "buyers").unwrap().outcome,
        SegmentOutcome::Planned
    );
}

#[test]
fn destination_kinds_parse_from_flags_and_lists() {
    assert_eq!("line".parse::<DestinationKind>(), Ok(DestinationKind::Line));
    assert_eq!(
        DestinationKind::parse_list(" pinpoint, line ,"),
        Ok(vec![DestinationKind::Pinpoint, DestinationKind::Line])
    );
    assert_eq!(DestinationKind::parse_list(""), Ok(vec![]));
    assert!(DestinationKind::parse_list("line,sms")
        .unwrap_err()
        .contains("unknown destination `sms`"));
}
