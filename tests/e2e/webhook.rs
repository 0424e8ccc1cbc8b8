//! The LINE webhook Lambda: LINE's signature test vector, bad and missing signatures, and
//! follow/unfollow events handed to Kinesis (moto) as Pinpoint-shaped events.

use audience_kinesis::{read_all, KinesisSender, SenderOptions};
use audience_lambda::webhook;
use audience_retry::RetryPolicy;
use audience_testkit::{create_stream, Moto};
use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use base64::Engine;

const SECRET: &str = "8c570fa6dd201bb328f1c1eac23a96d8";

/// The record signing key the webhook and the consumer share (a test value).
fn record_key() -> audience_core::signature::RecordKey {
    audience_core::signature::RecordKey::new(b"e2e-record-signing-key-0123".to_vec()).unwrap()
}
const VECTOR_BODY: &str = r#"{"destination":"U8e742f61d673b39c7fff3cecb7536ef0","events":[]}"#;
const VECTOR_SIGNATURE: &str = "GhRKmvmHys4Pi8DxkF4+EayaH0OqtJtaZxgTD9fMDLs=";

fn request(
    body: &str,
    header: Option<(&str, &str)>,
    base64_body: bool,
) -> LambdaFunctionUrlRequest {
    let mut r = LambdaFunctionUrlRequest::default();
    r.body = Some(if base64_body {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        body.to_string()
    });
    r.is_base64_encoded = base64_body;
    if let Some((name, value)) = header {
        r.headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    r
}

async fn sink(moto: &Moto) -> KinesisSender {
    let client = moto.kinesis().await;
    create_stream(&client, "line-events", 1).await;
    KinesisSender::new(
        client,
        "line-events",
        SenderOptions {
            rate_per_sec: None,
            retry: RetryPolicy::fast(3),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_are_checked_on_the_raw_body() {
    let moto = Moto::start();
    let sender = sink(&moto).await;
    let ok = webhook::handle(
        SECRET.as_bytes(),
        &record_key(),
        &request(
            VECTOR_BODY,
            Some(("X-Line-Signature", VECTOR_SIGNATURE)),
            false,
        ),
        &sender,
    )
    .await;
    assert_eq!(
        ok.status_code, 200,
        "LINE's test vector is accepted (header name in any case)"
    );
    let b64 = webhook::handle(
        SECRET.as_bytes(),
        &record_key(),
        &request(
            VECTOR_BODY,
            Some(("x-line-signature", VECTOR_SIGNATURE)),
            true,
        ),
        &sender,
    )
    .await;
    assert_eq!(
        b64.status_code, 200,
        "a Base64-encoded Function URL body is verified on its raw bytes"
    );
    let bad = webhook::handle(
        SECRET.as_bytes(),
        &record_key(),
        &request(VECTOR_BODY, Some(("x-line-signature", "AAAA")), false),
        &sender,
    )
    .await;
    assert_eq!(bad.status_code, 401);
    let tampered = webhook::handle(
        SECRET.as_bytes(),
        &record_key(),
        &request(
            &VECTOR_BODY.replace("[]", "[ ]"),
            Some(("x-line-signature", VECTOR_SIGNATURE)),
            false,
        ),
        &sender,
    )
    .await;
    assert_eq!(
        tampered.status_code, 401,
        "the signature covers the exact bytes"
    );
    let missing = webhook::handle(
        SECRET.as_bytes(),
        &record_key(),
        &request(VECTOR_BODY, None, false),
        &sender,
    )
    .await;
    assert_eq!(missing.status_code, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_and_unfollow_reach_the_stream_keyed_by_line_user() {
    let moto = Moto::start();
    let sender = sink(&moto).await;
    let user = "U0123456789abcdef0123456789abcdef";
    let body = serde_json::json!({
        "destination": "Uffffffffffffffffffffffffffffffff",
        "events": [
            {"type": "follow", "mode": "active", "timestamp": 1764547200000i64, "source": {"type": "user", "userId": user},
             "webhookEventId": "01HXXXXXXXXXXXXXXXXXXXXXXX", "deliveryContext": {"isRedelivery": false}, "replyToken": "r", "follow": {"isUnblocked": false}},
            {"type": "unfollow", "mode": "active", "timestamp": 1764547300000i64, "source": {"type": "user", "userId": user},
             "webhookEventId": "01HYYYYYYYYYYYYYYYYYYYYYYY", "deliveryContext": {"isRedelivery": false}},
            {"type": "message", "mode": "active", "timestamp": 1764547400000i64, "source": {"type": "user", "userId": user},
             "webhookEventId": "01HZZZZZZZZZZZZZZZZZZZZZZZ", "deliveryContext": {"isRedelivery": false}, "replyToken": "r",
             "message": {"id": "1", "type": "text", "text": "hi", "quoteToken": "q"}}
        ]
    })
    .to_string();
    let signature = audience_line::webhook::sign(SECRET.as_bytes(), body.as_bytes());
    let response = webhook::handle(
        SECRET.as_bytes(),
        &record_key(),
        &request(&body, Some(("x-line-signature", &signature)), false),
        &sender,
    )
    .await;
    assert_eq!(response.status_code, 200);
    let read = read_all(&moto.kinesis().await, "line-events")
        .await
        .unwrap();
    assert_eq!(read.len(), 2, "follow and unfollow only");
    let kinds: Vec<String> = read
        .iter()
        .map(|r| {
            assert_eq!(r.partition_key, user);
            let v: serde_json::Value = serde_json::from_slice(&r.data).unwrap();
            assert_eq!(v["client"]["client_id"], format!("line:{user}"));
            assert_eq!(v["attributes"]["line_user_id"], user);
            v["event_type"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(kinds, vec!["line.follow", "line.unfollow"]);

    // The consumer believes these records (signed, webhookEventId kept) and nothing forged.
    let rules = audience_core::Rules::load(
        "segments:\n  - id: linked\n    condition: { line_linked: true }\n",
        "t.yaml",
    )
    .unwrap()
    .with_record_key(record_key());
    let clock = audience_core::Clock::at(1_764_547_400_000);
    let raw = |data: Vec<u8>| audience_core::RawRecord {
        id: audience_core::RecordId::new("shardId-000000000000", "1"),
        payload: audience_core::Payload::Json(data),
        arrival_ms: None,
    };
    let follow = audience_core::decode_record(&raw(read[0].data.clone()), &rules.decode, clock)
        .expect("a signed follow decodes");
    assert!(follow.line_trusted);
    assert_eq!(follow.key.id, format!("line:{user}"));
    let forged = String::from_utf8(read[0].data.clone())
        .unwrap()
        .replace(user, "Uffffffffffffffffffffffffffffffff");
    let err = audience_core::decode_record(&raw(forged.into_bytes()), &rules.decode, clock)
        .expect_err("another LINE ID under the same signature is refused");
    assert_eq!(err.kind.reason(), "untrusted_line_event");
}
