//! `recover` against moto's Kinesis: a dead-letter message naming a sub-range of one shard
//! applies exactly the records of that range (the same state as replaying those records),
//! recovering it again changes nothing, and a range the stream does not hold fails naming the
//! message and the missing range.

use crate::util::*;
use audience_kinesis::ReadRecord;
use audience_testkit::{create_stream, Moto};
use base64::Engine;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `--now` for every run: the newest fixture event time.
const NOW: &str = "2025-12-01T00:00:00Z";

/// Runs the binary against moto with a store in `dir`, `stdin` piped in when given.
fn run_aws(moto: &Moto, dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_audience-stream"))
        .args(args)
        .env(
            "AUDIENCE_STREAM_STORE",
            format!("embedded:{}", dir.join("state").display()),
        )
        .env("AUDIENCE_STREAM_RULES", fixture("segments.yaml"))
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run audience-stream");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    pipe.write_all(stdin.unwrap_or("").as_bytes())
        .expect("write stdin");
    drop(pipe);
    child.wait_with_output().expect("wait for audience-stream")
}

fn json_of(out: &Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The on-failure destination message Lambda sends for a discarded batch (AWS's documented
/// shape), for `records` of `shard`.
fn dlq_message(arn: &str, shard: &str, start: &str, end: &str, size: usize) -> Value {
    json!({
        "requestContext": {
            "requestId": "c9b8fa9f-5a7f-4ab5-b3fb-2e4b0b3a4e3f",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:consumer",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 1
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2025-12-01T00:38:06.021Z",
        "KinesisBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": start,
            "endSequenceNumber": end,
            "approximateArrivalOfFirstRecord": "2025-12-01T00:38:04.835Z",
            "approximateArrivalOfLastRecord": "2025-12-01T00:38:05.580Z",
            "batchSize": size,
            "streamArn": arn
        }
    })
}

/// The records as the Lambda Kinesis event `replay` reads, with their real record IDs.
fn envelope(arn: &str, records: &[ReadRecord]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "kinesis": {
                    "partitionKey": r.partition_key,
                    "sequenceNumber": r.sequence_number,
                    "data": base64::engine::general_purpose::STANDARD.encode(&r.data),
                    "approximateArrivalTimestamp": r.approximate_arrival_epoch_secs,
                },
                "eventID": format!("{}:{}", r.shard_id, r.sequence_number),
                "eventSourceARN": arn,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// `n` + `by` for decimal strings of any length.
fn add_decimal(n: &str, by: u32) -> String {
    let mut digits: Vec<u32> = n.bytes().rev().map(|b| u32::from(b - b'0')).collect();
    let mut carry = by;
    for d in digits.iter_mut() {
        let sum = *d + carry;
        *d = sum % 10;
        carry = sum / 10;
    }
    while carry > 0 {
        digits.push(carry % 10);
        carry /= 10;
    }
    digits
        .iter()
        .rev()
        .map(|d| char::from(b'0' + *d as u8))
        .collect()
}

#[test]
fn decimal_addition_carries() {
    assert_eq!(add_decimal("999", 1), "1000");
    assert_eq!(
        add_decimal(
            "49601189658422359378836298521827638475320189012309704722",
            1000
        ),
        "49601189658422359378836298521827638475320189012309705722"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_applies_exactly_the_discarded_range_and_only_once() {
    let moto = Moto::start();
    let client = moto.kinesis().await;
    create_stream(&client, "events", 2).await;
    let work = tempfile::tempdir().unwrap();
    let sent = run_aws(
        &moto,
        work.path(),
        &[
            "replay",
            "--json",
            "--to-kinesis",
            "events",
            &fixture("kinesis-batch-1.json"),
        ],
        None,
    );
    let sent = json_of(&sent, "replay --to-kinesis");
    assert_eq!(sent["failed"], 0, "{sent}");
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

    // Read the stream to find real sequence numbers: a sub-range in the middle of one shard.
    let all = audience_kinesis::read_all(&client, "events").await.unwrap();
    let shard = all[0].shard_id.clone();
    let on_shard: Vec<ReadRecord> = all
        .iter()
        .filter(|r| r.shard_id == shard)
        .cloned()
        .collect();
    assert!(
        on_shard.len() > 100,
        "{} records on {shard}",
        on_shard.len()
    );
    let range = &on_shard[20..on_shard.len() - 20];
    let (start, end) = (
        range[0].sequence_number.clone(),
        range[range.len() - 1].sequence_number.clone(),
    );
    let message = dlq_message(&arn, &shard, &start, &end, range.len());

    // Expected: the same records replayed as a Lambda event into another store.
    let expected_dir = tempfile::tempdir().unwrap();
    let event_file = expected_dir.path().join("range.json");
    std::fs::write(&event_file, envelope(&arn, range).to_string()).unwrap();
    let replayed = run_json(
        expected_dir.path(),
        &[
            "replay",
            "--json",
            "--now",
            NOW,
            event_file.to_str().unwrap(),
        ],
    );
    assert_eq!(replayed["records"], range.len(), "{replayed}");
    let expected = run_json(expected_dir.path(), &["stats", "--json"]);
    // The whole stream gives more users: comparing with the range's replay means something.
    let full_dir = tempfile::tempdir().unwrap();
    let full_file = full_dir.path().join("all.json");
    std::fs::write(&full_file, envelope(&arn, &all).to_string()).unwrap();
    run_json(
        full_dir.path(),
        &[
            "replay",
            "--json",
            "--now",
            NOW,
            full_file.to_str().unwrap(),
        ],
    );
    let full = run_json(full_dir.path(), &["stats", "--json"]);
    assert!(
        full["users"].as_u64() > expected["users"].as_u64(),
        "the range must leave users out: {} vs {}",
        full["users"],
        expected["users"]
    );

    // Recover from an `aws sqs receive-message` answer on stdin.
    let dir = tempfile::tempdir().unwrap();
    let receive = json!({"Messages": [{
        "MessageId": "5fea7756-0ea4-451a-a703-a558b933e274",
        "ReceiptHandle": "AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq…",
        "MD5OfBody": "fafb00f5732ab283681e124bf8747ed1",
        "Body": message.to_string(),
    }]});
    let first = run_aws(
        &moto,
        dir.path(),
        &["recover", "--json", "--now", NOW, "-"],
        Some(&receive.to_string()),
    );
    let first = json_of(&first, "recover");
    assert_eq!(first["messages"], 1, "{first}");
    assert_eq!(first["records_read"], range.len(), "{first}");
    assert_eq!(first["failed"], 0, "{first}");
    assert_eq!(first["incomplete"], json!([]), "{first}");
    assert_eq!(first["set_aside"], replayed["set_aside"], "{first}");
    assert_eq!(first["duplicates"], replayed["duplicates"], "{first}");
    assert_eq!(first["unchanged"], replayed["unchanged"], "{first}");
    assert_eq!(
        first["applied"].as_u64().unwrap()
            + first["duplicates"].as_u64().unwrap()
            + first["unchanged"].as_u64().unwrap(),
        replayed["decoded"].as_u64().unwrap(),
        "{first}\n{replayed}"
    );
    assert!(first["applied"].as_u64() > Some(0), "{first}");
    let after_first = run_json(dir.path(), &["stats", "--json"]);
    assert_eq!(
        after_first, expected,
        "recover = replay of exactly those records"
    );

    // Again, from a file of JSON Lines: nothing changes.
    let file = dir.path().join("dlq.jsonl");
    std::fs::write(&file, format!("{message}\n")).unwrap();
    let second = run_aws(
        &moto,
        dir.path(),
        &["recover", "--json", "--now", NOW, file.to_str().unwrap()],
        None,
    );
    let second = json_of(&second, "recover again");
    assert_eq!(second["records_read"], range.len(), "{second}");
    assert_eq!(
        second["applied"], 0,
        "every record was applied before: {second}"
    );
    assert_eq!(
        second["duplicates"].as_u64().unwrap() + second["unchanged"].as_u64().unwrap(),
        first["applied"].as_u64().unwrap()
            + first["duplicates"].as_u64().unwrap()
            + first["unchanged"].as_u64().unwrap(),
        "{second}"
    );
    assert_eq!(second["users_written"], 0, "{second}");
    assert_eq!(
        (&second["entered"], &second["exited"]),
        (&json!(0), &json!(0)),
        "{second}"
    );
    assert_eq!(second["failed"], 0, "{second}");
    assert_eq!(
        run_json(dir.path(), &["stats", "--json"]),
        after_first,
        "recovering twice counts nothing twice"
    );

    // A range beyond the stream's records: a clear failure naming the message and the range.
    let tip = &on_shard[on_shard.len() - 1].sequence_number;
    let (gone_start, gone_end) = (add_decimal(tip, 1), add_decimal(tip, 1000));
    let gone = dlq_message(&arn, &shard, &gone_start, &gone_end, 3);
    let failed = run_aws(
        &moto,
        dir.path(),
        &["recover", "--now", NOW, "-"],
        Some(&gone.to_string()),
    );
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stderr}");
    assert!(
        stderr.contains("- message 1 (request c9b8fa9f-5a7f-4ab5-b3fb-2e4b0b3a4e3f")
            && stderr.contains(&format!("[{gone_start}, {gone_end}]"))
            && stderr.contains(&shard)
            && stderr.contains("retention"),
        "{stderr}"
    );
    assert_eq!(
        run_json(dir.path(), &["stats", "--json"]),
        after_first,
        "a range beyond the shard applies nothing"
    );

    // A range whose first records the shard no longer holds (as after expiry: the shard
    // starts later than the message's start): what is left is applied, the gap is named.
    let first_held = &on_shard[0].sequence_number;
    let head_end = &on_shard[5].sequence_number;
    let expired = dlq_message(&arn, &shard, "0", head_end, 8);
    let partial = run_aws(
        &moto,
        dir.path(),
        &["recover", "--json", "--now", NOW, "-"],
        Some(&expired.to_string()),
    );
    let stderr = String::from_utf8_lossy(&partial.stderr);
    assert!(!partial.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("[0, {first_held})")),
        "names the missing head: {stderr}"
    );
    let partial: Value = serde_json::from_slice(&partial.stdout).unwrap();
    assert_eq!(partial["records_read"], 6, "{partial}");
    assert_eq!(
        partial["incomplete"][0]["missing"],
        json!([format!("[0, {first_held})")]),
        "{partial}"
    );
    let users_before = after_first["users"].as_u64().unwrap();
    let users_after = run_json(dir.path(), &["stats", "--json"])["users"]
        .as_u64()
        .unwrap();
    assert!(
        users_after > users_before,
        "the records that were read are applied: {users_before} → {users_after}"
    );
}
