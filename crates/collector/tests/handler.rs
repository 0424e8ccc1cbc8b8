//! The handler with a scripted sink: what each answer says, what reaches the sink, and a
//! stream failure answered 503.

use std::sync::Arc;

use crate::util::*;
use audience_collector::{Collector, Limits};
use serde_json::{json, Value};

fn body(response: &audience_collector::CollectorResponse) -> Value {
    serde_json::from_str(&response.body).unwrap()
}

fn header<'a>(response: &'a audience_collector::CollectorResponse, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_batch_is_written_and_rejections_are_reported() {
    let sink = Arc::new(ScriptedSink::default());
    let collector = collector(sink.clone());
    let batch = json!({"batch": [
        {"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "m1"},
        "not an event",
        {"type": "identify", "anonymousId": "anon-2", "traits": {"pref": "兵庫県"}},
    ]});
    let response = collector
        .handle(
            &post("/v1/batch", &batch.to_string(), Some(basic(IOS_KEY))),
            now(),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        body(&response),
        json!({"success": true, "accepted": 2,
               "rejected": [{"index": 1, "reason": "not a JSON object (a string)"}]})
    );
    let puts = sink.puts.lock().unwrap();
    assert_eq!(puts.len(), 1);
    let keys: Vec<&str> = puts[0].iter().map(|r| r.partition_key.as_str()).collect();
    assert_eq!(keys, ["u1", "anon-2"]);
    let first: Value = serde_json::from_slice(&puts[0][0].data).unwrap();
    assert_eq!(first["receivedAt"], "2026-12-07T04:00:00.25Z");
}

#[tokio::test]
async fn bearer_keys_and_path_call_types_work() {
    let sink = Arc::new(ScriptedSink::default());
    let collector = collector(sink.clone());
    let response = collector
        .handle(
            &post(
                "/v1/track",
                r#"{"event": "Signed Up", "userId": "u9"}"#,
                Some(format!("Bearer {BACKEND_KEY}")),
            ),
            now(),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(body(&response)["accepted"], 1);
    let puts = sink.puts.lock().unwrap();
    let event: Value = serde_json::from_slice(&puts[0][0].data).unwrap();
    assert_eq!(event["type"], "track");
}

#[tokio::test]
async fn requests_without_a_valid_key_get_401_and_write_nothing() {
    let sink = Arc::new(ScriptedSink::default());
    let collector = collector(sink.clone());
    let call = r#"{"type": "track", "event": "A", "userId": "u1"}"#;
    for authorization in [
        None,
        Some(basic("")),
        Some(basic("wk_ios_wrong")),
        Some(format!("Bearer {IOS_KEY}x")),
        Some("Token abc".to_string()),
    ] {
        let response = collector
            .handle(&post("/v1/track", call, authorization.clone()), now())
            .await;
        assert_eq!(response.status, 401, "{authorization:?}");
        assert_eq!(body(&response)["success"], false);
        assert_eq!(
            header(&response, "www-authenticate"),
            Some("Basic realm=\"audience-stream\"")
        );
        assert!(!response.body.contains("wk_"), "{}", response.body);
    }
    assert!(sink.puts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn methods_limits_and_bad_bodies_are_refused_whole() {
    let sink = Arc::new(ScriptedSink::default());
    let limits = Limits {
        max_body_bytes: 2_000,
        max_event_bytes: 1_000,
        max_events: 2,
    };
    let collector = Collector::new(keys(), limits, sink.clone());
    let auth = Some(basic(IOS_KEY));
    let mut get = post("/v1/batch", "", auth.clone());
    get.method = "GET".into();
    let response = collector.handle(&get, now()).await;
    assert_eq!(
        (response.status, header(&response, "allow")),
        (405, Some("POST"))
    );

    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(2_000));
    let response = collector
        .handle(&post("/", &big, auth.clone()), now())
        .await;
    assert_eq!(response.status, 413);
    assert!(body(&response)["error"].as_str().unwrap().contains("2000"));

    let three = json!({"batch": [{"userId": "a"}, {"userId": "b"}, {"userId": "c"}]});
    let response = collector
        .handle(&post("/", &three.to_string(), auth.clone()), now())
        .await;
    assert_eq!(response.status, 413);

    let response = collector
        .handle(&post("/", "{oops", auth.clone()), now())
        .await;
    assert_eq!(response.status, 400);
    assert!(body(&response)["error"]
        .as_str()
        .unwrap()
        .starts_with("the body is not JSON"));
    assert_eq!(
        collector
            .body_too_large(&audience_collector::Source("x".into()))
            .status,
        413
    );
    assert!(sink.puts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn only_rejected_items_write_nothing_and_say_so() {
    let sink = Arc::new(ScriptedSink::default());
    let collector = collector(sink.clone());
    let response = collector
        .handle(
            &post("/", r#"{"batch": [1, null]}"#, Some(basic(IOS_KEY))),
            now(),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(body(&response)["accepted"], 0);
    assert_eq!(body(&response)["rejected"].as_array().unwrap().len(), 2);
    assert!(sink.puts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_stream_failure_is_503_so_the_client_sends_again() {
    let sink = Arc::new(ScriptedSink {
        fail: true,
        ..ScriptedSink::default()
    });
    let collector = collector(sink.clone());
    let batch = json!({"batch": [
        {"type": "track", "event": "A", "userId": "u1"},
        {"type": "track", "event": "B", "userId": "u2"},
        {"type": "track", "event": "C", "userId": "u3"},
    ]});
    let response = collector
        .handle(
            &post("/v1/batch", &batch.to_string(), Some(basic(IOS_KEY))),
            now(),
        )
        .await;
    assert_eq!(response.status, 503, "{}", response.body);
    assert_eq!(body(&response)["success"], false);
    assert_eq!(header(&response, "retry-after"), Some("1"));
    assert_eq!(sink.puts.lock().unwrap()[0].len(), 3);
}
