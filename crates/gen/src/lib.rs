//! audience-gen: a deterministic generator of realistic Pinpoint events (app, session,
//! monetization, auth, campaign, journey, email and SMS events), the Lambda Kinesis envelopes
//! that carry them, and the matching user-attribute export rows. `audience-stream gen` and the
//! committed files in fixtures/ come from here.
//!
//! Everything is pure: the same [`GenOptions`] give the same output, byte for byte, on every
//! platform and across dependency upgrades. All randomness comes from ChaCha8 keystreams
//! (`rand_chacha`, whose output is documented as portable and tested against reference
//! vectors), and the ways a keystream becomes numbers, choices and shuffles are this crate's
//! own (the `draw` module), not `rand`'s value distributions, which may change between `rand` versions.
//! The shapes follow the Pinpoint event-stream documentation and the real Amplify app event in
//! fixtures/seed-002-event.json (fixtures/README.md says what is modelled and why). Users are
//! drawn once from the seed, independent of the event count, so [`user_attribute_rows`] always
//! matches the users of [`generate_events`].

mod attributes;
mod catalog;
mod clock;
mod draw;
mod events;
mod kinesis;
mod options;
#[cfg(test)]
mod test_support;
mod users;

pub use attributes::user_attribute_rows;
pub use events::generate_events;
pub use kinesis::to_kinesis_envelope;
pub use options::GenOptions;
