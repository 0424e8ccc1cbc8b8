//! Criterion benches of the core: decode (per record and per MB), apply (events/s),
//! decode+apply, and the parse-only bound (Base64 + `serde_json::Value`) in the same run.
//!
//! Input: fixtures/events.jsonl (realistic ~1.3 KB Pinpoint events) Base64-encoded as Kinesis
//! would deliver them. Run: `cargo bench -p audience-core --bench core`.

use audience_core::{
    apply, decode_record, Clock, DecodedEvent, Payload, RawRecord, RecordId, Rules, UserState,
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
            for r in &records {
                black_box(decode_record(r, &rules.decode, CLOCK).ok());
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
    g.bench_function(BenchmarkId::new("decode_and_apply", n), |b| {
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
        b.iter(|| {
            let evs: Vec<DecodedEvent> = records
                .iter()
                .filter_map(|r| decode_record(r, &rules.decode, CLOCK).ok())
                .collect();
            black_box(evs.len())
        })
    });
    g.bench_function(BenchmarkId::new("decode_group", n), |b| {
        b.iter(|| {
            let evs: Vec<DecodedEvent> = records
                .iter()
                .filter_map(|r| decode_record(r, &rules.decode, CLOCK).ok())
                .collect();
            black_box(group(evs).len())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("per_byte");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("decode", |b| {
        b.iter(|| {
            for r in &records {
                black_box(decode_record(r, &rules.decode, CLOCK).ok());
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
