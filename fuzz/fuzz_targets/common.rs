//! What the fuzz targets share: the fixed evaluation instant and how input bytes become
//! raw records.

use audience_core::{Clock, Millis, Payload, RawRecord, RecordId};

/// The fixed "now" of every target: one hour after the newest event of
/// fixtures/events.jsonl (2025-12-01T00:00:00Z), so the seed corpus decodes successfully.
pub const NOW: Millis = 1_764_550_800_000;

/// The clock every target decodes at.
pub fn clock() -> Clock {
    Clock::at(NOW)
}

/// A raw record with a fixed identity and the given payload.
pub fn record(seq: usize, payload: Payload) -> RawRecord {
    RawRecord {
        id: RecordId::new("shardId-fuzz", seq.to_string()),
        payload,
        arrival_ms: None,
    }
}
