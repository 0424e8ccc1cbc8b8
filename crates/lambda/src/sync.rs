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
use audience_destinations::{select_destinations, DestinationKind, LineCredentials};
use audience_sync::{
    wall_clock_ms, SegmentOutcome, SyncConfig, SyncContext, SyncReport, SyncRunner,
};
use std::time::Duration;

/// Limits the run to these destination kinds (`line`, `pinpoint`, `eventbridge`,
/// `line_message`, comma-separated); unset or empty: every configured one.
pub const DESTINATIONS_VAR: &str = "AUDIENCE_STREAM_SYNC_DESTINATIONS";

/// The sync configuration file (YAML; the same typed config as `audience-stream sync
/// --config`: rotation policy, rate limits, retries, file threshold, Pinpoint attribute
/// columns). The deploy template points it at `/opt/sync.yaml` in the rules layer
/// (deploy/rules/sync.yaml). Unset or empty: the defaults. Read and validated at cold start:
/// a missing file or a bad value stops the function with an error naming the file and field.
pub const CONFIG_VAR: &str = "AUDIENCE_STREAM_SYNC_CONFIG";

/// What one invocation's event may ask for, besides the schedule's plain run (every other
/// field of the event, e.g. EventBridge's, is ignored). `{"retry_parked": true}` un-parks:
/// segments whose last refusal was parked are tried again (after fixing the cause), like
/// `audience-stream sync --retry-parked`; `segment` limits that run to one segment.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct SyncRequest {
    /// Try parked segments again.
    #[serde(default)]
    pub retry_parked: bool,
    /// Only this segment.
    #[serde(default)]
    pub segment: Option<String>,
}

impl SyncRequest {
    /// Reads the request from an invocation event; an event that is not a request (a
    /// schedule event) is a plain run. A `retry_parked` or `segment` of the wrong type is an
    /// error rather than a silent plain run.
    pub fn from_event(event: &serde_json::Value) -> Result<SyncRequest> {
        if !event.is_object() {
            return Ok(SyncRequest::default());
        }
        let fields = serde_json::json!({
            "retry_parked": event.get("retry_parked").cloned().unwrap_or(serde_json::Value::Bool(false)),
            "segment": event.get("segment").cloned().unwrap_or(serde_json::Value::Null),
        });
        serde_json::from_value(fields).context(
            "the sync event's `retry_parked` must be true or false and `segment` a segment ID",
        )
    }
}

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
    let path = get(CONFIG_VAR).map(std::path::PathBuf::from);
    let mut config = SyncConfig::load(path.as_deref()).with_context(|| match &path {
        Some(p) => format!("{CONFIG_VAR}={} (the sync configuration)", p.display()),
        None => format!("{CONFIG_VAR} unset: the default sync configuration"),
    })?;
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
    invoke_request(shared, runner, remaining, &SyncRequest::default()).await
}

/// [`invoke`] for an event's [`SyncRequest`] (un-parking, one segment).
pub async fn invoke_request(
    shared: &Shared,
    runner: &SyncRunner,
    remaining: Duration,
    request: &SyncRequest,
) -> Result<SyncReport> {
    if let Some(id) = &request.segment {
        if shared.rules.index_of(id).is_none() {
            anyhow::bail!("the sync event names segment `{id}`, which is not in the rules");
        }
    }
    let mut ctx = SyncContext::new(shared.store.as_ref(), wall_clock_ms(), remaining);
    ctx.retry_parked = request.retry_parked;
    if request.retry_parked {
        tracing::info!(segment = ?request.segment, "retrying parked segments");
    }
    let report = runner
        .run(&ctx, &shared.rules, request.segment.as_deref())
        .await?;
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
