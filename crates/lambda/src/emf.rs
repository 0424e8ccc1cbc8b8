//! Lambda metrics for alarms: a few low-cardinality totals per invocation (records, decoded,
//! set aside, duplicates, entered, exited, sync failures, parked) written to stdout in
//! CloudWatch Embedded Metric Format, using the `metrics_cloudwatch_embedded` crate (a
//! recorder for the `metrics` facade). One dimension only: `Function`.
//!
//! ```no_run
//! use audience_lambda::emf::{EmfMetrics, Totals};
//! let emf = EmfMetrics::init("AudienceStream", "consumer").expect("metrics recorder");
//! emf.record(&Totals { records: 500, decoded: 498, set_aside: 2, ..Totals::default() });
//! emf.flush(std::io::stdout()).expect("stdout");
//! ```

use metrics::Unit;
use metrics_cloudwatch_embedded::{Builder, Collector};
use serde::Serialize;
use std::sync::OnceLock;

/// The CloudWatch namespace the deploy template's dashboard and alarms read.
pub const NAMESPACE: &str = "AudienceStream";

/// Metric names, in the order they are recorded.
pub const METRIC_NAMES: [&str; 10] = [
    "Records",
    "Decoded",
    "SetAside",
    "Duplicates",
    "Entered",
    "Exited",
    "SyncFailures",
    "Parked",
    "Quarantined",
    "Deferred",
];

/// Totals of one invocation (or any period the caller chooses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Kinesis records received.
    pub records: u64,
    /// Records decoded.
    pub decoded: u64,
    /// Records set aside (dead letters).
    pub set_aside: u64,
    /// Records skipped as already applied.
    pub duplicates: u64,
    /// Segment enters.
    pub entered: u64,
    /// Segment exits.
    pub exited: u64,
    /// Sync requests that failed after retries.
    pub sync_failures: u64,
    /// Sync work parked (permanently refused).
    pub parked: u64,
    /// Users quarantined (state unreadable or refused by the store).
    pub quarantined: u64,
    /// Records not committed before the invocation's deadline (reported for redelivery).
    pub deferred: u64,
}

impl Totals {
    fn values(&self) -> [u64; 10] {
        [
            self.records,
            self.decoded,
            self.set_aside,
            self.duplicates,
            self.entered,
            self.exited,
            self.sync_failures,
            self.parked,
            self.quarantined,
            self.deferred,
        ]
    }
}

/// The metrics could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the CloudWatch EMF metrics recorder: {0}")]
pub struct EmfError(String);

/// The process-wide EMF recorder.
#[derive(Clone, Copy)]
pub struct EmfMetrics {
    collector: &'static Collector,
}

static COLLECTOR: OnceLock<Result<&'static Collector, String>> = OnceLock::new();

impl EmfMetrics {
    /// Installs the global `metrics` recorder for `namespace` with dimension
    /// `Function=function`, emitting zeros so alarms always see a data point. Only the first
    /// call in a process installs; later calls return the same recorder (their arguments are
    /// ignored).
    pub fn init(namespace: &str, function: &str) -> Result<EmfMetrics, EmfError> {
        let result = COLLECTOR.get_or_init(|| {
            let collector = Builder::new()
                .cloudwatch_namespace(namespace.to_string())
                .with_dimension("Function", function.to_string())
                .emit_zeros(true)
                .init()
                .map_err(|e| e.to_string())?;
            for name in METRIC_NAMES {
                metrics::describe_counter!(name, Unit::Count, "");
            }
            Ok(collector)
        });
        match result {
            Ok(collector) => Ok(EmfMetrics { collector }),
            Err(e) => Err(EmfError(e.clone())),
        }
    }

    /// Adds the totals to the counters (all of them, so zeros are emitted too).
    pub fn record(&self, totals: &Totals) {
        for (name, value) in METRIC_NAMES.into_iter().zip(totals.values()) {
            metrics::counter!(name).increment(value);
        }
    }

    /// Writes one EMF JSON line holding the counters since the last flush, and resets them.
    pub fn flush(&self, out: impl std::io::Write) -> std::io::Result<()> {
        self.collector.flush(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_emf_document_with_all_totals() {
        let emf = EmfMetrics::init(NAMESPACE, "consumer").unwrap();
        emf.record(&Totals {
            records: 500,
            decoded: 497,
            set_aside: 3,
            duplicates: 10,
            entered: 42,
            exited: 7,
            sync_failures: 0,
            parked: 1,
            quarantined: 2,
            deferred: 0,
        });
        emf.record(&Totals {
            records: 5,
            ..Totals::default()
        });
        let mut out = Vec::new();
        emf.flush(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let doc: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        let cw = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], NAMESPACE);
        assert_eq!(cw["Dimensions"][0][0], "Function");
        assert_eq!(doc["Function"], "consumer");
        assert!(doc["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
        let names: Vec<&str> = cw["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for name in METRIC_NAMES {
            assert!(names.contains(&name), "{name} missing in {text}");
        }
        assert!(
            cw["Metrics"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["Unit"] == "Count"),
            "{text}"
        );
        assert_eq!(doc["Records"], 505);
        assert_eq!(doc["SetAside"], 3);
        assert_eq!(doc["SyncFailures"], 0, "zeros are emitted");
        assert_eq!(doc["Parked"], 1);
        assert_eq!(doc["Quarantined"], 2);
        // Counters reset after a flush; the same recorder comes back from a second init.
        let again = EmfMetrics::init("Other", "x").unwrap();
        let mut out = Vec::new();
        again.flush(&mut out).unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(String::from_utf8(out).unwrap().trim()).unwrap();
        assert_eq!(doc["Records"], 0);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
    }
}
