//! `replay --to-kinesis` into the moto emulator: every record round-trips byte for byte,
//! keyed by its user; undecodable records are reported, not sent.

use crate::util::*;
use audience_testkit::{create_stream, Moto};
use base64::Engine;
use std::collections::BTreeMap;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_into_a_stream_round_trips_every_record() {
    let moto = Moto::start();
    let client = moto.kinesis().await;
    create_stream(&client, "replayed", 2).await;
    let out = Command::new(env!("CARGO_BIN_EXE_audience-stream"))
        .args([
            "replay",
            "--json",
            "--rules",
            &fixture("segments.yaml"),
            "--to-kinesis",
            "replayed",
            &fixture("kinesis-batch-1.json"),
            &fixture("malformed/kinesis-malformed.json"),
        ])
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    // What should have been sent: every decodable event of the input files.
    let mut expected: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for name in ["kinesis-batch-1.json", "malformed/kinesis-malformed.json"] {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap();
        for r in doc["Records"].as_array().unwrap() {
            let data = r["kinesis"]["data"].as_str().unwrap_or("");
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            let decodable = v.is_object()
                && v["event_timestamp"].is_i64()
                && (v.pointer("/endpoint/User/UserId").is_some()
                    || v.pointer("/endpoint/Id").is_some()
                    || v.pointer("/client/client_id").is_some())
                && bytes.len() < 20_000;
            if decodable {
                *expected.entry(bytes).or_default() += 1;
            }
        }
    }
    let sent: usize = expected.values().sum();
    assert_eq!(
        summary["sent"].as_u64().unwrap() as usize,
        sent,
        "{summary}"
    );
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["set_aside"], 7, "{summary}");

    let read = audience_kinesis::read_all(&client, "replayed")
        .await
        .unwrap();
    let mut got: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    let shards: std::collections::BTreeSet<&str> =
        read.iter().map(|r| r.shard_id.as_str()).collect();
    for r in &read {
        let mut v: serde_json::Value = serde_json::from_slice(&r.data).unwrap();
        // Campaign and journey events carry their endpoint as a JSON string.
        if let Some(embedded) = v
            .pointer("/client_context/custom/endpoint")
            .and_then(|e| e.as_str())
        {
            v["endpoint"] = serde_json::from_str(embedded).unwrap();
        }
        let key = v
            .pointer("/endpoint/User/UserId")
            .or_else(|| v.pointer("/endpoint/Id"))
            .or_else(|| v.pointer("/client/client_id"))
            .and_then(|k| k.as_str())
            .unwrap();
        assert_eq!(r.partition_key, key, "partition key = user key");
        *got.entry(r.data.clone()).or_default() += 1;
    }
    assert_eq!(got, expected, "every record round-trips byte for byte");
    assert_eq!(shards.len(), 2, "records spread over both shards");
}
