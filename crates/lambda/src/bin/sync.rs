//! The sync Lambda (EventBridge schedule): drains LINE and Pinpoint outboxes within the
//! invocation's remaining time; whatever does not fit stays pending for the next run.

use audience_lambda::secret::SecretLookup;
use audience_lambda::{init_tracing, metrics, Shared};
use audience_sync::{
    wall_clock_ms, LineCredentials, SegmentOutcome, SyncConfig, SyncContext, SyncRunner,
};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::time::Duration;

/// Time kept back from the Lambda deadline for writing the ledger and returning.
const SAFETY_MARGIN: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let shared = Shared::from_env().await?;
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let secret = SecretLookup::load(&aws).await?;
    let mut config = SyncConfig::load(None)?;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    config.pinpoint.application_id =
        env("PINPOINT_APPLICATION_ID").or(config.pinpoint.application_id);
    config.pinpoint.bucket = env("PINPOINT_IMPORT_BUCKET").or(config.pinpoint.bucket);
    config.pinpoint.role_arn = env("PINPOINT_IMPORT_ROLE_ARN").or(config.pinpoint.role_arn);
    if let Some(prefix) = env("PINPOINT_IMPORT_PREFIX") {
        config.pinpoint.prefix = prefix;
    }
    config.validate()?;
    let lookup = move |name: &str| secret.get(name);
    let destinations = audience_sync::destinations(
        &config,
        &shared.rules,
        None,
        false,
        LineCredentials::Lookup(&lookup),
    )
    .await?;
    let runner = SyncRunner::new(destinations);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let (shared, runner) = (&shared, &runner);
        async move {
            let remaining = event
                .context
                .deadline()
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default()
                .saturating_sub(SAFETY_MARGIN);
            let ctx = SyncContext::new(shared.store.as_ref(), wall_clock_ms(), remaining);
            let report = runner.run(&ctx, &shared.rules, None).await?;
            let failed = report
                .segments
                .iter()
                .filter(|s| s.outcome == SegmentOutcome::Error)
                .count() as u64;
            let parked = report
                .segments
                .iter()
                .filter(|s| s.outcome == SegmentOutcome::Parked)
                .count() as u64;
            metrics::emit(&audience_dashboard::emf::Totals {
                sync_failures: failed,
                parked,
                ..Default::default()
            });
            tracing::info!(
                segments = report.segments.len(),
                failed,
                parked,
                deadline_reached = report.deadline_reached,
                "sync done"
            );
            Ok::<_, Error>(serde_json::to_value(&report)?)
        }
    }))
    .await
}
