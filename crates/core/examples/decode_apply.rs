//! Decode + group + apply of fixtures/events.jsonl, repeated, as the core bench's
//! `decode_and_apply` does it, for instruction counts under callgrind (repeatable on a loaded
//! machine, unlike wall time):
//!
//! ```text
//! cargo build --release -p audience-core --example decode_apply
//! valgrind --tool=callgrind --toggle-collect='*decode_group_apply*' \
//!     $CARGO_TARGET_DIR/release/examples/decode_apply 10
//! ```
//!
//! Instructions per event = the `Collected` total / (3,000 × passes). Only
//! `decode_group_apply` is counted (loading the fixtures and rules is not).

use audience_core::{
    apply_each, Clock, DecodedEvent, Decoder, Payload, RawRecord, RecordId, Rules, UserState,
};
use base64::Engine;
use std::collections::BTreeMap;
use std::hint::black_box;

/// As in the bench and the `audience-stream` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOW: i64 = 1_764_547_200_000;
const CLOCK: Clock = Clock {
    now: NOW,
    wall: NOW,
};

fn main() {
    let passes: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/");
    let text =
        std::fs::read_to_string(format!("{root}events.jsonl")).expect("fixtures/events.jsonl");
    let rules_text =
        std::fs::read_to_string(format!("{root}segments.yaml")).expect("fixtures/segments.yaml");
    let rules = Rules::load(&rules_text, "segments.yaml").expect("rules");
    let records: Vec<RawRecord> = text
        .lines()
        .enumerate()
        .map(|(i, l)| RawRecord {
            id: RecordId::new("shardId-000000000000", (i + 1).to_string()),
            payload: Payload::Base64(base64::engine::general_purpose::STANDARD.encode(l)),
            arrival_ms: None,
        })
        .collect();
    let mut users = 0;
    for _ in 0..passes {
        users += decode_group_apply(&records, &rules);
    }
    println!(
        "{} records × {passes} passes, {} user groups per pass",
        records.len(),
        users / passes.max(1)
    );
}

/// One pass: decode every record, group the events by user (indexes, in key order), apply
/// each user's events to a fresh state. Returns the number of users.
#[inline(never)]
fn decode_group_apply(records: &[RawRecord], rules: &Rules) -> usize {
    let mut decoder = Decoder::new(&rules.decode, CLOCK);
    let events: Vec<DecodedEvent> = records
        .iter()
        .filter_map(|r| decoder.decode(r).ok())
        .collect();
    let mut by_user: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        by_user.entry(e.key.id.as_str()).or_default().push(i);
    }
    for (user, indexes) in &by_user {
        black_box(apply_each(
            &UserState::new(*user),
            indexes.iter().map(|&i| &events[i]),
            rules,
            NOW,
        ));
    }
    by_user.len()
}
