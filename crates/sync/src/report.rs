//! What a sync run did, per segment and destination: planned and sent requests, entries
//! acknowledged, notes for people. Printed by the CLI and returned by the Lambda.

use serde::Serialize;

/// How a segment's sync ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentOutcome {
    /// Everything planned was done (or there was nothing to do).
    Done,
    /// Planned only (dry run).
    Planned,
    /// Some work remains for the next run (deadline, retries exhausted, job still running).
    Incomplete,
    /// A permanent refusal was parked; the segment waits for a person (`--retry-parked`).
    Parked,
    /// The run failed for this segment (store or configuration error).
    Error,
    /// The destination has no credentials or settings in this run: skipped, entries pending.
    NotConfigured,
}

impl SegmentOutcome {
    /// The name used in reports (`done`, `not_configured`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            SegmentOutcome::Done => "done",
            SegmentOutcome::Planned => "planned",
            SegmentOutcome::Incomplete => "incomplete",
            SegmentOutcome::Parked => "parked",
            SegmentOutcome::Error => "error",
            SegmentOutcome::NotConfigured => "not_configured",
        }
    }
}

/// One segment at one destination.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentReport {
    /// Destination kind.
    pub destination: String,
    /// Segment ID.
    pub segment: String,
    /// How it ended.
    pub outcome: SegmentOutcome,
    /// Requests planned, one line each (`PUT /v2/bot/audienceGroup/upload audience 5 (10000 IDs)`).
    pub planned: Vec<String>,
    /// Requests sent and accepted.
    pub sent: u32,
    /// Requests that failed (after retries) or were refused.
    pub failed: u32,
    /// Outbox entries acknowledged.
    pub acked: usize,
    /// Notes: why exits wait, why nothing was sent, where dry-run files went.
    pub notes: Vec<String>,
    /// Audience switches this run made (LINE rotations that took effect).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rotations: Vec<Rotation>,
}

/// A segment switched from one LINE audience to its replacement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rotation {
    /// The audience the segment used before (`None` when it had none).
    pub old_audience_id: Option<i64>,
    /// The audience it uses from now on.
    pub new_audience_id: i64,
    /// Exits the switch made effective.
    pub exits: u64,
    /// When, epoch ms.
    pub at: i64,
}

impl SegmentReport {
    /// An empty report that ends `Done` unless changed.
    pub fn new(destination: &str, segment: &str) -> Self {
        SegmentReport {
            destination: destination.to_string(),
            segment: segment.to_string(),
            outcome: SegmentOutcome::Done,
            planned: Vec::new(),
            sent: 0,
            failed: 0,
            acked: 0,
            notes: Vec::new(),
            rotations: Vec::new(),
        }
    }

    /// Marks the report incomplete unless it is already parked or failed.
    pub fn incomplete(&mut self, note: impl Into<String>) {
        if self.outcome == SegmentOutcome::Done {
            self.outcome = SegmentOutcome::Incomplete;
        }
        self.notes.push(note.into());
    }
}

/// A whole run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    /// Per segment and destination, in rules order.
    pub segments: Vec<SegmentReport>,
    /// True when the deadline stopped the run before every segment was visited.
    pub deadline_reached: bool,
    /// True when another run held the sync lease, so this one did nothing.
    pub lease_held_elsewhere: bool,
    /// Notes about the run as a whole (e.g. who holds the lease).
    pub notes: Vec<String>,
}

impl SyncReport {
    /// True when any segment ended with an error or a parked refusal.
    pub fn has_failures(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s.outcome, SegmentOutcome::Error | SegmentOutcome::Parked))
    }

    /// Aligned text for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        for s in &self.segments {
            out.push_str(&format!(
                "{:<9} {:<24} {:<14} sent {:>3}  failed {:>3}  acked {:>7}\n",
                s.destination,
                s.segment,
                s.outcome.as_str(),
                s.sent,
                s.failed,
                s.acked
            ));
            for p in &s.planned {
                out.push_str(&format!("    plan: {p}\n"));
            }
            for n in &s.notes {
                out.push_str(&format!("    note: {n}\n"));
            }
        }
        if self.segments.is_empty() && !self.lease_held_elsewhere {
            out.push_str("no segment has a destination\n");
        }
        if self.deadline_reached {
            out.push_str("deadline reached: remaining segments wait for the next run\n");
        }
        out
    }
}
