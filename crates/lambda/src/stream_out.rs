//! The Kinesis sender of the functions that answer HTTP requests (the LINE webhook, the
//! collector): the stream from `AUDIENCE_STREAM_KINESIS_STREAM`, and a brief retry, because the
//! caller is waiting — after it the function answers 5xx and the caller sends again.

use audience_kinesis::{KinesisSender, SenderOptions};
use audience_retry::RetryPolicy;
use std::time::Duration;

/// The environment variable naming the stream (name or ARN).
pub const STREAM_VAR: &str = "AUDIENCE_STREAM_KINESIS_STREAM";

/// A sender to the configured stream with a retry that fits within an HTTP answer.
pub fn request_path_sender(aws: &aws_config::SdkConfig) -> Result<KinesisSender, String> {
    let stream = std::env::var(STREAM_VAR).map_err(|_| format!("{STREAM_VAR} is not set"))?;
    let retry = RetryPolicy {
        max_retries: 3,
        first_wait: Duration::from_millis(100),
        cap: Duration::from_secs(1),
        jitter: true,
    };
    Ok(KinesisSender::new(
        aws_sdk_kinesis::Client::new(aws),
        stream,
        SenderOptions {
            rate_per_sec: None,
            retry,
        },
    ))
}
