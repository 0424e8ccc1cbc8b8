//! What the sync function tells about each LINE audience rotation of a run, besides the
//! ledger row and the structured log line the destination writes: an EMF metric
//! `AudienceRotated` (dimension `Segment`; the old and new audience IDs ride along as
//! properties, so a Logs Insights query finds them) and a `LINE Audience Rotated` event on the
//! bus (`AUDIENCE_STREAM_EVENT_BUS`, default `default`), which the deploy template routes to
//! the `RotationTopic` SNS topic. Both are best effort: a notice EventBridge refuses is logged
//! as an error naming the segment.

use audience_core::Millis;
use audience_eventbridge::{announce_rotations, EventBridgeConfig, PutEventsApi};
use audience_sync::SyncReport;
use serde_json::json;

/// One EMF JSON document per rotation.
pub fn rotation_metric_lines(namespace: &str, now: Millis, report: &SyncReport) -> Vec<String> {
    report
        .segments
        .iter()
        .flat_map(|seg| seg.rotations.iter().map(move |r| (seg, r)))
        .map(|(seg, r)| {
            json!({
                "_aws": {
                    "Timestamp": now,
                    "CloudWatchMetrics": [{
                        "Namespace": namespace,
                        "Dimensions": [["Segment"]],
                        "Metrics": [{"Name": "AudienceRotated", "Unit": "Count"}],
                    }],
                },
                "Segment": seg.segment,
                "AudienceRotated": 1,
                "OldAudienceId": r.old_audience_id,
                "NewAudienceId": r.new_audience_id,
                "Exits": r.exits,
            })
            .to_string()
        })
        .collect()
}

/// Writes the metrics to stdout and puts the notices on the bus.
pub async fn notify(
    report: &SyncReport,
    namespace: &str,
    now: Millis,
    api: &dyn PutEventsApi,
    config: &EventBridgeConfig,
) {
    let lines = rotation_metric_lines(namespace, now, report);
    if lines.is_empty() {
        return;
    }
    for line in &lines {
        println!("{line}");
    }
    let announced = announce_rotations(api, config, report).await;
    for failed in &announced.failed {
        tracing::error!(notice = %failed, bus = %config.default_bus, "rotation notice not put on the bus");
    }
    tracing::info!(
        sent = announced.sent,
        failed = announced.failed.len(),
        bus = %config.default_bus,
        "rotation notices"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use audience_sync::{Rotation, SegmentReport};

    #[test]
    fn one_metric_per_rotation_with_both_audience_ids() {
        let mut seg = SegmentReport::new("line", "vip");
        seg.rotations.push(Rotation {
            old_audience_id: None,
            new_audience_id: 7,
            exits: 2,
            at: 5,
        });
        let report = SyncReport {
            segments: vec![seg, SegmentReport::new("line", "other")],
            ..SyncReport::default()
        };
        let lines = rotation_metric_lines("AudienceStream", 9, &report);
        assert_eq!(lines.len(), 1);
        let doc: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(doc["Segment"], "vip");
        assert_eq!(doc["AudienceRotated"], 1);
        assert_eq!(doc["NewAudienceId"], 7);
        assert!(doc["OldAudienceId"].is_null());
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "AudienceRotated"
        );
    }
}
