//! The registry of destination kinds: the one place that lists every destination crate.
//!
//! The core and the pipeline know no destination by name (a segment's `destinations` is an
//! open map of kind → settings, and the outbox gets one entry per kind). Each destination is
//! a crate implementing `audience_sync::Destination` and exporting a
//! [`audience_sync::DestinationSpec`]; registering it means listing its spec in [`KINDS`] and
//! adding its arm to [`select_destinations`]. Programs check loaded rules with
//! [`check_rules`], so an unknown kind or bad settings fail at load time.

mod assemble;

pub use assemble::{
    destinations, line_client, select_destinations, DestinationKind, LineCredentials,
};

use audience_core::Rules;
use audience_sync::DestinationSpec;

/// Every destination kind this build can sync.
pub const KINDS: [DestinationSpec; 4] = [
    audience_sync::spec::BUILT_IN[0],
    audience_sync::spec::BUILT_IN[1],
    audience_eventbridge::SPEC,
    audience_sync::line_message::SPEC,
];

/// Checks that every segment's destinations are registered kinds with settings they accept.
pub fn check_rules(rules: &Rules) -> Result<(), String> {
    audience_sync::check_destinations(rules, &KINDS)?;
    // Message templates need the whole rules file (kept attributes, segment conditions).
    audience_sync::line_message::settings::check_in_rules(rules)
}
