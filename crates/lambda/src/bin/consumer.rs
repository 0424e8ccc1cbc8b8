//! The consumer Lambda: Kinesis batches of Pinpoint events → user state in DynamoDB.

use audience_core::KinesisEnvelope;
use audience_lambda::{consumer, init_tracing, Shared};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let shared = Shared::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<KinesisEnvelope>| {
        let shared = shared.clone();
        async move {
            let now = audience_clock::now_millis();
            // Stop starting commits 5 s before the invocation's deadline.
            let left = event
                .context
                .deadline
                .saturating_sub(u64::try_from(now).unwrap_or(0));
            let stop = std::time::Instant::now()
                + std::time::Duration::from_millis(left.saturating_sub(5_000));
            Ok::<_, Error>(consumer::handle_until(&shared, event.payload, now, Some(stop)).await?)
        }
    }))
    .await
}
