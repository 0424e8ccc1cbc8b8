//! CloudWatch metrics for alarms: one EMF line per invocation with the low-cardinality totals
//! (namespace `AudienceStream`, dimension `Function` = the Lambda's name), as the template's
//! alarms and dashboard expect.

use crate::emf::{EmfMetrics, Totals, NAMESPACE};

/// Emits `totals` as one EMF line on stdout. Metrics never fail an invocation: a recorder
/// that cannot be installed is logged and skipped.
pub fn emit(totals: &Totals) {
    let function =
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".to_string());
    let namespace = std::env::var("AUDIENCE_STREAM_METRICS_NAMESPACE")
        .unwrap_or_else(|_| NAMESPACE.to_string());
    match EmfMetrics::init(&namespace, &function) {
        Ok(emf) => {
            emf.record(totals);
            if let Err(e) = emf.flush(std::io::stdout()) {
                tracing::warn!(error = %e, "cannot write metrics");
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics disabled"),
    }
}
