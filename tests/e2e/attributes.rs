//! The attribute loader Lambda on local parts: a seed-style JSON Lines file put in a moto S3
//! bucket, the S3 notification handed to the loader, the rows read back from a moto Kinesis
//! stream as the consumer Lambda receives them and applied: the `hyogo` segment holds exactly
//! the file's 兵庫県 users. Bad lines are counted, not sent; a notification delivered twice
//! sends the same bytes again and changes nothing.

use std::collections::BTreeSet;
use std::sync::Arc;

use audience_core::formats::attributes::RowMapping;
use audience_core::record::{EnvelopeKinesis, EnvelopeRecord};
use audience_core::{KinesisEnvelope, Rules};
use audience_kinesis::{read_all, KinesisSender, ReadRecord, SenderOptions};
use audience_lambda::attributes::AttributeLoader;
use audience_lambda::{consumer, Shared};
use audience_retry::RetryPolicy;
use audience_store::StateStore;
use audience_store_sqlite::EmbeddedStore;
use audience_testkit::{create_stream, Moto};
use aws_lambda_events::event::s3::S3Event;
use base64::Engine;
use serde_json::json;

/// Now, to the millisecond: the stream stamps records with the real arrival time, and the
/// consumer sets aside events far from it.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

/// An `ObjectCreated:Put` notification as S3 sends it (the key URL-encoded).
fn notification(bucket: &str, encoded_key: &str, at: i64) -> S3Event {
    let event_time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    serde_json::from_value(json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "ap-northeast-1",
        "eventTime": event_time, "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:EXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.9"},
        "responseElements": {"x-amz-request-id": "R1", "x-amz-id-2": "I1"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "attributes",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"},
                          "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": encoded_key, "size": 1, "eTag": "e", "sequencer": "0A"}}
    }]}))
    .expect("a well-formed S3 notification")
}

fn envelope(read: &[ReadRecord]) -> KinesisEnvelope {
    KinesisEnvelope {
        records: read
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
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attribute_file_dropped_in_s3_fills_its_segment_once() {
    let moto = Moto::start();
    let s3 = moto.s3().await;
    let kinesis = moto.kinesis().await;
    create_stream(&kinesis, "events", 2).await;
    s3.create_bucket()
        .bucket("attributes")
        .send()
        .await
        .expect("bucket");
    let rows = std::fs::read_to_string(fixture("user-attributes.jsonl")).unwrap();
    let hyogo: BTreeSet<String> = rows
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["pref"] == "兵庫県")
        .map(|r| r["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(hyogo.len() > 10);
    // Two bad lines among the good: not JSON, and a row without its user ID.
    let body = format!("{rows}\n{{not json\n{{\"pref\": \"兵庫県\"}}\n");
    let key = "exports/2025 12/attributes.jsonl";
    s3.put_object()
        .bucket("attributes")
        .key(key)
        .body(body.into_bytes().into())
        .send()
        .await
        .expect("put object");

    let rules_text = std::fs::read_to_string(fixture("segments.yaml")).unwrap();
    let rules = Arc::new(Rules::load(&rules_text, "segments.yaml").unwrap());
    let sender = KinesisSender::new(
        kinesis.clone(),
        "events",
        SenderOptions {
            rate_per_sec: None,
            retry: RetryPolicy::fast(5),
        },
    );
    let loader = AttributeLoader::new(
        s3.clone(),
        Arc::new(sender),
        RowMapping::new(&rules.decode.line_user_id_attribute),
    );
    let now = now_ms();
    let event = notification("attributes", "exports/2025+12/attributes.jsonl", now);
    let reports = loader.handle(&event).await.expect("loaded");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].object, format!("s3://attributes/{key}"));
    assert_eq!(reports[0].rows, 242);
    assert_eq!(reports[0].sent, 240);
    assert_eq!(reports[0].rejected, 2);

    // The consumer applies what the stream holds.
    let store: Arc<dyn StateStore> = Arc::new(EmbeddedStore::in_memory().unwrap());
    let shared = Shared {
        store: store.clone(),
        rules: rules.clone(),
    };
    let first = read_all(&kinesis, "events").await.unwrap();
    assert_eq!(first.len(), 240);
    let response = consumer::handle(&shared, envelope(&first), now)
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    let members: BTreeSet<String> = store
        .list_members("hyogo", None, 10_000)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        members, hyogo,
        "the segment holds exactly the file's 兵庫県 users"
    );

    // The same notification again: the same bytes, which change nothing.
    loader.handle(&event).await.expect("loaded again");
    let all = read_all(&kinesis, "events").await.unwrap();
    assert_eq!(all.len(), 480);
    let again: Vec<ReadRecord> = all
        .into_iter()
        .filter(|r| {
            !first
                .iter()
                .any(|f| (&f.shard_id, &f.sequence_number) == (&r.shard_id, &r.sequence_number))
        })
        .collect();
    let mut old: Vec<&[u8]> = first.iter().map(|r| r.data.as_slice()).collect();
    let mut new: Vec<&[u8]> = again.iter().map(|r| r.data.as_slice()).collect();
    old.sort();
    new.sort();
    assert!(
        old == new,
        "a redelivered notification sends the same bytes"
    );
    let before = store.segment_counts().await.unwrap();
    consumer::handle(&shared, envelope(&again), now)
        .await
        .unwrap();
    assert_eq!(store.segment_counts().await.unwrap(), before);
    assert!(store
        .pending_summary()
        .await
        .unwrap()
        .iter()
        .all(|p| p.exits == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_object_fails_the_invocation_naming_it() {
    let moto = Moto::start();
    let s3 = moto.s3().await;
    let kinesis = moto.kinesis().await;
    create_stream(&kinesis, "events", 1).await;
    s3.create_bucket()
        .bucket("attributes")
        .send()
        .await
        .expect("bucket");
    let sender = KinesisSender::new(
        kinesis,
        "events",
        SenderOptions {
            rate_per_sec: None,
            retry: RetryPolicy::fast(1),
        },
    );
    let loader = AttributeLoader::new(s3, Arc::new(sender), RowMapping::new("lineUserId"));
    let err = loader
        .handle(&notification("attributes", "gone.jsonl", now_ms()))
        .await
        .expect_err("no such object");
    assert!(
        format!("{err:#}").contains("s3://attributes/gone.jsonl"),
        "{err:#}"
    );
}
