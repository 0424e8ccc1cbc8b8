//! The attribute loader: user-attribute files (JSON Lines rows such as
//! `{"id": "123", "pref": "兵庫県"}`) dropped in the attributes bucket are read when S3
//! announces them and put onto the Kinesis stream as `_import.attributes` events, so the
//! consumer applies them exactly as `audience-stream replay` does locally — same row mapping
//! ([`audience_core::formats::attributes`]), same decoding, same segments.
//!
//! - **Streamed.** An object is read a line at a time and sent 500 records at a time: memory is
//!   bounded by one PutRecords batch whatever the file's size.
//! - **Redelivery-safe.** Every event is stamped with the S3 notification's `eventTime`, so a
//!   notification delivered twice (or an invocation retried after a Kinesis failure) sends the
//!   same bytes again, which the consumer counts once.
//! - **Bad rows are named, not fatal.** A line that is not a JSON object, or a row without a user
//!   ID, is logged with `s3://bucket/key:line` and the reason (never its content) and counted;
//!   the rest of the file goes on. A Kinesis failure after the sender's retries fails the
//!   invocation, and Lambda's retry sends the object again.
//! - **Configured at cold start.** Columns come from `AUDIENCE_STREAM_ATTRIBUTES_ID_COLUMN`
//!   (default `id`), `..._ID_KIND` (`user` or `line`), `..._LINE_USER_ID_COLUMN` (default the
//!   rules' `settings.line_user_id_attribute`) and `..._ENDPOINT_ID_COLUMN` (default
//!   `endpointId`), validated before the first event.

use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use audience_collector::partition::key_for;
use audience_core::formats::attributes::{parse_row, row_event, row_user_id, IdKind, RowMapping};
use audience_core::Millis;
use audience_kinesis::{EventSink, OutRecord};
use aws_lambda_events::event::s3::S3Event;
use serde::Serialize;
use tokio::io::AsyncBufReadExt;

/// Records per PutRecords call (Kinesis' limit).
const CHUNK: usize = 500;

/// The row mapping from the environment, for rules whose LINE user ID attribute is `line_attr`.
pub fn mapping_from_env(line_attr: &str) -> Result<RowMapping> {
    let var = |name: &str| {
        std::env::var(format!("AUDIENCE_STREAM_ATTRIBUTES_{name}"))
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let mut mapping = RowMapping::new(line_attr);
    if let Some(c) = var("ID_COLUMN") {
        mapping.id_column = c;
    }
    if let Some(kind) = var("ID_KIND") {
        mapping.id_kind = kind
            .parse::<IdKind>()
            .map_err(|m| anyhow!("AUDIENCE_STREAM_ATTRIBUTES_ID_KIND: {m}"))?;
    }
    if let Some(c) = var("LINE_USER_ID_COLUMN") {
        mapping.line_user_id_column = c;
    }
    if let Some(c) = var("ENDPOINT_ID_COLUMN") {
        mapping.endpoint_id_column = c;
    }
    if mapping.id_column == mapping.endpoint_id_column {
        return Err(anyhow!(
            "the ID column and the endpoint ID column are both `{}`",
            mapping.id_column
        ));
    }
    Ok(mapping)
}

/// What loading one object did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObjectReport {
    /// `s3://bucket/key`.
    pub object: String,
    /// Non-blank lines read.
    pub rows: u64,
    /// Events put onto the stream.
    pub sent: u64,
    /// Lines set aside (not a JSON object, or no user ID); each was logged with its line.
    pub rejected: u64,
}

/// Reads announced objects and puts their rows onto the stream.
pub struct AttributeLoader {
    s3: aws_sdk_s3::Client,
    sink: Arc<dyn EventSink>,
    mapping: RowMapping,
}

impl AttributeLoader {
    /// A loader reading with `s3`, writing to `sink`, mapping rows with `mapping`.
    pub fn new(
        s3: aws_sdk_s3::Client,
        sink: Arc<dyn EventSink>,
        mapping: RowMapping,
    ) -> AttributeLoader {
        AttributeLoader { s3, sink, mapping }
    }

    /// Loads every object of an S3 notification; the first object that cannot be read or
    /// sent fails the invocation (Lambda retries it; objects already sent are sent again
    /// with the same bytes).
    pub async fn handle(&self, event: &S3Event) -> Result<Vec<ObjectReport>> {
        let mut reports = Vec::new();
        for (i, record) in event.records.iter().enumerate() {
            let bucket = record
                .s3
                .bucket
                .name
                .as_deref()
                .ok_or_else(|| anyhow!("notification record {i} names no bucket"))?;
            let raw_key = record
                .s3
                .object
                .key
                .as_deref()
                .ok_or_else(|| anyhow!("notification record {i} names no object key"))?;
            let key = object_key(raw_key)
                .with_context(|| format!("notification record {i}: object key {raw_key:?}"))?;
            let at = record.event_time.timestamp_millis();
            let report = self.load_object(bucket, &key, at).await?;
            tracing::info!(
                object = %report.object,
                rows = report.rows,
                sent = report.sent,
                rejected = report.rejected,
                "attribute file loaded"
            );
            reports.push(report);
        }
        Ok(reports)
    }

    /// Streams one object's rows onto the stream as events at time `at`.
    pub async fn load_object(&self, bucket: &str, key: &str, at: Millis) -> Result<ObjectReport> {
        let object = format!("s3://{bucket}/{key}");
        let out = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "cannot read {object}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(e)
                )
            })?;
        let mut lines = tokio::io::BufReader::new(out.body.into_async_read()).split(b'\n');
        let mut report = ObjectReport {
            object: object.clone(),
            ..ObjectReport::default()
        };
        let mut chunk: Vec<OutRecord> = Vec::with_capacity(CHUNK);
        let mut line_no = 0u64;
        while let Some(mut line) = lines
            .next_segment()
            .await
            .with_context(|| format!("cannot read {object} after line {line_no}"))?
        {
            line_no += 1;
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            report.rows += 1;
            let row = match parse_row(&line) {
                Ok(row) => row,
                Err(reason) => {
                    reject(&mut report, line_no, &reason);
                    continue;
                }
            };
            let Some(user) = row_user_id(&row, &self.mapping) else {
                let reason = format!("no user ID in column `{}`", self.mapping.id_column);
                reject(&mut report, line_no, &reason);
                continue;
            };
            let bytes = row_event(row, at, &self.mapping);
            chunk.push(OutRecord::new(key_for(Some(&user), &bytes), bytes));
            if chunk.len() == CHUNK {
                self.send(&object, line_no, &mut chunk, &mut report).await?;
            }
        }
        self.send(&object, line_no, &mut chunk, &mut report).await?;
        Ok(report)
    }

    async fn send(
        &self,
        object: &str,
        line_no: u64,
        chunk: &mut Vec<OutRecord>,
        report: &mut ObjectReport,
    ) -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let n = chunk.len() as u64;
        self.sink.put(std::mem::take(chunk)).await.map_err(|e| {
            anyhow!("{object}: rows up to line {line_no} were not all accepted by Kinesis: {e}")
        })?;
        report.sent += n;
        Ok(())
    }
}

fn reject(report: &mut ObjectReport, line: u64, reason: &str) {
    report.rejected += 1;
    tracing::warn!(object = %report.object, line, reason, "attribute row set aside");
}

/// An S3 notification's object key, which is URL-encoded with `+` for a space.
pub fn object_key(raw: &str) -> Result<String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|e| anyhow!("not UTF-8 once decoded: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_keys_are_url_decoded() {
        assert_eq!(
            object_key("exports/2026+12/%E5%85%B5%E5%BA%AB.jsonl").unwrap(),
            "exports/2026 12/兵庫.jsonl"
        );
        assert!(object_key("%FF").is_err());
    }
}
