//! The EventBridge destination: every segment entry and exit as an event on an EventBridge bus
//! (`source: audience-stream`, `detail-type: Segment Entered` / `Segment Exited`), for the
//! follow-ups Pinpoint journeys used to run — Step Functions, SQS, API destinations to a CRM.
//!
//! A destination is one crate: this one reads its own per-segment settings
//! ([`settings::EventBridgeSettings`], `destinations.eventbridge` in the rules), plans the
//! PutEvents calls without I/O ([`plan`]), sends them through [`api::PutEventsApi`] with the
//! shared partial retry (`audience_retry::retry_partial`), and acknowledges each outbox
//! entry once EventBridge accepted its event. Delivery is at least once: a crash between
//! PutEvents and the acknowledgement sends the event again, with the same change ID, by which
//! consumers deduplicate.
//!
//! It also carries the LINE rotation notices the sync function puts on the bus
//! ([`rotation`]).

pub mod api;
mod destination;
pub mod plan;
pub mod rotation;
pub mod settings;

pub use api::{CallError, EntryOutcome, PutEventsApi};
pub use destination::EventBridgeDestination;
pub use rotation::{announce_rotations, Announced};
pub use settings::{EventBridgeConfig, EventBridgeSettings};

/// The kind's name in rules, outbox entries, the ledger and `--destination`.
pub const KIND: &str = "eventbridge";

/// How the rules refer to this destination.
pub const SPEC: audience_sync::DestinationSpec = audience_sync::DestinationSpec {
    kind: KIND,
    check: <settings::EventBridgeSettings as audience_sync::spec::SegmentSettings>::check_value,
};
