//! The sync Lambda's setup and handler: its settings from environment variables (the Pinpoint
//! import settings, and `AUDIENCE_STREAM_SYNC_DESTINATIONS` to limit the run to some
//! destination kinds), the runner over every configured destination, and one invocation
//! bounded by the remaining time. `src/bin/sync.rs` only wires these to the runtime.
//!
//! With the deploy template's defaults (no Pinpoint application, so empty Pinpoint settings)
//! and the shipped rules, whose segments name both LINE and Pinpoint, the LINE audiences sync
//! and the Pinpoint parts are reported `not_configured`.

use crate::env::Shared;
use anyhow::{Context, Result};
use audience_sync::{
    select_destinations, wall_clock_ms, DestinationKind, LineCredentials, SegmentOutcome,
    SyncConfig, SyncContext, SyncReport, SyncRunner,
};
use std::time::Duration;

/// Limits the run to these destination kinds (`line`, `pinpoint`, comma-separated); unset or
/// empty: every configured one.
pub const DESTINATIONS_VAR: &str = "AUDIENCE_STREAM_SYNC_DESTINATIONS";

/// What the environment configures.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Sync configuration (defaults, Pinpoint settings from `PINPOINT_*`).
    pub config: SyncConfig,
    /// The kinds named in [`DESTINATIONS_VAR`] (empty: every configured one).
    pub kinds: Vec<DestinationKind>,
}

/// Reads the settings through `env` (the process environment in production); empty values
/// count as unset, as the template passes `""` for what is not deployed.
pub fn settings(env: &dyn Fn(&str) -> Option<String>) -> Result<SyncSettings> {
    let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let mut config = SyncConfig::load(None)?;
    let p = &mut config.pinpoint;
    p.application_id = get("PINPOINT_APPLICATION_ID").or(p.application_id.take());
    p.bucket = get("PINPOINT_IMPORT_BUCKET").or(p.bucket.take());
    p.role_arn = get("PINPOINT_IMPORT_ROLE_ARN").or(p.role_arn.take());
    if let Some(prefix) = get("PINPOINT_IMPORT_PREFIX") {
        p.prefix = prefix;
    }
    config.validate()?;
    let kinds = match get(DESTINATIONS_VAR) {
        Some(list) => DestinationKind::parse_list(&list)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("{DESTINATIONS_VAR}={list:?}"))?,
        None => Vec::new(),
    };
    Ok(SyncSettings { config, kinds })
}

/// The runner over the configured destinations; LINE credentials come from `line` (the
/// secret, falling back to the environment).
pub async fn runner(
    shared: &Shared,
    settings: &SyncSettings,
    line: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<SyncRunner> {
    let destinations = select_destinations(
        &settings.config,
        &shared.rules,
        None,
        false,
        LineCredentials::Lookup(line),
        &settings.kinds,
    )
    .await?;
    Ok(SyncRunner::new(destinations))
}

/// One invocation: syncs within `remaining` at wall-clock time, emits the failure metrics and
/// returns the report.
pub async fn invoke(
    shared: &Shared,
    runner: &SyncRunner,
    remaining: Duration,
) -> Result<SyncReport> {
    let ctx = SyncContext::new(shared.store.as_ref(), wall_clock_ms(), remaining);
    let report = runner.run(&ctx, &shared.rules, None).await?;
    let count = |outcome: SegmentOutcome| {
        report
            .segments
            .iter()
            .filter(|s| s.outcome == outcome)
            .count() as u64
    };
    let (failed, parked) = (count(SegmentOutcome::Error), count(SegmentOutcome::Parked));
    let not_configured = count(SegmentOutcome::NotConfigured);
    crate::metrics::emit(&crate::emf::Totals {
        sync_failures: failed,
        parked,
        ..Default::default()
    });
    if not_configured > 0 {
        tracing::warn!(
            segments = not_configured,
            "some destinations are not configured; their segments were skipped"
        );
    }
    tracing::info!(
        segments = report.segments.len(),
        failed,
        parked,
        not_configured,
        lease_held_elsewhere = report.lease_held_elsewhere,
        deadline_reached = report.deadline_reached,
        "sync done"
    );
    Ok(report)
}
