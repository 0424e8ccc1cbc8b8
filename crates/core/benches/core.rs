//! Criterion benches of the core: decode (per record and per MB), apply (events/s),
//! decode+apply, and the parse-only bound (Base64 + `serde_json::Value`) in the same run.
//!
//! Input: fixtures/events.jsonl (realistic ~1.3 KB Pinpoint events) Base64-encoded as Kinesis
//! would deliver them. Run: `cargo bench -p audience-core --bench core`.

use audience_core::{
    apply, apply_each, decode_record, Clock, DecodedEvent, Decoder, Payload, RawRecord, RecordId,
    Rules, UserState,
};
use base64::Engine;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::collections::BTreeMap;
use std::hint::black_box;

/// The `audience-stream` binary runs on mimalloc; so does this bench (BENCHMARKS.md also has
/// figures with the system allocator).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOW: i64 = 1_764_547_200_000;
const CLOCK: Clock = Clock {
    now: NOW,
    wall: NOW,
};

fn inputs() -> (Vec<RawRecord>, Rules) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/");
    let text =
        std::fs::read_to_string(format!("{root}events.jsonl")).expect("fixtures/events.jsonl");
    let rules_text =
        std::fs::read_to_string(format!("{root}segments.yaml")).expect("fixtures/segments.yaml");
    let rules = Rules::load(&rules_text, "segments.yaml").expect("rules");
    let records = text
        .lines()
        .enumerate()
        .map(|(i, l)| RawRecord {
            id: RecordId::new("shardId-000000000000", (i + 1).to_string()),
            payload: Payload::Base64(base64::engine::general_purpose::STANDARD.encode(l)),
            arrival_ms: None,
        })
        .collect();
    (records, rules)
}

fn decoded_bytes(records: &[RawRecord]) -> u64 {
    records
        .iter()
        .map(|r| match &r.payload {
            Payload::Base64(s) => (s.len() / 4 * 3) as u64,
            Payload::Json(b) => b.len() as u64,
        })
        .sum()
}

fn group(events: Vec<DecodedEvent>) -> BTreeMap<String, Vec<DecodedEvent>> {
    let mut by_user: BTreeMap<String, Vec<DecodedEvent>> = BTreeMap::new();
    for e in events {
        by_user.entry(e.key.id.clone()).or_default().push(e);
    }
    by_user
}

/// Groups a decoded batch by user as the pipeline does: indexes into the batch, in key order
/// (the events stay where they are).
fn group_indexes(events: &[DecodedEvent]) -> BTreeMap<&str, Vec<usize>> {
    let mut by_user: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        by_user.entry(e.key.id.as_str()).or_default().push(i);
    }
    by_user
}

/// Decodes a batch with one [`Decoder`] (one reused Base64 buffer), as the pipeline does.
fn decode_batch(records: &[RawRecord], rules: &Rules) -> Vec<DecodedEvent> {
    let mut decoder = Decoder::new(&rules.decode, CLOCK);
    records
        .iter()
        .filter_map(|r| decoder.decode(r).ok())
        .collect()
}

fn benches(c: &mut Criterion) {
    let (records, rules) = inputs();
    let n = records.len() as u64;
    let bytes = decoded_bytes(&records);

    let mut g = c.benchmark_group("per_record");
    g.throughput(Throughput::Elements(n));
    g.bench_function(BenchmarkId::new("parse_only_baseline", n), |b| {
        b.iter(|| {
            for r in &records {
                if let Payload::Base64(s) = &r.payload {
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .expect("b64");
                    black_box(serde_json::from_slice::<serde_json::Value>(&raw).expect("json"));
                }
            }
        })
    });
    g.bench_function(BenchmarkId::new("decode", n), |b| {
        b.iter(|| {
            let mut decoder = Decoder::new(&rules.decode, CLOCK);
            for r in &records {
                black_box(decoder.decode(r).ok());
            }
        })
    });
    let decoded: Vec<DecodedEvent> = records
        .iter()
        .filter_map(|r| decode_record(r, &rules.decode, CLOCK).ok())
        .collect();
    let grouped = group(decoded.clone());
    g.bench_function(BenchmarkId::new("apply", n), |b| {
        b.iter(|| {
            for (user, evs) in &grouped {
                black_box(apply(&UserState::new(user.as_str()), evs, &rules, NOW));
            }
        })
    });
    // Decode + group + apply as the pipeline does it: one decoder, events grouped by index.
    g.bench_function(BenchmarkId::new("decode_and_apply", n), |b| {
        b.iter(|| {
            let evs = decode_batch(&records, &rules);
            for (user, indexes) in group_indexes(&evs) {
                black_box(apply_each(
                    &UserState::new(user),
                    indexes.iter().map(|&i| &evs[i]),
                    &rules,
                    NOW,
                ));
            }
        })
    });
    // The same the way it was done before (a fresh Base64 buffer per record, events moved
    // into per-user vectors under a copied key), for comparison in the same run.
    g.bench_function(BenchmarkId::new("decode_and_apply_moving", n), |b| {
        b.iter(|| {
            let evs: Vec<DecodedEvent> = records
                .iter()
                .filter_map(|r| decode_record(r, &rules.decode, CLOCK).ok())
                .collect();
            for (user, evs) in group(evs) {
                black_box(apply(&UserState::new(user.as_str()), &evs, &rules, NOW));
            }
        })
    });
    g.bench_function(BenchmarkId::new("decode_collect", n), |b| {
        b.iter(|| black_box(decode_batch(&records, &rules).len()))
    });
    g.bench_function(BenchmarkId::new("decode_group", n), |b| {
        b.iter(|| {
            let evs = decode_batch(&records, &rules);
            black_box(group_indexes(&evs).len())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("per_byte");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut decoder = Decoder::new(&rules.decode, CLOCK);
            for r in &records {
                black_box(decoder.decode(r).ok());
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = core;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(core);
