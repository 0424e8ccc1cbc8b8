//! Record identity and the envelopes records arrive in.
//!
//! A record is named by its shard and sequence number (Kinesis) or by its file and line
//! (JSON Lines replay). Sequence numbers are decimal strings of up to 56 digits; they are
//! compared as big integers without parsing them into a fixed-width type.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// Where a record came from: shard (or file) and sequence number (or line).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordId {
    /// Kinesis shard ID (`shardId-000000000000`) or `file:<name>` for JSON Lines.
    pub shard: String,
    /// Kinesis sequence number, or the line number for JSON Lines.
    pub seq: String,
}

impl RecordId {
    /// A record ID from a shard and sequence number.
    pub fn new(shard: impl Into<String>, seq: impl Into<String>) -> Self {
        RecordId {
            shard: shard.into(),
            seq: seq.into(),
        }
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.shard, self.seq)
    }
}

impl Ord for RecordId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.shard
            .cmp(&other.shard)
            .then_with(|| compare_seq(&self.seq, &other.seq))
    }
}

impl PartialOrd for RecordId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares two decimal sequence numbers as unbounded integers.
///
/// Leading zeros are ignored; non-digit strings (never produced by Kinesis) fall back to a
/// plain string comparison after the length check, which is still a total order.
pub fn compare_seq(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A record before decoding: its identity and its payload.
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// Where the record came from.
    pub id: RecordId,
    /// The payload as received.
    pub payload: Payload,
    /// Kinesis `approximateArrivalTimestamp` in epoch ms, when known.
    pub arrival_ms: Option<i64>,
}

/// A record's payload: Base64 text (Kinesis `data`) or JSON bytes (JSON Lines).
#[derive(Debug, Clone)]
pub enum Payload {
    /// Standard-alphabet Base64 of one JSON event, as in a Kinesis record's `data`.
    Base64(String),
    /// The JSON event bytes themselves.
    Json(Vec<u8>),
}

/// A decoded record's payload, kept compactly for as long as a dead letter may need it: the
/// JSON bytes (a Base64 payload decoded, 3/4 of its size) and whether it came as Base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptPayload {
    /// The JSON bytes of the event.
    pub bytes: Vec<u8>,
    /// The record's payload was Base64 (a Kinesis record's `data`).
    pub base64: bool,
}

impl KeptPayload {
    /// The payload as it came: Base64 is encoded again (the decoder accepts only canonical
    /// Base64, so this is the text received, less any surrounding whitespace).
    pub fn into_payload(self) -> Payload {
        if self.base64 {
            Payload::Base64(base64::engine::general_purpose::STANDARD.encode(&self.bytes))
        } else {
            Payload::Json(self.bytes)
        }
    }

    /// [`into_payload`](Self::into_payload) without consuming it.
    pub fn to_payload(&self) -> Payload {
        if self.base64 {
            Payload::Base64(base64::engine::general_purpose::STANDARD.encode(&self.bytes))
        } else {
            Payload::Json(self.bytes.clone())
        }
    }
}

/// The Lambda Kinesis event, with `data` kept as a string so that one record that is not
/// Base64 is set aside instead of failing the whole invocation (see aws-facts.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct KinesisEnvelope {
    /// The batch's records.
    #[serde(rename = "Records")]
    pub records: Vec<EnvelopeRecord>,
}

/// One record of a [`KinesisEnvelope`].
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EnvelopeRecord {
    /// The Kinesis part of the record.
    pub kinesis: EnvelopeKinesis,
    /// `shardId-…:<sequence number>`.
    #[serde(rename = "eventID", default)]
    pub event_id: Option<String>,
    /// The stream ARN.
    #[serde(rename = "eventSourceARN", default)]
    pub event_source_arn: Option<String>,
}

/// The `kinesis` object of an envelope record.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeKinesis {
    /// The partition key the producer chose.
    #[serde(default)]
    pub partition_key: String,
    /// The sequence number (decimal string).
    pub sequence_number: String,
    /// Base64 of the event.
    pub data: String,
    /// Arrival time in epoch seconds (fractional).
    #[serde(default)]
    pub approximate_arrival_timestamp: Option<f64>,
}

impl EnvelopeRecord {
    /// Converts this envelope record into a [`RawRecord`]; the shard comes from `eventID`.
    pub fn to_raw(&self) -> RawRecord {
        self.clone().into_raw()
    }

    /// Like [`to_raw`](Self::to_raw), moving the payload instead of copying it.
    pub fn into_raw(self) -> RawRecord {
        let shard = self
            .event_id
            .as_deref()
            .and_then(|id| id.split_once(':').map(|(shard, _)| shard.to_string()))
            .unwrap_or_else(|| "shardId-unknown".to_string());
        RawRecord {
            id: RecordId::new(shard, self.kinesis.sequence_number),
            payload: Payload::Base64(self.kinesis.data),
            arrival_ms: self
                .kinesis
                .approximate_arrival_timestamp
                .map(|s| (s * 1000.0).round() as i64),
        }
    }
}

impl KinesisEnvelope {
    /// All records as [`RawRecord`]s, in delivery order.
    pub fn to_raw(&self) -> Vec<RawRecord> {
        self.records.iter().map(EnvelopeRecord::to_raw).collect()
    }

    /// All records as [`RawRecord`]s, in delivery order, moving the payloads: the envelope's
    /// memory becomes the records' (a Lambda batch is not held twice).
    pub fn into_raw(self) -> Vec<RawRecord> {
        self.records
            .into_iter()
            .map(EnvelopeRecord::into_raw)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_as_integers() {
        assert_eq!(compare_seq("9", "10"), Ordering::Less);
        assert_eq!(compare_seq("0010", "10"), Ordering::Equal);
        assert_eq!(
            compare_seq(
                "49599259535682552348557865618060497301418154171654209538",
                "49599259535682552348557865618060497301418154171654209539"
            ),
            Ordering::Less
        );
    }

    #[test]
    fn envelope_record_takes_shard_from_event_id() {
        let json = r#"{"Records":[{"kinesis":{"partitionKey":"-1","sequenceNumber":"42","data":"e30=","approximateArrivalTimestamp":1567780307.056},"eventID":"shardId-000000000003:42"}]}"#;
        let env: KinesisEnvelope = serde_json::from_str(json).unwrap();
        let raw = env.to_raw();
        assert_eq!(raw[0].id, RecordId::new("shardId-000000000003", "42"));
        assert_eq!(raw[0].arrival_ms, Some(1_567_780_307_056));
    }
}
