//! The EventBridge destination end to end: Segment-spec events through the pipeline into the
//! outbox, a sync run putting `Segment Entered` / `Segment Exited` events on a bus of moto's
//! EventBridge, and a rule delivering them to an SQS queue; partial failures re-sent and
//! refusals left pending (scripted PutEvents).

use async_trait::async_trait;
use audience_core::record::{Payload, RawRecord, RecordId};
use audience_core::{Millis, Rules};
use audience_eventbridge::plan::PlannedEvent;
use audience_eventbridge::{
    CallError, EntryOutcome, EventBridgeConfig, EventBridgeDestination, PutEventsApi,
};
use audience_pipeline::{process_batch, BatchOptions};
use audience_store::{LedgerStatus, StateStore};
use audience_store_sqlite::EmbeddedStore;
use audience_sync::{SyncContext, SyncRunner};
use audience_testkit::moto::Moto;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;

/// 2026-12-01T00:00:00Z.
const NOW: Millis = 1_764_547_200_000 + 365 * 86_400_000;

const RULES: &str = r#"
segments:
  - id: gold
    condition: { user_attribute: { name: plan, eq: gold } }
    destinations:
      eventbridge: { bus: crm }
"#;

fn rules() -> Rules {
    let rules = Rules::load(RULES, "rules.yaml").unwrap_or_else(|e| panic!("{e}"));
    audience_sync::check_destinations(&rules, &[audience_eventbridge::SPEC])
        .unwrap_or_else(|e| panic!("{e}"));
    rules
}

fn iso(ms: Millis) -> String {
    audience_core::time::format_rfc3339(ms)
}

/// Segment `identify` calls setting each user's plan.
fn identify(plans: &[(&str, &str)], at: Millis, batch: usize) -> Vec<RawRecord> {
    plans
        .iter()
        .enumerate()
        .map(|(i, (user, plan))| {
            let call = json!({
                "type": "identify", "userId": user, "traits": {"plan": plan},
                "timestamp": iso(at), "messageId": format!("m-{batch}-{i}"),
            });
            RawRecord {
                id: RecordId::new("shard-0", format!("{batch}{i:04}")),
                payload: Payload::Json(call.to_string().into_bytes()),
                arrival_ms: Some(at),
            }
        })
        .collect()
}

async fn apply(store: &dyn StateStore, records: &[RawRecord], now: Millis) {
    let out = process_batch(store, &rules(), records, now, &BatchOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.failed.len(), 0, "{:?}", out.failed);
}

async fn sync(store: &dyn StateStore, dest: EventBridgeDestination, now: Millis) {
    let report = SyncRunner::new(vec![Box::new(dest)])
        .run(
            &SyncContext::new(store, now, Duration::from_secs(60)),
            &rules(),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.segments.is_empty());
}

/// Every message on the queue (moto delivers rule targets synchronously).
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let messages = got.messages();
        if messages.is_empty() {
            return out;
        }
        for m in messages {
            let body = m.body().unwrap_or_default();
            out.push(serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")));
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e:?}"));
        }
    }
}

#[tokio::test]
async fn entries_and_exits_reach_an_sqs_target_of_the_bus_once_each() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let eb = aws_sdk_eventbridge::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    eb.create_event_bus()
        .name("crm")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let queue = sqs
        .create_queue()
        .queue_name("followups")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let url = queue.queue_url().unwrap_or_default().to_string();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_default();
    eb.put_rule()
        .name("segment-changes")
        .event_bus_name("crm")
        .event_pattern(json!({"source": ["audience-stream"]}).to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    eb.put_targets()
        .rule("segment-changes")
        .event_bus_name("crm")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(&arn)
                .build()
                .unwrap_or_else(|e| panic!("{e:?}")),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = EmbeddedStore::open(&dir.path().join("s.db")).unwrap_or_else(|e| panic!("{e}"));
    let dest =
        || EventBridgeDestination::new(EventBridgeConfig::default(), Some(Box::new(eb.clone())));

    // 25 users become gold (three PutEvents calls), one of them silver right away.
    let users: Vec<String> = (0..25).map(|i| format!("user-{i:02}")).collect();
    let plans: Vec<(&str, &str)> = users.iter().map(|u| (u.as_str(), "gold")).collect();
    apply(&store, &identify(&plans, NOW - 60_000, 1), NOW).await;
    sync(&store, dest(), NOW).await;
    let events = drain(&sqs, &url).await;
    assert_eq!(events.len(), 25, "{events:?}");
    for e in &events {
        assert_eq!(e["source"], "audience-stream");
        assert_eq!(e["detail-type"], "Segment Entered");
        assert_eq!(e["detail"]["segment"], "gold");
        assert_eq!(e["detail"]["line_linked"], false);
        assert!(e["detail"]["change_id"]
            .as_str()
            .is_some_and(|c| !c.is_empty()));
    }
    let mut seen: Vec<&str> = events
        .iter()
        .filter_map(|e| e["detail"]["user"].as_str())
        .collect();
    seen.sort();
    assert_eq!(seen, users.iter().map(String::as_str).collect::<Vec<_>>());

    // Nothing pending: a second run sends nothing again.
    sync(&store, dest(), NOW + 1000).await;
    assert!(
        drain(&sqs, &url).await.is_empty(),
        "an acknowledged change was sent twice"
    );

    // Two users leave.
    apply(
        &store,
        &identify(&[("user-03", "silver"), ("user-07", "free")], NOW, 2),
        NOW + 2000,
    )
    .await;
    sync(&store, dest(), NOW + 3000).await;
    let exits = drain(&sqs, &url).await;
    let mut left: Vec<(&str, &str)> = exits
        .iter()
        .map(|e| {
            (
                e["detail-type"].as_str().unwrap_or(""),
                e["detail"]["user"].as_str().unwrap_or(""),
            )
        })
        .collect();
    left.sort();
    assert_eq!(
        left,
        vec![("Segment Exited", "user-03"), ("Segment Exited", "user-07")]
    );
    let ledger = store.ledger(10).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(ledger
        .iter()
        .all(|l| l.destination == "eventbridge" && l.status == LedgerStatus::Ok));

    // A LINE rotation's notice reaches the same rule's target.
    let mut vip = audience_sync::SegmentReport::new("line", "vip");
    vip.rotations.push(audience_sync::Rotation {
        old_audience_id: Some(1001),
        new_audience_id: 1002,
        exits: 4,
        at: NOW,
    });
    let report = audience_sync::SyncReport {
        segments: vec![vip],
        ..audience_sync::SyncReport::default()
    };
    let config = EventBridgeConfig {
        default_bus: "crm".into(),
        ..EventBridgeConfig::default()
    };
    let announced = audience_eventbridge::announce_rotations(&eb, &config, &report).await;
    assert_eq!(announced.sent, 1, "{announced:?}");
    let notices = drain(&sqs, &url).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["detail-type"], "LINE Audience Rotated");
    assert_eq!(notices[0]["detail"]["segment"], "vip");
    assert_eq!(notices[0]["detail"]["old_audience_id"], 1001);
    assert_eq!(notices[0]["detail"]["new_audience_id"], 1002);
}

/// PutEvents that throttles the first entry of the first call once, and refuses one user's
/// event for good.
#[derive(Default)]
struct Scripted {
    calls: Mutex<Vec<Vec<String>>>,
}

#[async_trait]
impl PutEventsApi for Scripted {
    async fn put_events(&self, events: &[PlannedEvent]) -> Result<Vec<EntryOutcome>, CallError> {
        let users: Vec<String> = events
            .iter()
            .map(|e| {
                let d: Value = serde_json::from_str(&e.detail).unwrap_or_default();
                d["user"].as_str().unwrap_or_default().to_string()
            })
            .collect();
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let first = calls.is_empty();
        calls.push(users.clone());
        Ok(users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                if first && i == 0 {
                    EntryOutcome::Failed {
                        code: "ThrottlingException".into(),
                        message: "slow down".into(),
                    }
                } else if u == "user-04" {
                    EntryOutcome::Failed {
                        code: "ValidationException".into(),
                        message: "refused".into(),
                    }
                } else {
                    EntryOutcome::Accepted(format!("id-{u}"))
                }
            })
            .collect())
    }
}

#[tokio::test]
async fn throttled_entries_are_re_sent_alone_and_refused_ones_stay_pending() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = EmbeddedStore::open(&dir.path().join("s.db")).unwrap_or_else(|e| panic!("{e}"));
    let users: Vec<String> = (0..12).map(|i| format!("user-{i:02}")).collect();
    let plans: Vec<(&str, &str)> = users.iter().map(|u| (u.as_str(), "gold")).collect();
    apply(&store, &identify(&plans, NOW - 60_000, 1), NOW).await;

    let api = std::sync::Arc::new(Scripted::default());
    struct Shared(std::sync::Arc<Scripted>);
    #[async_trait]
    impl PutEventsApi for Shared {
        async fn put_events(&self, e: &[PlannedEvent]) -> Result<Vec<EntryOutcome>, CallError> {
            self.0.put_events(e).await
        }
    }
    let mut config = EventBridgeConfig::default();
    config.retry.first_wait = Duration::from_millis(1);
    let dest = EventBridgeDestination::new(config, Some(Box::new(Shared(api.clone()))));
    sync(&store, dest, NOW).await;

    let calls = api.calls.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(
        calls.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![10, 1, 2],
        "{calls:?}"
    );
    assert_eq!(
        calls[1],
        vec![calls[0][0].clone()],
        "only the throttled entry is re-sent"
    );
    let pending = store
        .pending("eventbridge", "gold", 100)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        pending.iter().map(|p| p.user.as_str()).collect::<Vec<_>>(),
        vec!["user-04"]
    );
    let ledger = store.ledger(10).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ledger[0].status, LedgerStatus::Failed);
    assert!(ledger[0]
        .message
        .as_deref()
        .is_some_and(|m| m.contains("ValidationException")));
}
