//! The handler writing to moto's Kinesis through the real [`KinesisSender`]: a Segment batch
//! is read back and every record decodes with the consumer's decoder into the expected user
//! keys and event types; a PutRecords that keeps failing answers 503.

use std::sync::Arc;

use crate::util::*;
use audience_collector::{Collector, Limits};
use audience_core::{decode_record, Clock, DecodeOptions, KeyField, Payload, RawRecord, RecordId};
use audience_kinesis::{
    read_all, CallError, EntryOutcome, KinesisSender, OutRecord, PutRecordsApi, RetryPolicy,
    SenderOptions,
};
use audience_testkit::{create_stream, Moto};
use serde_json::{json, Value};

fn segment_batch() -> Value {
    json!({
        "batch": [
            {"type": "track", "event": "Order Completed", "userId": "user-1",
             "messageId": "m-1", "timestamp": "2026-12-07T03:59:00Z",
             "properties": {"revenue": 1200, "currency": "JPY"}},
            {"type": "identify", "userId": "user-2", "messageId": "m-2",
             "timestamp": "2026-12-07T03:58:00Z", "traits": {"pref": "兵庫県"}},
            {"type": "screen", "anonymousId": "anon-3", "name": "Home", "messageId": "m-3",
             "timestamp": "2026-12-07T03:57:00Z"},
            {"type": "alias", "previousId": "anon-3", "userId": "user-3", "messageId": "m-4",
             "timestamp": "2026-12-07T03:57:30Z"},
            {"type": "track", "event": "Product Viewed", "anonymousId": "anon-4",
             "messageId": "m-5", "timestamp": "2026-12-07T03:56:00Z"},
            ["not", "an", "event"],
        ],
        "context": {"library": {"name": "analytics-ios"}, "traits": {"plan": "gold"}},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_batch_reaches_the_stream_and_decodes_for_the_consumer() {
    let moto = Moto::start();
    let client = moto.kinesis().await;
    create_stream(&client, "collected", 2).await;
    let sender = KinesisSender::new(
        client.clone(),
        "collected",
        SenderOptions {
            rate_per_sec: None,
            retry: RetryPolicy::fast(3),
        },
    );
    let collector = Collector::new(keys(), Limits::default(), Arc::new(sender));
    let response = collector
        .handle(
            &post(
                "/v1/batch",
                &segment_batch().to_string(),
                Some(basic(IOS_KEY)),
            ),
            now(),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    let answer: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(answer["accepted"], 5);
    assert_eq!(answer["rejected"][0]["index"], 5);

    let records = read_all(&client, "collected").await.unwrap();
    assert_eq!(records.len(), 5);
    let clock = Clock::at(now().unix_timestamp() * 1000);
    let opts = DecodeOptions::default();
    let mut decoded: Vec<(String, String, KeyField, String)> = records
        .iter()
        .map(|r| {
            let raw = RawRecord {
                id: RecordId::new(r.shard_id.clone(), r.sequence_number.clone()),
                payload: Payload::Json(r.data.clone()),
                arrival_ms: None,
            };
            let event = decode_record(&raw, &opts, clock)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.data)));
            // The batch context reached every event (its traits are user attributes).
            assert_eq!(
                event
                    .event
                    .endpoint
                    .as_ref()
                    .and_then(|e| e.user.as_ref())
                    .and_then(|u| u.user_attributes.get("plan"))
                    .map(|v| v.as_slice()),
                Some(["gold".to_string()].as_slice()),
                "{}",
                String::from_utf8_lossy(&r.data)
            );
            // receivedAt (the collector's clock) is the arrival time.
            assert_eq!(event.event.arrival_timestamp, Some(1_796_616_000_250));
            (
                event.key.id.clone(),
                event.event.event_type.clone(),
                event.key.field,
                r.partition_key.clone(),
            )
        })
        .collect();
    decoded.sort();
    let want = [
        ("anon-3", "_screen", KeyField::EndpointId, "anon-3"),
        ("anon-4", "Product Viewed", KeyField::EndpointId, "anon-4"),
        ("user-1", "Order Completed", KeyField::UserId, "user-1"),
        ("user-2", "_identify", KeyField::UserId, "user-2"),
        ("user-3", "_alias", KeyField::UserId, "user-3"),
    ];
    let got: Vec<(&str, &str, KeyField, &str)> = decoded
        .iter()
        .map(|(k, t, f, p)| (k.as_str(), t.as_str(), *f, p.as_str()))
        .collect();
    assert_eq!(got, want);
}

/// PutRecords that fails every call (throttled), as a stream under pressure would.
struct Throttled;

impl PutRecordsApi for Throttled {
    async fn put_records(
        &self,
        stream: &str,
        _batch: &[&OutRecord],
    ) -> Result<Vec<EntryOutcome>, CallError> {
        Err(CallError {
            stream: stream.to_string(),
            code: Some("ProvisionedThroughputExceededException".into()),
            message: "Rate exceeded for stream".into(),
            retryable: true,
        })
    }
}

#[tokio::test]
async fn a_kinesis_sender_that_keeps_failing_answers_503() {
    let sender = KinesisSender::with_api(
        Throttled,
        "collected",
        SenderOptions {
            rate_per_sec: None,
            retry: RetryPolicy::fast(2),
        },
    );
    let collector = Collector::new(keys(), Limits::default(), Arc::new(sender));
    let response = collector
        .handle(
            &post(
                "/v1/batch",
                &segment_batch().to_string(),
                Some(basic(IOS_KEY)),
            ),
            now(),
        )
        .await;
    assert_eq!(response.status, 503, "{}", response.body);
}
