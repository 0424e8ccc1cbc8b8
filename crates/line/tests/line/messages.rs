//! Push and multicast against the fake: a retry key accepted once (the same key again is 409
//! and delivers nothing), the monthly limit (429, not worth retrying), the quota endpoints,
//! and LINE's limits checked before sending.

use audience_line::fake::{user_ids, FakeLine, FakeOp};
use audience_line::{LineClient, MessageRequest};
use serde_json::json;

const KEY: &str = "0b7e2a4c-1f3d-8a5b-9c6d-0123456789ab";

#[tokio::test]
async fn a_retry_key_is_accepted_once_and_the_message_is_not_delivered_twice() {
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    let messages = vec![json!({"type": "text", "text": "hello"})];
    let request = MessageRequest {
        messages: &messages,
        notification_disabled: false,
        aggregation_unit: Some("welcome"),
        retry_key: KEY,
    };
    let ids = user_ids(1, 3);
    client.multicast(&ids, &request).await.unwrap();
    let again = client.multicast(&ids, &request).await.unwrap_err();
    assert!(again.is_retry_key_accepted(), "{again}");
    assert!(!again.is_retryable());
    assert_eq!(fake.delivered().len(), 3);
    for id in &ids {
        assert_eq!(fake.delivered_to(id), 1);
    }
    // Another key is another request.
    let other = MessageRequest {
        retry_key: "0b7e2a4c-1f3d-8a5b-9c6d-0123456789ac",
        ..request.clone()
    };
    client.push(&ids[0], &other).await.unwrap();
    assert_eq!(fake.delivered_to(&ids[0]), 2);
    let statuses: Vec<u16> = fake
        .requests_for(FakeOp::Multicast)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![200, 409]);
}

#[tokio::test]
async fn the_monthly_limit_refuses_a_send_and_the_quota_reads_it() {
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    assert_eq!(client.quota().await.unwrap().limit(), None);
    fake.set_message_limit(Some(5));
    fake.set_message_usage(4);
    assert_eq!(client.quota().await.unwrap().limit(), Some(5));
    assert_eq!(client.quota_consumption().await.unwrap().total_usage, 4);
    let messages = vec![json!({"type": "text", "text": "hello"})];
    let request = MessageRequest {
        messages: &messages,
        notification_disabled: false,
        aggregation_unit: None,
        retry_key: KEY,
    };
    let e = client
        .multicast(&user_ids(1, 2), &request)
        .await
        .unwrap_err();
    assert!(e.is_monthly_limit_reached(), "{e}");
    assert!(!e.is_retryable(), "a monthly limit is not worth retrying");
    assert!(fake.delivered().is_empty());
    // The refused key was not accepted: the same request fits once there is room.
    fake.set_message_limit(Some(10));
    client.multicast(&user_ids(1, 2), &request).await.unwrap();
    assert_eq!(fake.message_usage(), 6);
}

#[tokio::test]
async fn limits_are_checked_before_sending() {
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    let one = vec![json!({"type": "text", "text": "x"})];
    let six = vec![one[0].clone(); 6];
    let ok = MessageRequest {
        messages: &one,
        notification_disabled: false,
        aggregation_unit: None,
        retry_key: KEY,
    };
    let too_many_messages = MessageRequest {
        messages: &six,
        ..ok.clone()
    };
    let bad_key = MessageRequest {
        retry_key: "not-a-uuid",
        ..ok.clone()
    };
    assert!(client
        .push(&user_ids(1, 1)[0], &too_many_messages)
        .await
        .is_err());
    assert!(client.push(&user_ids(1, 1)[0], &bad_key).await.is_err());
    assert!(client.multicast(&user_ids(1, 501), &ok).await.is_err());
    assert!(client.multicast(&[], &ok).await.is_err());
    assert!(fake.requests().is_empty(), "nothing reached LINE");
}
