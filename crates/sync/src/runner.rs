//! [`SyncRunner`]: visits every segment that has a destination (or only one, `--segment`),
//! hands it to each [`Destination`] that wants it, and stops at the deadline.

use crate::error::SyncError;
use crate::report::{SegmentOutcome, SegmentReport, SyncReport};
use crate::Destination;
use audience_core::{Millis, Rules};
use audience_store::StateStore;
use std::path::PathBuf;
use std::time::Duration;
use tokio::time::Instant;

/// What every destination needs for one run.
pub struct SyncContext<'a> {
    /// The state store (outbox, members, ledger, destination state).
    pub store: &'a dyn StateStore,
    /// Now, epoch ms (wall clock; tests move it to simulate days passing).
    pub now: Millis,
    /// Stop starting new requests after this instant.
    pub deadline: Instant,
    /// Plan only: write planned requests to `out_dir`, send nothing, change nothing.
    pub dry_run: bool,
    /// Where a dry run writes its files (none: print only).
    pub out_dir: Option<PathBuf>,
    /// Try segments again whose last refusal was parked.
    pub retry_parked: bool,
}

impl<'a> SyncContext<'a> {
    /// A context for a real run of at most `budget`, at wall-clock `now`.
    pub fn new(store: &'a dyn StateStore, now: Millis, budget: Duration) -> Self {
        SyncContext {
            store,
            now,
            deadline: Instant::now() + budget,
            dry_run: false,
            out_dir: None,
            retry_parked: false,
        }
    }

    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// True once the deadline has passed.
    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }
}

/// The current wall-clock time in epoch milliseconds.
pub fn wall_clock_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX))
        .unwrap_or(0)
}

/// Runs destinations over segments.
pub struct SyncRunner {
    destinations: Vec<Box<dyn Destination>>,
}

impl SyncRunner {
    /// A runner over these destinations (order = order of work within a segment).
    pub fn new(destinations: Vec<Box<dyn Destination>>) -> Self {
        SyncRunner { destinations }
    }

    /// Syncs every segment with a destination, or only `only`. A segment that fails is
    /// reported (outcome `error`) and the run goes on with the next.
    pub async fn run(
        &self,
        ctx: &SyncContext<'_>,
        rules: &Rules,
        only: Option<&str>,
    ) -> Result<SyncReport, SyncError> {
        if let Some(id) = only {
            if rules.segment(id).is_none() {
                let known: Vec<&str> = rules.segments.iter().map(|s| s.def.id.as_str()).collect();
                return Err(SyncError::Config(format!(
                    "no segment `{id}` in the rules file (segments: {})",
                    known.join(", ")
                )));
            }
        }
        let mut report = SyncReport::default();
        'segments: for segment in &rules.segments {
            if only.is_some_and(|id| id != segment.def.id) {
                continue;
            }
            for dest in &self.destinations {
                if !dest.wants(segment) {
                    continue;
                }
                if ctx.expired() {
                    report.deadline_reached = true;
                    break 'segments;
                }
                let seg_report = match dest.sync_segment(ctx, segment).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(destination = dest.kind(), segment = %segment.def.id, error = %e, "segment sync failed");
                        let mut r = SegmentReport::new(dest.kind(), &segment.def.id);
                        r.outcome = SegmentOutcome::Error;
                        r.notes.push(e.to_string());
                        r
                    }
                };
                report.segments.push(seg_report);
            }
        }
        Ok(report)
    }
}
