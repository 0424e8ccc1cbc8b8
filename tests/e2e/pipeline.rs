//! Kinesis (moto) → consumer → DynamoDB Local → LINE sync (fake).

use audience_core::record::{EnvelopeKinesis, EnvelopeRecord};
use audience_core::{KinesisEnvelope, Rules};
use audience_kinesis::{read_all, KinesisSender, OutRecord, SenderOptions};
use audience_lambda::{consumer, Shared};
use audience_line::fake::FakeLine;
use audience_line::LineClient;
use audience_retry::RetryPolicy;
use audience_store::StateStore;
use audience_sync::{LineDestination, LineSyncConfig, SyncContext, SyncRunner};
use audience_testkit::dynamodb_local::DynamoDbLocal;
use audience_testkit::{create_stream, Moto};
use base64::Engine;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const NOW: i64 = 1_764_547_200_000;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()))
        .join("../../fixtures")
        .join(name)
}

/// The fixture events as the app would have written them, with their user keys.
fn fixture_records() -> Vec<OutRecord> {
    let text = std::fs::read_to_string(fixture("events.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let key = v
                .pointer("/endpoint/User/UserId")
                .or_else(|| v.pointer("/client/client_id"))
                .and_then(|k| k.as_str())
                .unwrap_or("anonymous")
                .to_string();
            OutRecord::new(key, l.as_bytes().to_vec())
        })
        .collect()
}

async fn segment_line_ids(store: &dyn StateStore, segment: &str) -> BTreeSet<String> {
    let members = store.list_members(segment, None, 100_000).await.unwrap();
    store
        .load_users(&members)
        .await
        .unwrap()
        .states
        .values()
        .filter_map(|u| u.active_line_user_id().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_to_dynamodb_to_line_converges() {
    // 1. Events into a 2-shard stream, partition key = user key.
    let moto = Moto::start();
    let kinesis = moto.kinesis().await;
    create_stream(&kinesis, "pinpoint-events", 2).await;
    let records = fixture_records();
    let sender = KinesisSender::new(
        kinesis.clone(),
        "pinpoint-events",
        SenderOptions {
            rate_per_sec: None,
            retry: RetryPolicy::fast(5),
        },
    );
    let report = sender.send(records.clone(), |_| {}).await.unwrap();
    assert_eq!(report.sent as usize, records.len());

    // 2. Read back; build Lambda Kinesis events, one per shard in batches of ≤ 1,000.
    let read = read_all(&kinesis, "pinpoint-events").await.unwrap();
    assert_eq!(read.len(), records.len(), "every record round-trips");
    let envelopes: Vec<KinesisEnvelope> = read
        .chunks(1000)
        .map(|chunk| KinesisEnvelope {
            records: chunk
                .iter()
                .map(|r| EnvelopeRecord {
                    kinesis: EnvelopeKinesis {
                        partition_key: r.partition_key.clone(),
                        sequence_number: r.sequence_number.clone(),
                        data: base64::engine::general_purpose::STANDARD.encode(&r.data),
                        approximate_arrival_timestamp: r.approximate_arrival_epoch_secs,
                    },
                    event_id: Some(format!("{}:{}", r.shard_id, r.sequence_number)),
                    event_source_arn: None,
                })
                .collect(),
        })
        .collect();

    // 3. The consumer handler into DynamoDB Local.
    let local = DynamoDbLocal::start().await.unwrap_or_else(|e| {
        panic!("DynamoDB Local could not start (see scripts/ensure-dynamodb-local.sh): {e}")
    });
    let store: Arc<dyn StateStore> = Arc::new(local.store("e2e").await);
    let rules_text = std::fs::read_to_string(fixture("segments.yaml")).unwrap();
    let rules = Arc::new(Rules::load(&rules_text, "segments.yaml").unwrap());
    let shared = Shared {
        store: store.clone(),
        rules: rules.clone(),
    };
    for envelope in envelopes {
        let response = consumer::handle(&shared, envelope, NOW).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
    }
    let counts = store.segment_counts().await.unwrap();
    assert!(counts["hyogo"].members > 0);

    // 4. LINE sync against the fake: the audience ends equal to the segment's LINE members.
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    let config = LineSyncConfig {
        retry: RetryPolicy::fast(5),
        ..LineSyncConfig::default()
    };
    let runner = SyncRunner::new(vec![Box::new(LineDestination::new(config, Some(client)))]);
    let ctx = SyncContext::new(store.as_ref(), NOW, Duration::from_secs(120));
    let report = runner.run(&ctx, &rules, Some("hyogo")).await.unwrap();
    assert!(!report.has_failures(), "{}", report.to_text());
    let state: serde_json::Value = store
        .destination_state("line", "hyogo")
        .await
        .unwrap()
        .expect("LINE state");
    let audience_id = state["audience_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no audience in {state}"));
    let in_fake = fake
        .members(audience_id)
        .expect("audience exists at the fake");
    let expected = segment_line_ids(store.as_ref(), "hyogo").await;
    assert!(!expected.is_empty());
    assert_eq!(in_fake, expected, "the LINE audience equals the segment");
    assert!(
        store
            .pending("line", "hyogo", 10_000)
            .await
            .unwrap()
            .is_empty(),
        "everything acknowledged"
    );
}
