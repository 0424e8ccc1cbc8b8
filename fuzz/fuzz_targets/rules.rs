//! Fuzz target: arbitrary UTF-8 text as a rules file. Loading must never panic; errors are
//! the expected outcome for most inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = audience_core::Rules::load(text, "fuzz.yaml");
});
