//! The sync runner: drains the outbox per segment and destination, sends the changes to LINE
//! audiences and Pinpoint import jobs, and records every request and result in the ledger.
//!
//! Design decisions:
//! - **One trait per destination kind.** [`Destination`] is all the runner knows; LINE
//!   ([`line::LineDestination`]) and Pinpoint ([`pinpoint::PinpointDestination`]) are two
//!   implementations, so a successor service (Pinpoint's engagement features end 2026-10-30)
//!   is one new implementation, and the core never learns a destination's name.
//! - **Acknowledge only what the destination accepted.** An outbox entry is removed only after
//!   the destination answered 2xx and the ledger row is written; a crash in between re-sends at
//!   most the unacknowledged batch (adding an ID twice is harmless, losing one is not).
//! - **Plan in the core, do I/O here.** Requests come from `audience_core::plan`; this crate
//!   executes them with the shared retry policy (`audience_retry`) and a rate limiter, and
//!   remembers destination state (audience IDs, replacements, running import jobs) in the store.
//! - **One run at a time.** A real run holds the store lease `sync` (deadline + a margin);
//!   a run that cannot take it ends at once with a note and sends nothing. EventBridge
//!   delivers schedule events at least once and a run can outlast the schedule.
//! - **Each destination on its own.** A destination kind with no configuration is reported
//!   `not_configured` for its segments and skipped ([`NotConfigured`]); the others sync. A run
//!   can be limited to some kinds (`audience_destinations::select_destinations`).
//! - **Bounded by a deadline.** The sync Lambda passes its remaining time; work that does not
//!   fit stays pending (or, for an import job, is resumed by the next run).
//! - **Dry run** plans and writes the planned requests (and import CSVs) to a directory,
//!   sending nothing and changing nothing; it needs no credentials and takes no lease.

pub mod config;
mod destination_state;
pub mod error;
pub mod line;
pub mod line_message;
mod members;
mod not_configured;
pub mod pinpoint;
mod report;
mod runner;
pub mod spec;

pub use config::{LineMessageSyncConfig, LineSyncConfig, PinpointSyncConfig, SyncConfig};
pub use error::SyncError;
pub use line::LineDestination;
pub use line_message::LineMessageDestination;
pub use not_configured::NotConfigured;
pub use pinpoint::{PinpointClients, PinpointDestination};
pub use report::{Rotation, SegmentOutcome, SegmentReport, SyncReport};
pub use runner::{wall_clock_ms, SyncContext, SyncRunner, LEASE_MARGIN, SYNC_LEASE};
pub use spec::{check_destinations, DestinationSpec};

use async_trait::async_trait;
use audience_core::rules::Segment;

/// One kind of destination (LINE, Pinpoint, a successor service).
#[async_trait]
pub trait Destination: Send + Sync {
    /// The kind, as used in outbox entries and the ledger (`line`, `pinpoint`).
    fn kind(&self) -> &'static str;

    /// Whether this segment has a destination of this kind.
    fn wants(&self, segment: &Segment) -> bool {
        segment.def.destinations.has(self.kind())
    }

    /// Syncs one segment: drains its pending entries of this kind, sends, records, acks.
    /// Errors are for failures of the run itself (store unreachable, misconfiguration);
    /// refusals by the destination are recorded in the ledger and the report.
    async fn sync_segment(
        &self,
        ctx: &SyncContext<'_>,
        segment: &Segment,
    ) -> Result<SegmentReport, SyncError>;
}
