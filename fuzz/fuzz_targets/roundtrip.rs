//! Fuzz target: the input split on newlines into up to 32 JSON records (like a JSON Lines
//! file), decoded; the events of the first record's user are applied to a new state with the
//! shipped rules (fixtures/segments.yaml); the state must be sane and survive
//! encode_state → decode_state unchanged. The whole input is also fed to decode_state, which
//! must never panic on arbitrary bytes. Applying the same events a second time must leave the
//! aggregates as they were (exactly-once counting).
#![no_main]

#[path = "common.rs"]
mod common;

use audience_core::{
    apply, decode_record, decode_state, encode_state, DecodeOptions, DecodedEvent, Payload, Rules,
    UserState,
};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// Most records taken from one input.
const MAX_RECORDS: usize = 32;

fn shipped_rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        match Rules::load(
            include_str!("../../fixtures/segments.yaml"),
            "segments.yaml",
        ) {
            Ok(rules) => rules,
            Err(e) => panic!("the shipped rules do not load: {e}"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    // Stored state is external data too: arbitrary bytes must give a state or an error.
    let _ = decode_state(data);

    let opts = DecodeOptions::default();
    let events: Vec<DecodedEvent> = data
        .split(|b| *b == b'\n')
        .take(MAX_RECORDS)
        .enumerate()
        .filter_map(|(seq, line)| {
            decode_record(
                &common::record(seq, Payload::Json(line.to_vec())),
                &opts,
                common::clock(),
            )
            .ok()
        })
        .collect();
    let Some(first) = events.first() else {
        return;
    };
    let user = first.key.id.clone();
    let mine: Vec<DecodedEvent> = events.into_iter().filter(|e| e.key.id == user).collect();

    let applied = apply(&UserState::new(user), &mine, shipped_rules(), common::NOW);
    assert!(applied.state.is_sane(), "apply produced an insane state");
    let bytes = encode_state(&applied.state);
    match decode_state(&bytes) {
        Ok(back) => assert_eq!(back, applied.state, "state changed through the codec"),
        Err(e) => panic!("an encoded state does not decode: {e}"),
    }

    // Exactly once: the same events applied again count nothing twice.
    let again = apply(&applied.state, &mine, shipped_rules(), common::NOW);
    assert_eq!(
        again.state.aggs, applied.state.aggs,
        "events were counted twice"
    );
});
