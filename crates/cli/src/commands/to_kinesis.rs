//! `replay --to-kinesis STREAM`: send the input's events into a real Kinesis stream with
//! PutRecords (≤ 500 records and 5 MiB a call, re-sending only the entries a call reports as
//! failed), partition key = the event's user key, optionally rate-limited.
//!
//! Each record carries one event's JSON, exactly as Pinpoint writes it, so the consumer reads
//! replayed records like live ones. Records that cannot be decoded are not sent: they are set
//! aside and reported, as the consumer would.

use anyhow::{Context, Result};
use audience_core::{DecodeError, DecodedEvent, Payload, RawRecord};
use audience_kinesis::{KinesisSender, OutRecord, SenderOptions};
use base64::Engine;
use indicatif::{ProgressBar, ProgressDrawTarget};
use serde::Serialize;
use std::collections::BTreeMap;

/// What was sent.
#[derive(Debug, Serialize)]
pub struct SendSummary {
    /// The stream.
    pub stream: String,
    /// Records read.
    pub records: u64,
    /// Records accepted by Kinesis.
    pub sent: u64,
    /// Records re-sent after a partial failure.
    pub retried: u64,
    /// Records Kinesis never accepted.
    pub failed: u64,
    /// PutRecords calls.
    pub calls: u64,
    /// Records not sent because they cannot be decoded.
    pub set_aside: u64,
    /// Reason → count.
    pub set_aside_reasons: BTreeMap<String, u64>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

fn event_bytes(raw: &RawRecord) -> Option<Vec<u8>> {
    match &raw.payload {
        Payload::Json(b) => Some(b.clone()),
        Payload::Base64(s) => base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .ok(),
    }
}

/// Sends records to a stream a chunk at a time, adding up what happened.
pub struct Sender {
    stream: String,
    sender: KinesisSender,
    summary: SendSummary,
    progress: ProgressBar,
    started: std::time::Instant,
}

impl Sender {
    /// A sender to `stream` (endpoint and credentials from the AWS SDK's configuration).
    pub async fn new(stream: &str, rate: Option<u32>) -> Sender {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let sender = KinesisSender::new(
            aws_sdk_kinesis::Client::new(&config),
            stream,
            SenderOptions {
                rate_per_sec: rate,
                retry: audience_retry::RetryPolicy {
                    max_retries: 7,
                    first_wait: std::time::Duration::from_millis(200),
                    cap: std::time::Duration::from_secs(10),
                    jitter: true,
                },
            },
        );
        Sender {
            stream: stream.to_string(),
            sender,
            summary: SendSummary {
                stream: stream.to_string(),
                records: 0,
                sent: 0,
                retried: 0,
                failed: 0,
                calls: 0,
                set_aside: 0,
                set_aside_reasons: BTreeMap::new(),
                seconds: 0.0,
            },
            progress: ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            started: std::time::Instant::now(),
        }
    }

    /// Sends the decoded records of a chunk (and counts the others).
    pub async fn send(
        &mut self,
        raws: &[RawRecord],
        decoded: &[Result<DecodedEvent, DecodeError>],
    ) -> Result<()> {
        let mut out = Vec::with_capacity(raws.len());
        let reasons = &mut self.summary.set_aside_reasons;
        for (raw, d) in raws.iter().zip(decoded) {
            match (d, event_bytes(raw)) {
                (Ok(ev), Some(bytes)) => out.push(OutRecord::new(ev.key.id.clone(), bytes)),
                (Err(e), _) => *reasons.entry(e.kind.reason().to_string()).or_default() += 1,
                (Ok(_), None) => *reasons.entry("not_base64".to_string()).or_default() += 1,
            }
        }
        self.summary.records += raws.len() as u64;
        let progress = &self.progress;
        let report = self
            .sender
            .send(out, |n| progress.inc(n))
            .await
            .with_context(|| format!("sending to Kinesis stream {}", self.stream))?;
        self.summary.sent += report.sent;
        self.summary.retried += report.retried;
        self.summary.failed += report.failed.len() as u64;
        self.summary.calls += report.calls;
        Ok(())
    }

    /// The totals.
    pub fn finish(mut self) -> SendSummary {
        self.progress.finish_and_clear();
        self.summary.set_aside = self.summary.set_aside_reasons.values().sum();
        self.summary.seconds = self.started.elapsed().as_secs_f64();
        self.summary
    }
}
