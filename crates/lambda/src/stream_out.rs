//! The Kinesis sender of the functions that write to the stream: the stream from
//! `AUDIENCE_STREAM_KINESIS_STREAM`. The functions that answer HTTP requests (the LINE webhook,
//! the collector) retry briefly, because the caller is waiting — after it the function answers
//! 5xx and the caller sends again; the attribute loader, which nobody waits for, retries longer
//! before failing its invocation.

use audience_kinesis::{KinesisSender, SenderOptions};
use audience_retry::RetryPolicy;
use std::time::Duration;

/// The environment variable naming the stream (name or ARN).
pub const STREAM_VAR: &str = "AUDIENCE_STREAM_KINESIS_STREAM";

/// A sender to the configured stream with a retry that fits within an HTTP answer.
pub fn request_path_sender(aws: &aws_config::SdkConfig) -> Result<KinesisSender, String> {
    sender(
        aws,
        RetryPolicy {
            max_retries: 3,
            first_wait: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            jitter: true,
        },
    )
}

/// A sender to the configured stream for batch work: throttling is waited out for up to
/// about a minute before the invocation fails.
pub fn batch_sender(aws: &aws_config::SdkConfig) -> Result<KinesisSender, String> {
    sender(
        aws,
        RetryPolicy {
            max_retries: 10,
            first_wait: Duration::from_millis(200),
            cap: Duration::from_secs(10),
            jitter: true,
        },
    )
}

fn sender(aws: &aws_config::SdkConfig, retry: RetryPolicy) -> Result<KinesisSender, String> {
    let stream = std::env::var(STREAM_VAR).map_err(|_| format!("{STREAM_VAR} is not set"))?;
    Ok(KinesisSender::new(
        aws_sdk_kinesis::Client::new(aws),
        stream,
        SenderOptions {
            rate_per_sec: None,
            retry,
        },
    ))
}
