//! [`SyncRunner`]: takes the store's `sync` lease (one real run at a time), visits every
//! segment that has a destination (or only one, `--segment`), hands it to each
//! [`Destination`] that wants it, stops at the deadline, and releases the lease.

use crate::error::SyncError;
use crate::report::{SegmentOutcome, SegmentReport, SyncReport};
use crate::Destination;
use audience_core::{Millis, Rules};
use audience_store::StateStore;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// The store lease a real run holds from start to end, so that two runs (an overlapping
/// schedule, a redelivered EventBridge event, a person running `sync` by hand) never create,
/// rotate or upload the same work twice.
pub const SYNC_LEASE: &str = "sync";

/// How long the lease outlives the run's deadline: the deadline stops new requests, and the
/// ledger rows, acknowledgements and state saves of the last one still follow it.
pub const LEASE_MARGIN: Duration = Duration::from_secs(30);

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

    /// Writes a dry run's planned requests of one segment to `<out_dir>/<kind>/<segment>.json`
    /// (pretty JSON); `None` when the run has no output directory.
    pub fn write_planned(
        &self,
        kind: &str,
        segment: &str,
        planned: &serde_json::Value,
    ) -> Result<Option<PathBuf>, SyncError> {
        let Some(dir) = &self.out_dir else {
            return Ok(None);
        };
        let dir = dir.join(kind);
        let path = dir.join(format!("{segment}.json"));
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(
                &path,
                serde_json::to_vec_pretty(planned).unwrap_or_default(),
            )
        };
        write().map_err(|source| SyncError::Output {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Some(path))
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
    audience_clock::now_millis()
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
    ///
    /// A real run first takes the lease [`SYNC_LEASE`] until its deadline plus
    /// [`LEASE_MARGIN`]; when another run holds it, this one ends at once, sending nothing,
    /// with a report note saying until when. The lease is released at the end (a run that is
    /// killed leaves it to expire). A dry run changes nothing and takes no lease.
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
        if ctx.dry_run {
            return self.visit(ctx, rules, only).await;
        }
        let holder = run_id();
        let until = ctx
            .now
            .saturating_add(millis(ctx.remaining()))
            .saturating_add(millis(LEASE_MARGIN));
        if !ctx
            .store
            .acquire_lease(SYNC_LEASE, &holder, ctx.now, until)
            .await?
        {
            let held = ctx.store.lease(SYNC_LEASE).await?;
            let note = match held {
                Some(lease) => format!(
                    "another sync run holds the lease until {} (run {}); this run sent nothing",
                    audience_core::time::format_rfc3339(lease.until),
                    lease.holder
                ),
                None => {
                    "another sync run held the lease (released meanwhile); this run sent nothing"
                        .to_string()
                }
            };
            tracing::info!(%note, "sync lease held elsewhere");
            return Ok(SyncReport {
                lease_held_elsewhere: true,
                notes: vec![note],
                ..SyncReport::default()
            });
        }
        let result = self.visit(ctx, rules, only).await;
        if let Err(e) = ctx.store.release_lease(SYNC_LEASE, &holder).await {
            tracing::warn!(error = %e, "cannot release the sync lease; it expires on its own");
        }
        result
    }

    async fn visit(
        &self,
        ctx: &SyncContext<'_>,
        rules: &Rules,
        only: Option<&str>,
    ) -> Result<SyncReport, SyncError> {
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

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

/// An ID unique to this run: process, wall-clock nanoseconds and a per-process counter.
fn run_id() -> String {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let nanos = audience_clock::now_nanos();
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    )
}
