//! Fuzz target: arbitrary bytes as one record payload, both as JSON bytes and as Base64 text.
//! Decoding must never panic, and an admitted event's metrics must be finite and within
//! ±MAX_METRIC_ABS (crates/core/src/limits.rs).
#![no_main]

#[path = "common.rs"]
mod common;

use audience_core::limits::MAX_METRIC_ABS;
use audience_core::{decode_record, DecodeOptions, DecodedEvent, Payload};
use libfuzzer_sys::fuzz_target;

fn check(decoded: &DecodedEvent) {
    for (name, v) in &decoded.event.metrics {
        assert!(
            v.is_finite() && v.abs() <= MAX_METRIC_ABS,
            "admitted metric {name} = {v} is out of range"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let opts = DecodeOptions::default();
    let payloads = [
        Payload::Json(data.to_vec()),
        Payload::Base64(String::from_utf8_lossy(data).into_owned()),
    ];
    for (seq, payload) in payloads.into_iter().enumerate() {
        if let Ok(decoded) = decode_record(&common::record(seq, payload), &opts, common::clock()) {
            check(&decoded);
        }
    }
});
