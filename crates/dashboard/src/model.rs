//! The dashboard's read model: what every panel shows, as plain serializable data. Only
//! aggregates: counts, segment IDs and descriptions from the rules file, destination object
//! IDs (LINE audience, Pinpoint job) and ledger notes — never a user ID or attribute value.

use crate::series::{Change, DayPoint, Mover};
use audience_core::Millis;
use audience_store::LedgerStatus;
use serde::Serialize;
use std::collections::BTreeMap;

pub use crate::series::Granularity;

/// Everything one page shows.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    /// The top strip.
    pub summary: Summary,
    /// One row per segment of the rules file, in rules order.
    pub segments: Vec<SegmentRow>,
    /// Largest 7-day growth.
    pub growers: Vec<Mover>,
    /// Largest 7-day decline.
    pub decliners: Vec<Mover>,
    /// Newest ledger rows, newest first.
    pub ledger: Vec<LedgerRow>,
    /// Whether the ledger read hit its limit (older rows exist).
    pub ledger_truncated: bool,
    /// Per segment and destination: members vs acknowledged.
    pub reconciliation: Vec<ReconRow>,
    /// LINE messages sent per segment per day within the ledger rows read (newest day
    /// first); partial for the oldest day when `ledger_truncated`.
    pub messages: Vec<MessagesDay>,
    /// Warnings for people: segments synced to LINE with fewer members than LINE accepts as
    /// narrowcast recipients (50).
    pub warnings: Vec<String>,
    /// Segment → its daily points over the history window (oldest first).
    #[serde(skip)]
    pub histories: BTreeMap<String, Vec<DayPoint>>,
    /// Store reads this model took.
    pub store_reads: u64,
    /// The most it may take: segments + 3 + distinct `alert.within` windows.
    pub store_reads_budget: u64,
}

impl Dashboard {
    /// The row of a segment.
    pub fn segment(&self, id: &str) -> Option<&SegmentRow> {
        self.segments.iter().find(|s| s.id == id)
    }
}

/// The top strip.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The instant the page describes (RFC 3339).
    pub as_of: String,
    /// The same in epoch ms.
    pub as_of_ms: Millis,
    /// The calendar time zone of "today" and the daily history (`settings.timezone`).
    pub timezone: String,
    /// Segments in the rules file.
    pub segments: usize,
    /// Sum of the segments' members (a user in two segments counts twice).
    pub total_members: i64,
    /// Enters today (in `timezone`), all segments.
    pub entered_today: u64,
    /// Exits today (in `timezone`), all segments.
    pub exited_today: u64,
    /// Arrival time of the newest applied event (today or yesterday), epoch ms.
    pub newest_arrival_ms: Option<Millis>,
    /// `as_of` minus that.
    pub stream_lag_ms: Option<i64>,
    /// Batches processed today.
    pub batches_today: u64,
    /// Records processed today.
    pub records_today: u64,
    /// Records set aside today.
    pub set_aside_today: u64,
    /// Per destination: how far behind, what failed.
    pub destinations: Vec<DestinationHealth>,
}

/// One destination's sync health.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DestinationHealth {
    /// `line` or `pinpoint`.
    pub destination: String,
    /// Segments the rules send there.
    pub segments: usize,
    /// Users waiting to be added.
    pub pending_additions: u64,
    /// Exits waiting to be handled.
    pub pending_exits: u64,
    /// When the oldest unsynced change happened.
    pub oldest_unsynced_at_ms: Option<Millis>,
    /// `as_of` minus that.
    pub oldest_unsynced_age_ms: Option<i64>,
    /// Ledger rows that failed in the last 24 hours.
    pub failed_24h: u64,
    /// Parked ledger rows (permanently refused) in the ledger window.
    pub parked: u64,
}

/// One segment's row.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentRow {
    /// Segment ID.
    pub id: String,
    /// Description from the rules file.
    pub description: String,
    /// Current members.
    pub members: i64,
    /// Enters ever.
    pub entered_total: u64,
    /// Exits ever.
    pub exited_total: u64,
    /// Enters today.
    pub entered_today: u64,
    /// Exits today.
    pub exited_today: u64,
    /// Change over 1 day.
    pub change_1d: Change,
    /// Change over 7 days.
    pub change_7d: Change,
    /// Change over 30 days.
    pub change_30d: Change,
    /// Where it is sent and the state there.
    pub destinations: Vec<DestinationCell>,
    /// A sudden change of its size (the segment's `alert`), if flagged now.
    pub sudden_change: Option<audience_core::alert::SuddenChange>,
}

/// A segment's state at one destination, from the newest ledger rows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DestinationCell {
    /// `line` or `pinpoint`.
    pub destination: String,
    /// LINE audience ID or Pinpoint import job ID.
    pub target: Option<String>,
    /// `ok`, `running`, `failed`, `parked`, `dry_run` or `not_synced`.
    pub status: String,
    /// The newest row's action.
    pub action: Option<String>,
    /// The newest row's time, epoch ms.
    pub at_ms: Option<Millis>,
    /// LINE rotations in the ledger window.
    pub rotations: u64,
}

/// One ledger row as shown.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerRow {
    /// When it was sent (RFC 3339).
    pub at: String,
    /// The same in epoch ms.
    pub at_ms: Millis,
    /// Destination.
    pub destination: String,
    /// Segment ID.
    pub segment: String,
    /// `create`, `add`, `add_by_file`, `rotate`, `delete`, `import`, …
    pub action: String,
    /// Audience or job ID.
    pub target: Option<String>,
    /// Users added (sent).
    pub added: u64,
    /// Exits handled.
    pub exits: u64,
    /// Result.
    pub status: LedgerStatus,
    /// Attempts.
    pub attempts: u32,
    /// Duration.
    pub duration_ms: u64,
    /// Error or note (at most 300 characters).
    pub message: Option<String>,
    /// A LINE audience rotation (rebuild to drop exits).
    pub rotation: bool,
}

/// Members a segment has vs members a destination acknowledged.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReconRow {
    /// Segment ID.
    pub segment: String,
    /// Destination.
    pub destination: String,
    /// Members the segment has now.
    pub members: i64,
    /// Members the destination acknowledged (ledger `ok` rows), when any.
    pub acknowledged: Option<i64>,
    /// Acknowledged minus members (positive: exits not yet removed; negative: additions not
    /// yet sent).
    pub difference: Option<i64>,
    /// Pending additions.
    pub pending_additions: u64,
    /// Pending exits.
    pub pending_exits: u64,
    /// The ledger window did not reach back to the audience's creation: acknowledged is a
    /// lower bound.
    pub partial: bool,
}

/// LINE messages sent for one segment on one day (from the ledger's accepted `push` and
/// `multicast` rows of destination `line_message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessagesDay {
    /// Calendar day in the rules' time zone, `YYYY-MM-DD`.
    pub day: String,
    /// Segment ID.
    pub segment: String,
    /// Requests LINE accepted.
    pub requests: u64,
    /// Recipients of those requests (messages delivered, one per user).
    pub sent: u64,
}
