//! The sweep's size metrics in CloudWatch Embedded Metric Format: one `SegmentSize` per
//! segment (dimension `Segment`, unit Count) and one `AlertTriggered` (dimension `Function`,
//! the function's name like the other metrics: segments flagged with a sudden change this
//! run, zeros included so the template's alarm always has a data point). Written by hand rather than through the
//! `metrics` recorder of `emf`, whose one dimension is `Function`.

use audience_core::Millis;
use serde_json::json;
use std::collections::BTreeMap;

/// One EMF JSON document per line: the sizes, then the alert count.
pub fn size_metric_lines(
    namespace: &str,
    function: &str,
    now: Millis,
    sizes: &BTreeMap<String, i64>,
    alerts_triggered: usize,
) -> Vec<String> {
    let mut out: Vec<String> = sizes
        .iter()
        .map(|(segment, members)| {
            json!({
                "_aws": {
                    "Timestamp": now,
                    "CloudWatchMetrics": [{
                        "Namespace": namespace,
                        "Dimensions": [["Segment"]],
                        "Metrics": [{"Name": "SegmentSize", "Unit": "Count"}],
                    }],
                },
                "Segment": segment,
                "SegmentSize": members,
            })
            .to_string()
        })
        .collect();
    out.push(
        json!({
            "_aws": {
                "Timestamp": now,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["Function"]],
                    "Metrics": [{"Name": "AlertTriggered", "Unit": "Count"}],
                }],
            },
            "Function": function,
            "AlertTriggered": alerts_triggered,
        })
        .to_string(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_size_per_segment_and_the_alert_count() {
        let sizes = BTreeMap::from([("vip".to_string(), 2_600), ("new".to_string(), 0)]);
        let lines = size_metric_lines("AudienceStream", "sweep-fn", 1_764_547_200_000, &sizes, 1);
        assert_eq!(lines.len(), 3);
        let docs: Vec<serde_json::Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let vip = docs.iter().find(|d| d["Segment"] == "vip").unwrap();
        assert_eq!(vip["SegmentSize"], 2_600);
        let cw = &vip["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "AudienceStream");
        assert_eq!(cw["Dimensions"][0][0], "Segment");
        assert_eq!(cw["Metrics"][0]["Name"], "SegmentSize");
        assert_eq!(vip["_aws"]["Timestamp"], 1_764_547_200_000i64);
        let alert = docs.last().unwrap();
        assert_eq!(alert["AlertTriggered"], 1);
        assert_eq!(alert["Function"], "sweep-fn");
        assert_eq!(
            alert["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "AlertTriggered"
        );
        let none = size_metric_lines("AudienceStream", "sweep-fn", 0, &BTreeMap::new(), 0);
        assert_eq!(none.len(), 1, "the alert count is emitted even at zero");
    }
}
