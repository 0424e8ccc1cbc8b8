//! Against moto's Kinesis: records round-trip byte for byte with their partition keys over
//! several calls and shards; limits and stream errors are reported as documented.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use audience_kinesis::{
    read_all, KinesisSender, OutRecord, RetryPolicy, SendError, SenderOptions, MAX_RECORD_BYTES,
};

use crate::util::{create_stream, Moto};

fn options() -> SenderOptions {
    SenderOptions {
        rate_per_sec: None,
        retry: RetryPolicy::fast(3),
    }
}

/// Record `i`: JSON-ish text for most, raw bytes (every byte value, invalid UTF-8) for some,
/// and a few 300 KB records so byte limits shape the calls too.
fn record(i: usize) -> OutRecord {
    let data = match i % 50 {
        0 => (0..=255u8).cycle().skip(i % 256).take(1000 + i).collect(),
        7 => vec![(i % 251) as u8; 300 * 1024],
        _ => {
            format!("{{\"event_type\":\"purchase\",\"n\":{i},\"user\":\"user-{i}\"}}").into_bytes()
        }
    };
    OutRecord::new(format!("user-{i}"), data)
}

#[tokio::test]
async fn many_records_round_trip_over_two_shards() {
    let moto = Moto::start();
    let client = moto.kinesis().await;
    create_stream(&client, "events", 2).await;

    let records: Vec<OutRecord> = (0..1234).map(record).collect();
    let total_bytes: usize = records.iter().map(OutRecord::size).sum();
    assert!(
        total_bytes > 5 * 1024 * 1024,
        "the input needs byte-limited calls too"
    );
    let progressed = AtomicU64::new(0);
    let sender = KinesisSender::new(client.clone(), "events", options());
    let report = sender
        .send(records.clone(), |n| {
            progressed.fetch_add(n, Ordering::Relaxed);
        })
        .await
        .expect("send to moto");
    assert_eq!(report.sent, 1234);
    assert_eq!(report.retried, 0);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(
        report.calls >= 3,
        "1,234 records take at least 3 calls, made {}",
        report.calls
    );
    assert_eq!(progressed.load(Ordering::Relaxed), 1234);

    let back = read_all(&client, "events")
        .await
        .expect("read the stream back");
    assert_eq!(back.len(), 1234, "every record read back exactly once");
    let shards: HashSet<&str> = back.iter().map(|r| r.shard_id.as_str()).collect();
    assert_eq!(shards.len(), 2, "records spread over both shards");
    let sequences: HashSet<(&str, &str)> = back
        .iter()
        .map(|r| (r.shard_id.as_str(), r.sequence_number.as_str()))
        .collect();
    assert_eq!(sequences.len(), 1234, "sequence numbers are unique");
    let by_key: HashMap<&str, &[u8]> = back
        .iter()
        .map(|r| (r.partition_key.as_str(), r.data.as_slice()))
        .collect();
    for r in &records {
        let got = by_key
            .get(r.partition_key.as_str())
            .unwrap_or_else(|| panic!("{} missing", r.partition_key));
        assert!(
            *got == r.data.as_slice(),
            "{} came back different",
            r.partition_key
        );
    }
    // A stream name or its ARN both work.
    let arn = client
        .describe_stream_summary()
        .stream_name("events")
        .send()
        .await
        .unwrap()
        .stream_description_summary()
        .unwrap()
        .stream_arn()
        .to_owned();
    assert_eq!(read_all(&client, &arn).await.unwrap().len(), 1234);
    let by_arn = KinesisSender::new(client.clone(), arn, options());
    assert_eq!(by_arn.send(vec![record(1)], |_| {}).await.unwrap().sent, 1);
}

#[tokio::test]
async fn an_oversized_record_is_refused_before_any_call() {
    let moto = Moto::start();
    let client = moto.kinesis().await;
    create_stream(&client, "guarded", 1).await;
    let mut records: Vec<OutRecord> = (0..10).map(record).collect();
    records[6] = OutRecord::new("huge-user", vec![1u8; MAX_RECORD_BYTES]); // + key > 1 MiB
    let sender = KinesisSender::new(client.clone(), "guarded", options());
    let err = sender.send(records, |_| {}).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SendError::InvalidRecord(_)), "{err:?}");
    assert!(
        msg.contains("record 6") && msg.contains("huge-user") && msg.contains("1 MiB"),
        "{msg}"
    );
    assert!(
        read_all(&client, "guarded").await.unwrap().is_empty(),
        "nothing was sent"
    );
}

#[tokio::test]
async fn a_missing_stream_stops_the_send_without_retrying() {
    let moto = Moto::start();
    let client = moto.kinesis().await;
    let sender = KinesisSender::new(client, "no-such-stream", options());
    let err = sender
        .send((0..3).map(record).collect(), |_| {})
        .await
        .unwrap_err();
    match err {
        SendError::Call {
            first_unsent,
            source,
            report,
        } => {
            assert_eq!(first_unsent, 0);
            assert_eq!(
                source.code.as_deref(),
                Some("ResourceNotFoundException"),
                "{source}"
            );
            assert!(!source.retryable);
            assert!(source.to_string().contains("no-such-stream"), "{source}");
            assert_eq!(
                (report.sent, report.calls),
                (0, 1),
                "a permanent error is not retried"
            );
        }
        other => panic!("expected a call error, got {other:?}"),
    }
}

#[test]
fn the_send_future_is_send() {
    // The LINE webhook Lambda and the CLI may spawn sends on a multi-threaded runtime.
    fn assert_send<T: Send>(_: &T) {}
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
        .build();
    let sender = KinesisSender::new(
        aws_sdk_kinesis::Client::from_conf(conf),
        "s",
        SenderOptions::default(),
    );
    let fut = sender.send(Vec::new(), |_| {});
    assert_send(&fut);
}
