//! Token caching against the fake: one issuance serves many requests, a refresh happens
//! only near expiry (on a manual clock), a revoked token is replaced after the 401.

use std::sync::Arc;
use std::time::Duration;

use audience_line::fake::FakeLine;
use audience_line::{LineClient, LineError, ListAudiences, ManualClock};

#[tokio::test]
async fn long_lived_token_never_issues() {
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    for _ in 0..3 {
        client
            .list_audiences(&ListAudiences::default())
            .await
            .unwrap();
    }
    assert_eq!(fake.tokens_issued(), 0);
}

#[tokio::test]
async fn short_lived_token_is_cached_and_refreshed_near_expiry() {
    let fake = FakeLine::start().await;
    let clock = ManualClock::new(audience_clock::now());
    let client =
        LineClient::with_clock(fake.config_client_credentials(), Arc::new(clock.clone())).unwrap();
    for _ in 0..5 {
        client
            .list_audiences(&ListAudiences::default())
            .await
            .unwrap();
    }
    assert_eq!(fake.tokens_issued(), 1, "one token for many requests");

    // 30-day token, 1-day margin: still reused after 28 days...
    clock.advance(Duration::from_secs(28 * 86_400));
    client
        .list_audiences(&ListAudiences::default())
        .await
        .unwrap();
    assert_eq!(fake.tokens_issued(), 1);
    // ...refreshed once inside the last day, then reused again.
    clock.advance(Duration::from_secs(86_400 + 1));
    for _ in 0..3 {
        client
            .list_audiences(&ListAudiences::default())
            .await
            .unwrap();
    }
    assert_eq!(fake.tokens_issued(), 2);
    assert_eq!(client.token_provider().issued_count(), 2);
}

#[tokio::test]
async fn concurrent_requests_share_one_issuance() {
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_client_credentials()).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            c.list_audiences(&ListAudiences::default()).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(fake.tokens_issued(), 1);
}

#[tokio::test]
async fn stateless_token_is_reused_for_half_its_life() {
    let fake = FakeLine::start().await;
    let clock = ManualClock::new(audience_clock::now());
    let client = LineClient::with_clock(fake.config_stateless(), Arc::new(clock.clone())).unwrap();
    client
        .list_audiences(&ListAudiences::default())
        .await
        .unwrap();
    clock.advance(Duration::from_secs(400));
    client
        .list_audiences(&ListAudiences::default())
        .await
        .unwrap();
    assert_eq!(fake.tokens_issued(), 1);
    clock.advance(Duration::from_secs(60));
    client
        .list_audiences(&ListAudiences::default())
        .await
        .unwrap();
    assert_eq!(fake.tokens_issued(), 2);
}

#[tokio::test]
async fn revoked_token_answers_401_then_a_new_one_is_issued() {
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_client_credentials()).unwrap();
    client
        .list_audiences(&ListAudiences::default())
        .await
        .unwrap();
    fake.revoke_issued_tokens();
    let err = client
        .list_audiences(&ListAudiences::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    client
        .list_audiences(&ListAudiences::default())
        .await
        .unwrap();
    assert_eq!(fake.tokens_issued(), 2);
}

#[tokio::test]
async fn wrong_channel_secret_is_a_permanent_token_error() {
    let fake = FakeLine::start().await;
    let mut config = fake.config_client_credentials();
    config.credentials = audience_line::Credentials::ClientCredentials {
        channel_id: audience_line::fake::FAKE_CHANNEL_ID.into(),
        channel_secret: "not-the-secret".into(),
    };
    let client = LineClient::new(config).unwrap();
    let err = client.get_audience(1).await.unwrap_err();
    assert!(
        matches!(
            err,
            LineError::Token {
                status: Some(400),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("invalid_client"), "{err}");
    assert!(!err.is_retryable());

    fake.fail_next(audience_line::fake::FakeOp::IssueToken, 503, 1);
    let client = LineClient::new(fake.config_client_credentials()).unwrap();
    let err = client.get_audience(1).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}
