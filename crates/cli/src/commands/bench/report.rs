//! The figures of a bench run: per side (pipeline, naive handler) and slice, the billed write
//! units per event W (transactional writes twice), read units per event R, requests per
//! batch and events/s; the pipeline/naive ratios and the goals; the JSON and the human table.

use super::target::Target;
use super::workload::{Workload, WorkloadSpec};
use crate::output::outln;
use anyhow::Result;
use audience_store_dynamodb::MetricsSnapshot;
use serde::Serialize;

/// Goal: billed write units per event on steady-state batches at most this.
pub const GOAL_STEADY_W: f64 = 0.3;
/// Goal: the pipeline's events/s at least this many times the naive handler's.
pub const GOAL_SPEEDUP: f64 = 20.0;

/// What the pipeline did besides requests (only on the pipeline side).
#[derive(Debug, Default, Clone, Serialize)]
pub struct PipelineDetail {
    /// Distinct users per event, summed over batches (one written user is one write unit at least).
    pub distinct_users_per_event: f64,
    /// User items written per event.
    pub written_users_per_event: f64,
    pub users_written: u64,
    /// Users the slice added to the table.
    pub users_new: u64,
    pub membership_changes: u64,
    pub set_aside: u64,
    /// TransactWriteItems calls (identity folds).
    pub transactions: u64,
}

/// One side's figures on one slice.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub events: u64,
    pub batches: u64,
    /// Time spent in the handler (batch calls or per-record handling).
    pub seconds: f64,
    pub events_per_second: f64,
    pub requests: u64,
    pub write_requests: u64,
    pub requests_per_batch: f64,
    /// Write units as billed: transactional writes count twice.
    pub billed_write_units: f64,
    pub transactional_write_units: f64,
    pub read_units: f64,
    /// W: billed write units per event.
    pub billed_write_units_per_event: f64,
    /// R: read units per event.
    pub read_units_per_event: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineDetail>,
}

impl Measured {
    pub fn new(m: MetricsSnapshot, events: u64, batches: u64, seconds: f64) -> Measured {
        let per_event = |x: f64| x / events.max(1) as f64;
        Measured {
            events,
            batches,
            seconds,
            events_per_second: events as f64 / seconds.max(1e-9),
            requests: m.requests,
            write_requests: m.write_requests,
            requests_per_batch: m.requests as f64 / batches.max(1) as f64,
            billed_write_units: m.billed_write_units(),
            transactional_write_units: m.transactional_write_units,
            read_units: m.read_units,
            billed_write_units_per_event: per_event(m.billed_write_units()),
            read_units_per_event: per_event(m.read_units),
            pipeline: None,
        }
    }

    pub fn with_detail(mut self, detail: PipelineDetail) -> Measured {
        self.pipeline = Some(detail);
        self
    }
}

/// Both sides on one slice, and how they compare.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub pipeline: Measured,
    pub naive: Measured,
    /// Pipeline events/s over the naive handler's.
    pub speedup: f64,
    /// Naive W over the pipeline's W.
    pub write_unit_ratio_naive_over_pipeline: f64,
    /// Pipeline W at most [`GOAL_STEADY_W`] (the goal applies to steady slices).
    pub w_goal_met: bool,
    /// Speedup at least [`GOAL_SPEEDUP`].
    pub speed_goal_met: bool,
}

impl Phase {
    pub fn new(pipeline: Measured, naive: Measured) -> Phase {
        let speedup = pipeline.events_per_second / naive.events_per_second.max(1e-9);
        let w_ratio =
            naive.billed_write_units_per_event / pipeline.billed_write_units_per_event.max(1e-9);
        Phase {
            w_goal_met: pipeline.billed_write_units_per_event <= GOAL_STEADY_W,
            speed_goal_met: speedup >= GOAL_SPEEDUP,
            pipeline,
            naive,
            speedup,
            write_unit_ratio_naive_over_pipeline: w_ratio,
        }
    }
}

/// One batch size: the first slice on an empty table and the steady slice.
#[derive(Debug, Clone, Serialize)]
pub struct BatchSizeReport {
    pub batch_size: usize,
    pub first: Phase,
    pub steady: Phase,
}

/// The whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub endpoint: String,
    pub workload: WorkloadFigures,
    pub goals: Goals,
    pub batch_sizes: Vec<BatchSizeReport>,
}

/// What was replayed.
#[derive(Debug, Serialize)]
pub struct WorkloadFigures {
    pub generator: &'static str,
    pub seed: u64,
    pub users: usize,
    pub events: usize,
    pub days: u32,
    pub phase_events: usize,
    pub warm_up_events: usize,
    pub naive_events_per_phase: usize,
}

/// The goals the figures are checked against.
#[derive(Debug, Serialize)]
pub struct Goals {
    pub steady_billed_write_units_per_event_at_most: f64,
    pub speedup_over_naive_at_least: f64,
}

impl Report {
    pub fn new(
        target: &Target,
        spec: &WorkloadSpec,
        workload: &Workload,
        naive_events: usize,
        batch_sizes: Vec<BatchSizeReport>,
    ) -> Report {
        Report {
            endpoint: target.endpoint().to_string(),
            workload: WorkloadFigures {
                generator: "audience-gen (Zipf user activity)",
                seed: spec.seed,
                users: spec.users,
                events: workload.len(),
                days: spec.days,
                phase_events: spec.phase_events,
                warm_up_events: workload.warm_up().len(),
                naive_events_per_phase: naive_events.min(spec.phase_events),
            },
            goals: Goals {
                steady_billed_write_units_per_event_at_most: GOAL_STEADY_W,
                speedup_over_naive_at_least: GOAL_SPEEDUP,
            },
            batch_sizes,
        }
    }

    /// The human table.
    pub fn print_table(&self) -> Result<()> {
        let w = &self.workload;
        outln!(
            "{} events over {} days, {} users (seed {}); slices of {} events, warm-up {}; naive handler on {} events per slice; endpoint {}",
            w.events,
            w.days,
            w.users,
            w.seed,
            w.phase_events,
            w.warm_up_events,
            w.naive_events_per_phase,
            self.endpoint
        )?;
        outln!(
            "{:>6} {:<7} {:<9} {:>7} {:>7} {:>9} {:>10} {:>8} {:>9} {:>8}",
            "batch",
            "slice",
            "side",
            "W",
            "R",
            "req/batch",
            "events/s",
            "users/ev",
            "speedup",
            "W ratio"
        )?;
        for s in &self.batch_sizes {
            for (name, phase) in [("first", &s.first), ("steady", &s.steady)] {
                let users = phase
                    .pipeline
                    .pipeline
                    .as_ref()
                    .map_or(0.0, |d| d.distinct_users_per_event);
                outln!(
                    "{:>6} {:<7} {:<9} {:>7.3} {:>7.3} {:>9.1} {:>10.0} {:>8.3} {:>8.1}x {:>7.1}x",
                    s.batch_size,
                    name,
                    "pipeline",
                    phase.pipeline.billed_write_units_per_event,
                    phase.pipeline.read_units_per_event,
                    phase.pipeline.requests_per_batch,
                    phase.pipeline.events_per_second,
                    users,
                    phase.speedup,
                    phase.write_unit_ratio_naive_over_pipeline
                )?;
                outln!(
                    "{:>6} {:<7} {:<9} {:>7.3} {:>7.3} {:>9.1} {:>10.0}",
                    "",
                    "",
                    "naive",
                    phase.naive.billed_write_units_per_event,
                    phase.naive.read_units_per_event,
                    phase.naive.requests_per_batch,
                    phase.naive.events_per_second
                )?;
            }
        }
        outln!(
            "W = billed write units per event (transactional x2), R = read units per event; goals: steady W <= {GOAL_STEADY_W}, speedup >= {GOAL_SPEEDUP}x"
        )?;
        Ok(())
    }
}
