//! `collect` as started from the command line, writing to moto's Kinesis: a Segment batch
//! POSTed with a write key is answered 200 and every record decodes with the consumer's
//! decoder; a wrong key gets 401 and writes nothing; JSON Lines work too.

use audience_core::{decode_record, Clock, DecodeOptions, Payload, RawRecord, RecordId};
use audience_testkit::{create_stream, Moto};
use base64::Engine;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

const KEY: &str = "wk_dev_5b0c1e";

/// POSTs `body` and returns the status code and the response body.
fn post(addr: &str, path: &str, key: &str, content_type: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let code = answer.split(' ').nth(1).unwrap_or_default();
    let status = code
        .parse()
        .unwrap_or_else(|_| panic!("no status line: {answer}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collect_puts_posted_events_on_the_stream() {
    let moto = Moto::start();
    let client = moto.kinesis().await;
    create_stream(&client, "collected", 1).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_audience-stream"))
        .args(["collect", "--bind", "127.0.0.1:0", "--stream", "collected"])
        .env(
            "AUDIENCE_STREAM_COLLECTOR_KEYS",
            format!(r#"{{"sources": {{"dev": "{KEY}"}}}}"#),
        )
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AUDIENCE_STREAM_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let addr = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            panic!("collect stopped before listening: {seen}");
        }
        seen.push_str(&line);
        if let Some(rest) = line.strip_prefix("collector on http://") {
            break rest.split('/').next().unwrap().to_string();
        }
    };
    assert!(seen.contains("sources: dev;"), "{seen}");

    let now = time::OffsetDateTime::now_utc();
    let at = |minutes_ago: i64| {
        (now - time::Duration::minutes(minutes_ago))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let batch = serde_json::json!({
        "batch": [
            {"type": "track", "event": "Order Completed", "userId": "user-1", "timestamp": at(3),
             "properties": {"revenue": 1200}},
            {"type": "identify", "userId": "user-2", "timestamp": at(2), "traits": {"pref": "兵庫県"}},
            {"type": "screen", "anonymousId": "anon-3", "name": "Home", "timestamp": at(1)},
            17,
        ],
        "context": {"library": {"name": "analytics-ios"}},
    })
    .to_string();
    let (status, body) = post(&addr, "/v1/batch", KEY, "application/json", &batch);
    let lines = format!(
        "{}\n{}\n",
        serde_json::json!({"type": "track", "event": "App Opened", "userId": "user-4", "timestamp": at(1)}),
        serde_json::json!({"type": "page", "userId": "user-1", "name": "Top", "timestamp": at(1)}),
    );
    let (lines_status, lines_body) = post(&addr, "/", KEY, "application/x-ndjson", &lines);
    let (refused, refused_body) = post(
        &addr,
        "/v1/batch",
        "wk_dev_wrong",
        "application/json",
        &batch,
    );
    child.kill().unwrap();
    let _ = child.wait();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();

    assert_eq!(status, 200, "{body}\n{rest}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"success": true, "accepted": 3,
                           "rejected": [{"index": 3, "reason": "not a JSON object (a number)"}]})
    );
    assert_eq!(lines_status, 200, "{lines_body}");
    assert_eq!(refused, 401, "{refused_body}");
    // The log names the source and the rejection, never the key.
    assert!(rest.contains("collector rejected an event"), "{rest}");
    assert!(!rest.contains(KEY) && !seen.contains(KEY), "{seen}{rest}");

    let records = audience_kinesis::read_all(&client, "collected")
        .await
        .unwrap();
    let clock = Clock::at(now.unix_timestamp() * 1000 + 1000);
    let mut got: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            let raw = RawRecord {
                id: RecordId::new(r.shard_id.clone(), r.sequence_number.clone()),
                payload: Payload::Json(r.data.clone()),
                arrival_ms: None,
            };
            let event = decode_record(&raw, &DecodeOptions::default(), clock)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.data)));
            assert_eq!(r.partition_key, event.key.id);
            (event.key.id, event.event.event_type)
        })
        .collect();
    got.sort();
    let want = [
        ("anon-3", "_screen"),
        ("user-1", "Order Completed"),
        ("user-1", "_page"),
        ("user-2", "_identify"),
        ("user-4", "App Opened"),
    ]
    .map(|(k, t)| (k.to_string(), t.to_string()));
    assert_eq!(got, want);
}
