//! Test helpers: the shared moto harness (crates/testkit), and quick retry/poll policies.

use std::time::Duration;

use audience_pinpoint::{PinpointImporter, PollPolicy};
use audience_retry::RetryPolicy;

pub use audience_testkit::{sdk_config, Moto};

/// Retries fast enough for tests.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 4,
        first_wait: Duration::from_millis(5),
        cap: Duration::from_millis(40),
        jitter: true,
    }
}

/// Polls fast enough for tests.
pub fn quick_poll() -> PollPolicy {
    PollPolicy {
        first_wait: Duration::from_millis(5),
        cap: Duration::from_millis(40),
        max_total: Duration::from_secs(20),
    }
}

/// An importer talking to `endpoint` with quick retries.
pub async fn importer(endpoint: &str) -> PinpointImporter {
    PinpointImporter::new(&sdk_config(endpoint).await).with_retry_policy(quick_retry())
}

/// A path-style S3 client against moto with `bucket` created.
pub async fn s3_with_bucket(moto: &Moto, bucket: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&sdk_config(&moto.url).await)
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create bucket in moto");
    client
}

/// The object's bytes.
pub async fn read_object(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get object from moto")
        .body
        .collect()
        .await
        .expect("read object body")
        .into_bytes()
        .to_vec()
}
