//! LINE sync under failure: 429 and 500 retried with nothing lost, a lost create answer
//! reconciled by description, a 400 parked with its reason, token refresh near expiry, a
//! crash between LINE's 202 and the acknowledgement, and secrets kept out of logs and ledger.

use super::util::*;
use audience_line::fake::{FakeLine, FakeOp, Fault, FAKE_CHANNEL_SECRET, FAKE_LONG_LIVED_TOKEN};
use audience_line::{LineClient, ManualClock};
use audience_store::{HookedStore, LedgerStatus, StateStore};
use audience_store_sqlite::EmbeddedStore;
use audience_sync::SegmentOutcome;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn throttling_and_server_errors_are_retried_and_nothing_is_lost() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    enter(&store, "vip", &users(0, 60), T0).await;
    sync_line(&store, &client, line_config(), T0).await;
    enter(&store, "vip", &users(100, 15_000), T0 + MINUTE).await;
    fake.inject(
        FakeOp::Add,
        Fault {
            retry_after: Some(0),
            ..Fault::status(429, 2)
        },
    );
    fake.fail_next(FakeOp::Add, 500, 1);
    let report = sync_line(&store, &client, line_config(), T0 + 2 * MINUTE).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );
    let statuses: Vec<u16> = fake
        .requests_for(FakeOp::Add)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![429, 429, 500, 202, 202]);
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
    let adds: Vec<_> = ledger(&store, "line")
        .await
        .into_iter()
        .filter(|r| r.action == "add")
        .collect();
    assert_eq!(
        adds.iter().map(|r| r.attempts).collect::<Vec<_>>(),
        vec![4, 1]
    );
    assert!(adds.iter().all(|r| r.status == LedgerStatus::Ok));
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_found_by_description_not_created_twice() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    enter(&store, "vip", &users(0, 60), T0).await;
    // LINE creates the audience, then the answer is a 500.
    fake.inject(
        FakeOp::Create,
        Fault {
            after_apply: true,
            ..Fault::status(500, 1)
        },
    );
    let report = sync_line(&store, &client, line_config(), T0).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );
    assert_eq!(fake.audiences().len(), 1, "no second audience");
    assert_eq!(
        fake.requests_for(FakeOp::Create).len(),
        1,
        "looked up instead of creating again"
    );
    assert_eq!(fake.requests_for(FakeOp::List).len(), 1);
    let audience = line_state(&store, "vip")
        .await
        .audience
        .audience_id
        .unwrap();
    assert_eq!(fake.audiences()[0].id, audience);
    assert_eq!(
        fake.members(audience).unwrap(),
        line_members(&store, "vip").await
    );
    assert!(pending(&store, "line", "vip").await.is_empty());
}

#[tokio::test]
async fn a_permanent_refusal_is_parked_with_its_reason_and_nothing_is_dropped() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    enter(&store, "vip", &users(0, 60), T0).await;
    sync_line(&store, &client, line_config(), T0).await;
    enter(&store, "vip", &users(100, 10), T0 + MINUTE).await;
    fake.fail_next(FakeOp::Add, 400, 1);
    let report = sync_line(&store, &client, line_config(), T0 + 2 * MINUTE).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Parked,
        "{report:?}"
    );
    assert_eq!(
        fake.requests_for(FakeOp::Add).len(),
        1,
        "a 400 is not retried"
    );
    let parked: Vec<_> = ledger(&store, "line")
        .await
        .into_iter()
        .filter(|r| r.status == LedgerStatus::Parked)
        .collect();
    assert_eq!(parked.len(), 1);
    let msg = parked[0].message.clone().unwrap();
    assert!(
        msg.contains("HTTP 400")
            && msg.contains("INJECTED_FAULT")
            && msg.contains("request id fake-"),
        "{msg}"
    );
    assert_eq!(
        pending(&store, "line", "vip").await.len(),
        10,
        "entries stay pending"
    );

    // Parked: later runs send nothing until told to retry.
    let report = sync_line(&store, &client, line_config(), T0 + 3 * MINUTE).await;
    assert_eq!(report.segments[0].outcome, SegmentOutcome::Parked);
    assert!(
        report.segments[0].notes[0].contains("--retry-parked"),
        "{report:?}"
    );
    assert_eq!(fake.requests_for(FakeOp::Add).len(), 1);
    let report = sync_line_with(&store, &client, line_config(), T0 + 4 * MINUTE, |c| {
        c.retry_parked = true
    })
    .await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );
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
}

#[tokio::test]
async fn an_issued_token_is_reused_and_refreshed_near_expiry() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let clock = ManualClock::new(audience_clock::now());
    let client =
        LineClient::with_clock(fake.config_client_credentials(), Arc::new(clock.clone())).unwrap();
    enter(&store, "vip", &users(0, 60), T0).await;
    sync_line(&store, &client, line_config(), T0).await;
    enter(&store, "vip", &users(100, 5), T0 + MINUTE).await;
    sync_line(&store, &client, line_config(), T0 + 2 * MINUTE).await;
    assert_eq!(fake.tokens_issued(), 1, "one token serves every request");
    // 30-day token: inside its last day it is replaced before use.
    clock.advance(Duration::from_secs(29 * 86_400 + 3_600));
    enter(&store, "vip", &users(200, 5), T0 + 3 * MINUTE).await;
    let report = sync_line(&store, &client, line_config(), T0 + 4 * MINUTE).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );
    assert_eq!(fake.tokens_issued(), 2);
    let audience = line_state(&store, "vip")
        .await
        .audience
        .audience_id
        .unwrap();
    assert_eq!(
        fake.members(audience).unwrap(),
        line_members(&store, "vip").await
    );
}

#[tokio::test]
async fn a_crash_between_the_202_and_the_acknowledgement_resends_only_that_batch() {
    let inner = EmbeddedStore::in_memory().unwrap();
    let store = HookedStore::new(&inner, FailAcks::default());
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    enter(&store, "vip", &users(0, 60), T0).await;
    sync_line(&store, &client, line_config(), T0).await;
    enter(&store, "vip", &users(100, 30), T0 + MINUTE).await;
    store
        .hooks
        .fail
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let report = sync_line(&store, &client, line_config(), T0 + 2 * MINUTE).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Error,
        "{report:?}"
    );
    assert_eq!(
        fake.requests_for(FakeOp::Add).len(),
        1,
        "LINE accepted the batch"
    );
    assert_eq!(
        pending(&store, "line", "vip").await.len(),
        30,
        "not acknowledged"
    );
    assert!(ledger(&store, "line")
        .await
        .iter()
        .any(|r| r.action == "add" && r.status == LedgerStatus::Ok));

    let report = sync_line(&store, &client, line_config(), T0 + 3 * MINUTE).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );
    let adds = fake.requests_for(FakeOp::Add);
    assert_eq!(
        adds.len(),
        2,
        "the unacknowledged batch is sent again, once"
    );
    assert_eq!(adds[1].ids, Some(30));
    let audience = line_state(&store, "vip")
        .await
        .audience
        .audience_id
        .unwrap();
    assert_eq!(
        fake.members(audience).unwrap(),
        line_members(&inner, "vip").await
    );
    assert!(pending(&store, "line", "vip").await.is_empty());
}

#[tokio::test]
async fn an_interrupted_create_is_adopted_on_the_next_run() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    enter(&store, "vip", &users(0, 60), T0).await;
    // The process stops after LINE created the audience: only the intent was stored.
    let created = client
        .create_upload_audience("VIP members", false, None, &[])
        .await
        .unwrap();
    let intent = serde_json::json!({"creating": {"kind": "create", "description": "VIP members", "generation": 1, "at": T0}});
    store
        .put_destination_state("line", "vip", &intent)
        .await
        .unwrap();
    sync_line(&store, &client, line_config(), T0 + MINUTE).await;
    assert_eq!(fake.audiences().len(), 1, "no second audience");
    let state = line_state(&store, "vip").await;
    assert_eq!(state.audience.audience_id, Some(created.audience_group_id));
    assert!(state.creating.is_none());
    assert_eq!(
        fake.members(created.audience_group_id).unwrap(),
        line_members(&store, "vip").await
    );
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The logs of this test binary. Process-wide (a thread-local subscriber misses events while
/// other tests run in parallel, because tracing caches callsite interest globally): every
/// test's logs in this binary land here once the first caller installed it.
fn captured_logs() -> Captured {
    static CAPTURE: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in this test binary");
            captured
        })
        .clone()
}

#[tokio::test]
async fn secrets_never_reach_logs_or_the_ledger() {
    // All of the binary's logs captured so far are checked.
    let captured = captured_logs();

    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let issuing = LineClient::new(fake.config_client_credentials()).unwrap();
    let long_lived = LineClient::new(fake.config_long_lived()).unwrap();
    enter(&store, "vip", &users(0, 60), T0).await;
    fake.fail_next(FakeOp::Create, 500, 1);
    sync_line(&store, &issuing, line_config(), T0).await;
    enter(&store, "vip", &users(100, 5), T0 + MINUTE).await;
    fake.fail_next(FakeOp::Add, 400, 1);
    sync_line(&store, &long_lived, line_config(), T0 + 2 * MINUTE).await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("LINE accepted"), "logs were captured: {logs}");
    let ledger_text = serde_json::to_string(&store.ledger(1000).await.unwrap()).unwrap();
    let state_text =
        serde_json::to_string(&store.destination_state("line", "vip").await.unwrap()).unwrap();
    for (what, text) in [
        ("logs", &logs),
        ("ledger", &ledger_text),
        ("state", &state_text),
    ] {
        for secret in [FAKE_CHANNEL_SECRET, FAKE_LONG_LIVED_TOKEN, "fake-short-"] {
            assert!(!text.contains(secret), "{what} contain a secret ({secret})");
        }
    }
}

#[tokio::test]
async fn every_rotation_logs_the_segment_and_both_audience_ids() {
    let captured = captured_logs();
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    let members = users(0, 80);
    enter(&store, "vip", &members, T0).await;
    sync_line(&store, &client, line_config(), T0).await;
    let old = line_state(&store, "vip")
        .await
        .audience
        .audience_id
        .unwrap();
    exit(&store, "vip", &members[..20], T0 + HOUR).await;
    sync_line(&store, &client, line_config(), T0 + 2 * HOUR).await;
    let report = sync_line(&store, &client, line_config(), T0 + 3 * HOUR).await;
    let new = line_state(&store, "vip")
        .await
        .audience
        .audience_id
        .unwrap();
    assert_ne!(new, old);
    assert_eq!(
        report.segments[0].rotations,
        vec![audience_sync::Rotation {
            old_audience_id: Some(old),
            new_audience_id: new,
            exits: 20,
            at: T0 + 3 * HOUR,
        }]
    );
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|l| {
            l.contains("LINE audience rotated") && l.contains(&format!("new_audience_id={new}"))
        })
        .unwrap_or_else(|| panic!("no rotation line for {new}: {logs}"));
    assert!(line.contains("segment=\"vip\""), "{line}");
    assert!(line.contains(&format!("old_audience_id={old}")), "{line}");
    assert!(line.contains("exits=20"), "{line}");
}
