//! The sync Lambda (EventBridge schedule): drains LINE and Pinpoint outboxes within the
//! invocation's remaining time; whatever does not fit stays pending for the next run. One run
//! at a time (the store's `sync` lease; the template also reserves a concurrency of 1). Each
//! LINE audience rotation is also an EMF metric and a notice on the bus (`rotation_notice`).

use audience_lambda::secret::SecretLookup;
use audience_lambda::{init_tracing, rotation_notice, sync, Shared};
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
    let settings = sync::settings(&|name| std::env::var(name).ok())?;
    let lookup = move |name: &str| secret.get(name);
    let runner = sync::runner(&shared, &settings, &lookup).await?;
    // Rotation notices go to the default bus (the template routes them to RotationTopic).
    let notices = aws_sdk_eventbridge::Client::new(&aws);
    let notice_config = audience_eventbridge::EventBridgeConfig::from_env()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let (shared, runner) = (&shared, &runner);
        let (notices, notice_config) = (&notices, &notice_config);
        async move {
            let remaining = event
                .context
                .deadline()
                .duration_since(audience_clock::now())
                .unwrap_or_default()
                .saturating_sub(SAFETY_MARGIN);
            let request = sync::SyncRequest::from_event(&event.payload)?;
            let report = sync::invoke_request(shared, runner, remaining, &request).await?;
            rotation_notice::notify(
                &report,
                audience_lambda::emf::NAMESPACE,
                audience_clock::now_millis(),
                notices,
                notice_config,
            )
            .await;
            Ok::<_, Error>(serde_json::to_value(&report)?)
        }
    }))
    .await
}
