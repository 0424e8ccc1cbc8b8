//! The LINE dry run: the same reading and planning as a real run, but nothing is sent,
//! acknowledged or stored. The plan (with every ID) goes to `OUT/line/SEGMENT.json`.

use super::prepare::{prepare, read_pending};
use super::settings::LineAudienceSettings as LineRule;
use super::state::StoredLineState;
use crate::config::LineSyncConfig;
use crate::error::SyncError;
use crate::report::{SegmentOutcome, SegmentReport};
use crate::runner::SyncContext;
use audience_core::plan::line::LineRequest;
use audience_core::rules::Segment;

/// Plans one segment and writes the plan.
pub async fn plan(
    ctx: &SyncContext<'_>,
    config: &LineSyncConfig,
    segment: &Segment,
    rule: &LineRule,
    state: &StoredLineState,
    report: &mut SegmentReport,
) -> Result<(), SyncError> {
    report.outcome = SegmentOutcome::Planned;
    let seg = segment.def.id.as_str();
    let mut state = state.clone();
    if let Some(bound) = rule.audience_id {
        state.audience.audience_id = Some(bound);
        state.audience.created_by_us = false;
    }
    if let Some(p) = &state.parked {
        report.notes.push(format!(
            "parked: {} (a real run sends nothing until --retry-parked)",
            p.reason
        ));
    }
    let pending = read_pending(ctx, seg, config.max_pending).await?;
    if !pending.no_line_id.is_empty() || !pending.exits_never_sent.is_empty() {
        report.notes.push(format!(
            "{} entered users without a LINE ID and {} exits of users never sent would be acknowledged with nothing to send",
            pending.no_line_id.len(),
            pending.exits_never_sent.len()
        ));
    }
    let prepared = prepare(ctx, config, seg, rule, &state, &pending).await?;
    let mut file = serde_json::json!({
        "segment": seg,
        "destination": "line",
        "state": state,
        "pending": {
            "additions": pending.additions.len(),
            "exits": pending.exits.len(),
            "no_line_id": pending.no_line_id.len(),
            "exits_never_sent": pending.exits_never_sent.len(),
        },
    });
    match &prepared {
        None => report
            .notes
            .push("no member has a LINE user ID yet; nothing to create".into()),
        Some(p) => {
            report.planned = p
                .plan
                .requests
                .iter()
                .map(|r| super::prepare::describe(r, p.full.as_ref()))
                .collect();
            report.notes.extend(p.plan.notes.iter().cloned());
            file["plan"] = serde_json::to_value(&p.plan).unwrap_or_default();
            if p.plan
                .requests
                .iter()
                .any(|r| matches!(r, LineRequest::Rotate { .. }))
            {
                file["replacement_ids"] = serde_json::to_value(&p.full).unwrap_or_default();
            }
        }
    }
    if let Some(path) = ctx.write_planned(super::state::KIND, seg, &file)? {
        report
            .notes
            .push(format!("planned requests written to {}", path.display()));
    }
    Ok(())
}
