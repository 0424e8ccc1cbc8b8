//! The sweep Lambda (scheduled): re-evaluates users whose next time-based flip has passed,
//! through the due index, a page at a time, so exits happen on time. Then its upkeep: folds
//! counter deltas (a bounded amount per run), records the segment sizes and checks size
//! alerts, emitting `SegmentSize` per segment and `AlertTriggered` as EMF metrics.

use audience_lambda::emf::NAMESPACE;
use audience_lambda::size_metrics::size_metric_lines;
use audience_lambda::{init_tracing, Shared};
use audience_store::FoldLimits;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let shared = Shared::from_env().await?;
    lambda_runtime::run(service_fn(|_event: LambdaEvent<serde_json::Value>| {
        let shared = shared.clone();
        async move {
            let now = audience_clock::now_millis();
            let store = shared.store.as_ref();
            let out = audience_pipeline::sweep(store, &shared.rules, now, 500).await?;
            let upkeep =
                audience_pipeline::upkeep(store, &shared.rules, now, &FoldLimits::default())
                    .await?;
            let flagged = upkeep.flagged().count();
            let function =
                std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".to_string());
            for line in size_metric_lines(NAMESPACE, &function, now, &upkeep.sizes, flagged) {
                println!("{line}");
            }
            tracing::info!(
                users = out.users,
                changes = out.changes.len(),
                conflicts = out.conflicts,
                folded = upkeep.fold.folded_items,
                fold_more = upkeep.fold.more,
                alerts = flagged,
                "sweep done"
            );
            Ok::<_, Error>(serde_json::json!({
                "users": out.users,
                "changes": out.changes.len(),
                "folded": upkeep.fold.folded_items,
                "alerts": flagged,
            }))
        }
    }))
    .await
}
