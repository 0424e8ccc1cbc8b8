//! The sync requests a replay would cause, written to `OUT/outbox/` without sending anything:
//! per segment and destination, the planned LINE requests (from the core's planner) and the
//! Pinpoint import decision with its endpoint rows.

use anyhow::{Context, Result};
use audience_core::plan::line::{plan_line, LineAudienceState, LinePlanInput, RotationPolicy};
use audience_core::plan::pinpoint::{decide_import, endpoint_rows, PinpointSegmentState};
use audience_core::{ChangeKind, Millis, Rules};
use audience_store::StateStore;
use serde_json::json;
use std::path::Path;

const PAGE: usize = 1000;

/// Writes `outbox/line-<segment>.json` and `outbox/pinpoint-<segment>.json`.
pub async fn write_planned(
    dir: &Path,
    store: &dyn StateStore,
    rules: &Rules,
    now: Millis,
) -> Result<()> {
    let outbox = dir.join("outbox");
    std::fs::create_dir_all(&outbox)
        .with_context(|| format!("cannot create {}", outbox.display()))?;
    for seg in &rules.segments {
        let id = &seg.def.id;
        if let Some(line) = &seg.def.destinations.line {
            let pending = all_pending(store, "line", id).await?;
            let adds: Vec<String> = pending
                .iter()
                .filter(|e| e.op == ChangeKind::Entered)
                .map(|e| e.user.clone())
                .collect();
            let exits = pending
                .iter()
                .filter(|e| e.op == ChangeKind::Exited)
                .count() as u64;
            let users = store.load_users(&adds).await?;
            let line_ids: Vec<String> = adds
                .iter()
                .filter_map(|u| {
                    users
                        .get(u)
                        .and_then(|s| s.active_line_user_id())
                        .map(str::to_string)
                })
                .collect();
            let members = store
                .segment_counts()
                .await?
                .get(id)
                .map_or(0, |c| c.members.max(0) as u64);
            let state: LineAudienceState = store
                .destination_state("line", id)
                .await?
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default();
            let plan = plan_line(
                &LinePlanInput {
                    segment: id,
                    audience_name: line.audience_name.as_deref(),
                    bound_audience_id: line.audience_id,
                    ifa: line.ifa,
                    additions: line_ids.clone(),
                    exits,
                    oldest_exit_at: pending
                        .iter()
                        .filter(|e| e.op == ChangeKind::Exited)
                        .map(|e| e.at)
                        .min(),
                    members,
                    state: &state,
                    now,
                },
                &RotationPolicy::default(),
                100_000,
            );
            let doc = json!({
                "segment": id,
                "destination": "line",
                "pending_additions": adds.len(),
                "additions_without_line_id": adds.len() - line_ids.len(),
                "pending_exits": exits,
                "plan": plan,
            });
            write_json(&outbox.join(format!("line-{id}.json")), &doc)?;
        }
        if let Some(pp) = &seg.def.destinations.pinpoint {
            let pending = all_pending(store, "pinpoint", id).await?;
            let state: PinpointSegmentState = store
                .destination_state("pinpoint", id)
                .await?
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default();
            let decision = decide_import(&state, pending.len() as u64, 0, now);
            let mut rows = 0usize;
            let mut skipped = 0usize;
            let mut after: Option<String> = None;
            loop {
                let page = store.list_members(id, after.as_deref(), PAGE).await?;
                let Some(last) = page.last().cloned() else {
                    break;
                };
                let users = store.load_users(&page).await?;
                for u in &page {
                    let n = users.get(u).map(|s| endpoint_rows(s).len()).unwrap_or(0);
                    rows += n;
                    skipped += usize::from(n == 0);
                }
                after = Some(last);
            }
            let doc = json!({
                "segment": id,
                "destination": "pinpoint",
                "pending_changes": pending.len(),
                "decision": decision,
                "request": {
                    "operation": "CreateImportJob",
                    "Format": "CSV",
                    "DefineSegment": true,
                    "SegmentName": pp.segment_name,
                    "SegmentId": state.segment_id.clone().or(pp.segment_id.clone()),
                    "S3Url": format!("s3://BUCKET/PREFIX/{id}/{}.csv", state.version + 1),
                },
                "csv_rows": rows,
                "members_without_endpoint_address": skipped,
            });
            write_json(&outbox.join(format!("pinpoint-{id}.json")), &doc)?;
        }
    }
    Ok(())
}

async fn all_pending(
    store: &dyn StateStore,
    destination: &str,
    segment: &str,
) -> Result<Vec<audience_store::OutboxEntry>> {
    Ok(store.pending(destination, segment, usize::MAX >> 1).await?)
}

fn write_json(path: &Path, doc: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(doc)?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
