//! Shared helpers: clients pointed at a fresh fake.

use audience_line::fake::FakeLine;
use audience_line::LineClient;

/// A fake and a client using its long-lived token.
pub async fn fake_and_client() -> (FakeLine, LineClient) {
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    (fake, client)
}
