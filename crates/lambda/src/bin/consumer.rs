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
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or_default();
            Ok::<_, Error>(consumer::handle(&shared, event.payload, now).await?)
        }
    }))
    .await
}
