//! The records a state store keeps besides user state: commits, outbox entries, the sync
//! ledger, segment counters, daily history, batch statistics and dead letters.

use audience_core::{ChangeKind, MembershipChange, Millis, UserState};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Users read from a store: the readable states, and the keys whose stored item could not be
/// read back (corrupt, unknown format), each with the reason. One unreadable user never
/// fails a read for the others: the caller quarantines it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserLoad {
    /// Readable states by user key (users never saved are absent).
    pub states: HashMap<String, UserState>,
    /// Unreadable users: key → what was wrong.
    pub unreadable: BTreeMap<String, String>,
}

/// One page of a scan over all users.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanPage {
    /// The readable users of the page.
    pub users: Vec<UserState>,
    /// Users of the page that could not be read: key → why.
    pub unreadable: BTreeMap<String, String>,
    /// Pass as `after` for the next page; `None` when this was the last page.
    pub next: Option<String>,
}

/// A user set aside because its state cannot be read or written (corrupt, over a service
/// limit). Its records are kept as dead letters; the batch goes on for everyone else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quarantined {
    /// The user key.
    pub user: String,
    /// Reason code (`unreadable_state`, `rejected_by_store`).
    pub reason: String,
    /// What was wrong.
    pub message: String,
    /// When it was quarantined.
    pub at: Millis,
    /// Records of this user set aside with it (at most 100 listed).
    #[serde(default)]
    pub records: Vec<String>,
}

/// Everything that follows from applying one batch to one user, saved together.
#[derive(Debug, Clone, PartialEq)]
pub struct UserCommit {
    /// The new state. Its `version` must be `expected_version + 1`.
    pub state: UserState,
    /// The version the state was computed from (0 = the user must not exist yet).
    pub expected_version: u64,
    /// Membership changes to record (members, counters, daily history).
    pub changes: Vec<MembershipChange>,
    /// Pending sync work these changes create.
    pub outbox: Vec<OutboxEntry>,
    /// Endpoint → user links learned from this user's events.
    pub links: Vec<(String, String)>,
    /// Other identities (endpoint-keyed states) folded into this user, to delete.
    pub absorbed: Vec<AbsorbedIdentity>,
    /// The batch this commit belongs to (names per-batch delta items; idempotency).
    pub batch_id: String,
    /// `next_flip_at` of the state as it was loaded (a store's due index is written only
    /// when it moves).
    pub prior_next_flip_at: Option<Millis>,
}

/// An identity folded into a user: its key and the version it was read at. Exits from its
/// segments are part of the commit's `changes`, under its own key.
#[derive(Debug, Clone, PartialEq)]
pub struct AbsorbedIdentity {
    /// Its key.
    pub key: String,
    /// Its version when read (the delete is conditional on it).
    pub version: u64,
}

/// One unit of pending sync work: add or remove `user` at `destination` for `segment`.
/// There is at most one per (destination, segment, user); a newer change replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// `line` or `pinpoint` (the destination kind).
    pub destination: String,
    /// Segment ID.
    pub segment: String,
    /// User key.
    pub user: String,
    /// Entered (add) or exited (remove).
    pub op: ChangeKind,
    /// When the change happened.
    pub at: Millis,
    /// Identifies this change; an acknowledgement only removes the entry it read.
    pub change_id: String,
}

/// Pending work per destination and segment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSummary {
    /// Destination kind.
    pub destination: String,
    /// Segment ID.
    pub segment: String,
    /// Users to add.
    pub additions: u64,
    /// Users to remove.
    pub exits: u64,
    /// When the oldest pending change happened.
    pub oldest_at: Option<Millis>,
}

/// A segment's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentCounts {
    /// Current members.
    pub members: i64,
    /// Enters ever recorded.
    pub entered: u64,
    /// Exits ever recorded.
    pub exited: u64,
}

/// One day of one segment's history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyCounts {
    /// Calendar day number (days since 1970-01-01) in the rules' time zone.
    pub day: i32,
    /// Enters that day.
    pub entered: u64,
    /// Exits that day.
    pub exited: u64,
}

/// Result of a sync request, as the ledger records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerStatus {
    /// Accepted by the destination.
    Ok,
    /// Started, not finished (e.g. an import job being polled, an audience being built).
    Running,
    /// Failed after retries; will be tried again.
    Failed,
    /// Permanently refused; kept with the reason, not retried.
    Parked,
    /// Not sent: planned by a dry run.
    DryRun,
}

/// One row of the sync ledger: what was sent where, when, with what result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// When it was sent.
    pub at: Millis,
    /// Destination kind.
    pub destination: String,
    /// Segment ID.
    pub segment: String,
    /// What was done: `create`, `add`, `add_by_file`, `rotate`, `delete`, `import`, …
    pub action: String,
    /// The destination object (audience ID, import job ID), when known.
    #[serde(default)]
    pub target: Option<String>,
    /// Users sent.
    #[serde(default)]
    pub users: u64,
    /// Exits handled (rotation).
    #[serde(default)]
    pub exits: u64,
    /// Result.
    pub status: LedgerStatus,
    /// Attempts made.
    #[serde(default)]
    pub attempts: u32,
    /// How long it took.
    #[serde(default)]
    pub duration_ms: u64,
    /// Error or note.
    #[serde(default)]
    pub message: Option<String>,
    /// Destination-specific detail (job counts, request IDs).
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// What one processed batch looked like, for the dashboard (idempotent by `batch_id`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchRecord {
    /// Shard and first sequence number of the batch (or the replay file and first line).
    pub batch_id: String,
    /// Calendar day it was processed, in the rules' time zone.
    pub day: i32,
    /// Records in the batch.
    pub records: u64,
    /// Records decoded.
    pub decoded: u64,
    /// Records set aside.
    pub set_aside: u64,
    /// Records skipped as already applied.
    pub duplicates: u64,
    /// Set-aside reason → count.
    pub set_aside_reasons: BTreeMap<String, u64>,
    /// Newest Kinesis arrival time in the batch.
    pub newest_arrival_ms: Option<Millis>,
}

/// A record set aside: never applied, kept with its reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// `shard:sequence` or `file:line`.
    pub record: String,
    /// Reason code (`not_json`, …).
    pub reason: String,
    /// Full message.
    pub message: String,
    /// When it was set aside.
    pub at: Millis,
    /// The raw payload (Base64 or JSON text), truncated to 64 KiB.
    pub data: String,
}

/// A named lease (e.g. `sync`): who holds it and until when. A lease whose `until` has passed
/// is free for anyone to take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The holder's ID (unique per run).
    pub holder: String,
    /// Held until this instant (epoch ms).
    pub until: Millis,
}
