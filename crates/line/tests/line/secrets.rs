//! Secret hygiene: tokens and channel secrets never appear in Debug output or error text.

use audience_line::fake::{FakeLine, FAKE_CHANNEL_ID};
use audience_line::{Credentials, LineClient, LineConfig, Secret};

const TOKEN: &str = "tok-SUPERSECRET-7f3a9";
const CHANNEL_SECRET: &str = "chs-SUPERSECRET-0b1c2";

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains("SUPERSECRET"),
        "{what} leaks a secret: {text}"
    );
}

#[tokio::test]
async fn secrets_never_printed() {
    let fake = FakeLine::start().await;

    let long = fake.config(Credentials::LongLived(Secret::new(TOKEN)));
    assert_clean("config Debug", &format!("{long:?}"));
    let client = LineClient::new(long).unwrap();
    assert_clean("client Debug", &format!("{client:?}"));
    // The fake does not know this token: a 401 error must not echo it.
    let err = client.get_audience(1).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_clean("401 Display", &err.to_string());
    assert_clean("401 Debug", &format!("{err:?}"));

    let issued = fake.config(Credentials::ClientCredentials {
        channel_id: FAKE_CHANNEL_ID.into(),
        channel_secret: Secret::new(CHANNEL_SECRET),
    });
    assert_clean("issued config Debug", &format!("{issued:?}"));
    let client = LineClient::new(issued).unwrap();
    let err = client.get_audience(1).await.unwrap_err();
    assert_clean("token error Display", &err.to_string());
    assert_clean("token error Debug", &format!("{err:?}"));
    assert_clean(
        "token provider Debug",
        &format!("{:?}", client.token_provider()),
    );

    // Load-time errors name the variable, not the value.
    let lookup = |k: &str| match k {
        "LINE_CHANNEL_ACCESS_TOKEN" => Some(format!("{TOKEN} with space")),
        _ => None,
    };
    let err = LineConfig::from_lookup(lookup).unwrap_err();
    assert_clean("config error", &err.to_string());
    assert!(err.to_string().contains("LINE_CHANNEL_ACCESS_TOKEN"));
}
