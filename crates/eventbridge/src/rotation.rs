//! Rotation notices: every LINE audience rotation a sync run made, as an event on the bus
//! (`source: audience-stream`, `detail-type: LINE Audience Rotated`) naming the segment and
//! the old and new audience IDs. A rotation gives a segment a new audience ID, so broadcasts
//! scheduled in LINE Official Account Manager against the old audience lose their target; the
//! deploy template routes these events to an SNS topic the campaign owners subscribe to.
//!
//! A notice is best effort: the rotation itself is recorded in the ledger and its structured
//! log line whatever happens here, and a notice that EventBridge does not take after the
//! retries is reported (and logged by the caller), never retried by the next run.

use crate::api::PutEventsApi;
use crate::destination::send_call;
use crate::plan::{pack, PlannedEvent};
use crate::settings::EventBridgeConfig;
use audience_core::time::format_rfc3339;
use audience_sync::SyncReport;
use serde::Serialize;
use serde_json::json;

/// `detail-type` of a rotation notice.
pub const ROTATED: &str = "LINE Audience Rotated";

/// What announcing a run's rotations did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Announced {
    /// Notices EventBridge accepted.
    pub sent: usize,
    /// Notices not put, as `segment: reason`.
    pub failed: Vec<String>,
}

/// One notice per rotation of the report, on `bus`.
pub fn rotation_events(report: &SyncReport, bus: &str) -> Vec<(String, PlannedEvent)> {
    let mut out = Vec::new();
    for seg in &report.segments {
        for r in &seg.rotations {
            let detail = json!({
                "segment": seg.segment,
                "old_audience_id": r.old_audience_id,
                "new_audience_id": r.new_audience_id,
                "exits": r.exits,
                "rotated_at": format_rfc3339(r.at),
                "note": "Broadcasts scheduled in LINE Official Account Manager against the old \
                         audience lose their target: re-target them to the new audience. \
                         `audience-stream audiences` lists every segment's current audience.",
            });
            let index = out.len();
            out.push((
                seg.segment.clone(),
                PlannedEvent {
                    entry: index,
                    bus: bus.to_string(),
                    detail_type: ROTATED,
                    detail: detail.to_string(),
                    time_ms: r.at,
                },
            ));
        }
    }
    out
}

/// Puts the report's rotation notices on `config.default_bus`, re-sending what EventBridge
/// throttles as the destination does.
pub async fn announce_rotations(
    api: &dyn PutEventsApi,
    config: &EventBridgeConfig,
    report: &SyncReport,
) -> Announced {
    let events = rotation_events(report, &config.default_bus);
    let segments: Vec<String> = events.iter().map(|(s, _)| s.clone()).collect();
    let (calls, too_big) = pack(events.into_iter().map(|(_, e)| e).collect());
    let mut out = Announced::default();
    for e in too_big {
        out.failed.push(format!(
            "{}: the notice is larger than EventBridge takes",
            segments.get(e.entry).map_or("?", String::as_str)
        ));
    }
    for call in calls {
        let (sent, _) = send_call(api, config, call).await;
        out.sent += sent.accepted.len();
        out.failed
            .extend(sent.refused.into_iter().map(|(entry, why)| {
                format!("{}: {why}", segments.get(entry).map_or("?", String::as_str))
            }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use audience_sync::{Rotation, SegmentReport};

    fn report() -> SyncReport {
        let mut vip = SegmentReport::new("line", "vip");
        vip.rotations.push(Rotation {
            old_audience_id: Some(11),
            new_audience_id: 22,
            exits: 3,
            at: 1_764_547_200_000,
        });
        let quiet = SegmentReport::new("line", "quiet");
        SyncReport {
            segments: vec![vip, quiet],
            ..SyncReport::default()
        }
    }

    #[test]
    fn one_notice_per_rotation_naming_segment_and_both_audiences() {
        let events = rotation_events(&report(), "crm");
        assert_eq!(events.len(), 1);
        let (segment, event) = &events[0];
        assert_eq!(segment, "vip");
        assert_eq!(event.bus, "crm");
        assert_eq!(event.detail_type, ROTATED);
        let detail: serde_json::Value = serde_json::from_str(&event.detail).unwrap();
        assert_eq!(detail["segment"], "vip");
        assert_eq!(detail["old_audience_id"], 11);
        assert_eq!(detail["new_audience_id"], 22);
        assert_eq!(detail["rotated_at"], "2025-12-01T00:00:00Z");
    }
}
