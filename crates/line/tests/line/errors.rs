//! Error classification against the fake: LINE's error body and request ID reach the
//! caller, 429/5xx/timeouts/transport are retryable, other 4xx are not; and the fake itself
//! rejects what LINE rejects (retry key, wrong media type, wrong base URL).

use std::time::Duration;

use audience_line::fake::{user_ids, FakeOp, Fault, FAKE_LONG_LIVED_TOKEN};
use audience_line::{LineClient, LineError, ListAudiences};

use crate::util::fake_and_client;

#[tokio::test]
async fn missing_audience_400_carries_message_details_and_request_id() {
    let (fake, client) = fake_and_client().await;
    let err = client
        .add_to_upload_audience(5_000_000_999_999, &user_ids(1, 2), None)
        .await
        .unwrap_err();
    let logged = fake.requests_for(FakeOp::Add);
    match &err {
        LineError::Api {
            op,
            status,
            message,
            details,
            request_id,
            ..
        } => {
            assert_eq!(*op, "add_to_upload_audience");
            assert_eq!(*status, 400);
            assert_eq!(message, "audience group not found");
            assert_eq!(
                details[0].message.as_deref(),
                Some("AUDIENCE_GROUP_NOT_FOUND")
            );
            assert_eq!(request_id.as_deref(), Some(logged[0].request_id.as_str()));
        }
        other => panic!("expected Api error, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(!err.outcome_unknown());
    let text = err.to_string();
    assert!(text.contains("AUDIENCE_GROUP_NOT_FOUND") && text.contains(&logged[0].request_id));
}

#[tokio::test]
async fn injected_429_and_500_are_retryable_400_is_not() {
    let (fake, client) = fake_and_client().await;
    let id = client
        .create_upload_audience("seg:faults", false, None, &[])
        .await
        .unwrap()
        .audience_group_id;

    fake.inject(
        FakeOp::Add,
        Fault {
            retry_after: Some(7),
            ..Fault::status(429, 1)
        },
    );
    fake.fail_next(FakeOp::Add, 500, 1);
    fake.fail_next(FakeOp::Add, 400, 1);

    let e429 = client
        .add_to_upload_audience(id, &user_ids(1, 5), None)
        .await
        .unwrap_err();
    assert_eq!(e429.status(), Some(429));
    assert!(e429.is_retryable());
    assert_eq!(e429.retry_after(), Some(Duration::from_secs(7)));

    let e500 = client
        .add_to_upload_audience(id, &user_ids(1, 5), None)
        .await
        .unwrap_err();
    assert_eq!(e500.status(), Some(500));
    assert!(e500.is_retryable());
    assert!(e500.outcome_unknown());

    let e400 = client
        .add_to_upload_audience(id, &user_ids(1, 5), None)
        .await
        .unwrap_err();
    assert_eq!(e400.status(), Some(400));
    assert!(!e400.is_retryable());

    // Faults are used up; injected failures had no effect on the audience.
    assert!(fake.members(id).unwrap().is_empty());
    client
        .add_to_upload_audience(id, &user_ids(1, 5), None)
        .await
        .unwrap();
    assert_eq!(fake.members(id).unwrap().len(), 5);
}

#[tokio::test]
async fn timeout_is_retryable_and_the_create_may_have_happened() {
    let (fake, _) = fake_and_client().await;
    let mut config = fake.config_long_lived();
    config.timeout = Duration::from_millis(300);
    let client = LineClient::new(config).unwrap();
    fake.inject(
        FakeOp::Create,
        Fault {
            status: None,
            times: 1,
            retry_after: None,
            after_apply: true,
            delay: Some(Duration::from_millis(1500)),
        },
    );
    let err = client
        .create_upload_audience("seg:lost", false, None, &user_ids(1, 3))
        .await
        .unwrap_err();
    assert!(matches!(err, LineError::Timeout { .. }), "{err:?}");
    assert!(err.is_retryable() && err.outcome_unknown());
    // The fake carried it out: reconcile by description instead of creating again.
    let page = client
        .list_audiences(&ListAudiences::own_by_description("seg:lost"))
        .await
        .unwrap();
    assert_eq!(page.audience_groups.len(), 1);
}

#[tokio::test]
async fn transport_error_is_retryable() {
    let (fake, _) = fake_and_client().await;
    let mut config = fake.config_long_lived();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    config.api_base = format!("http://127.0.0.1:{port}").parse().unwrap();
    let client = LineClient::new(config).unwrap();
    let err = client.get_audience(1).await.unwrap_err();
    assert!(matches!(err, LineError::Transport { .. }), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn fake_rejects_retry_key_wrong_media_type_and_wrong_base() {
    let (fake, client) = fake_and_client().await;
    let id = client
        .create_upload_audience("seg:raw", false, None, &[])
        .await
        .unwrap()
        .audience_group_id;
    let http = reqwest::Client::new();
    let bearer = format!("Bearer {FAKE_LONG_LIVED_TOKEN}");

    let r = http
        .put(format!("{}v2/bot/audienceGroup/upload", fake.api_base()))
        .header("authorization", &bearer)
        .header("x-line-retry-key", "123e4567-e89b-12d3-a456-426614174000")
        .json(&serde_json::json!({"audienceGroupId": id, "audiences": [{"id": user_ids(1,1)[0]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.headers().contains_key("x-line-request-id"));

    let part = reqwest::multipart::Part::bytes(user_ids(1, 1)[0].clone().into_bytes())
        .file_name("ids.txt")
        .mime_str("application/octet-stream")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("audienceGroupId", id.to_string())
        .part("file", part);
    let r = http
        .put(format!(
            "{}v2/bot/audienceGroup/upload/byFile",
            fake.data_base()
        ))
        .header("authorization", &bearer)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);

    // By-file on the api base (wrong host) does not exist.
    let r = http
        .put(format!(
            "{}v2/bot/audienceGroup/upload/byFile",
            fake.api_base()
        ))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // No token, wrong token.
    let r = http
        .get(format!("{}v2/bot/audienceGroup/{id}", fake.api_base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // Malformed user IDs are rejected with LINE's code.
    let err = client
        .add_to_upload_audience(id, &["user-1".to_string()], None)
        .await
        .unwrap_err();
    assert!(
        err.has_code("UPLOAD_AUDIENCE_GROUP_INVALID_AUDIENCE_ID_FORMAT"),
        "{err}"
    );
}
