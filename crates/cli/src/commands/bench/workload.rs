//! The bench workload: events from the `audience-gen` generator (Zipf user activity) as
//! Kinesis-like records in event-time order, and the three slices a run replays: the first
//! (measured on an empty table), the warm-up (not measured) and the steady slice (the last).

use anyhow::{bail, Result};
use audience_core::{Millis, Payload, RawRecord, RecordId};
use audience_gen::{generate_events, GenOptions};
use serde_json::Value;

/// Newest event time of the workload: 2025-12-01T00:00:00Z (the fixtures' end).
const END_MS: Millis = 1_764_547_200_000;
/// The shard every record comes from.
const SHARD: &str = "shardId-000000000000";

/// What to generate and how to slice it.
#[derive(Debug, Clone)]
pub struct WorkloadSpec {
    pub seed: u64,
    pub users: usize,
    pub events: usize,
    pub days: u32,
    pub phase_events: usize,
}

/// One record and its event time (the batch is evaluated at its newest event time, as a
/// consumer keeping up with the stream would).
#[derive(Debug, Clone)]
pub struct Record {
    pub raw: RawRecord,
    pub at: Millis,
}

/// The generated records and where the slices are.
#[derive(Debug)]
pub struct Workload {
    records: Vec<Record>,
    phase_events: usize,
}

impl Workload {
    /// Generates the workload (deterministic for a spec).
    pub fn generate(spec: &WorkloadSpec) -> Result<Workload> {
        let opts = GenOptions {
            seed: spec.seed,
            users: spec.users,
            events: spec.events,
            end_ms: END_MS,
            days: spec.days,
            shards: 1,
        };
        let records: Vec<Record> = generate_events(&opts)
            .iter()
            .enumerate()
            .map(|(i, e)| to_record(i, e))
            .collect();
        if records.len() < spec.phase_events.saturating_mul(2) {
            bail!(
                "the generator made {} events, fewer than two slices of {}",
                records.len(),
                spec.phase_events
            );
        }
        Ok(Workload {
            records,
            phase_events: spec.phase_events,
        })
    }

    /// All records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// The first slice.
    pub fn first(&self) -> &[Record] {
        &self.records[..self.phase_events]
    }

    /// Between the first and the steady slice.
    pub fn warm_up(&self) -> &[Record] {
        &self.records[self.phase_events..self.records.len() - self.phase_events]
    }

    /// The last slice.
    pub fn steady(&self) -> &[Record] {
        &self.records[self.records.len() - self.phase_events..]
    }
}

fn to_record(i: usize, event: &Value) -> Record {
    let at = event
        .get("event_timestamp")
        .and_then(Value::as_i64)
        .unwrap_or(END_MS);
    Record {
        raw: RawRecord {
            id: RecordId::new(SHARD, format!("{i:020}")),
            payload: Payload::Json(event.to_string().into_bytes()),
            arrival_ms: event.get("arrival_timestamp").and_then(Value::as_i64),
        },
        at,
    }
}

/// The newest event time of a batch.
pub fn newest(batch: &[Record]) -> Millis {
    batch.iter().map(|r| r.at).max().unwrap_or(END_MS)
}
