//! The HTTP event collector Lambda (Function URL, AuthType NONE: the write key is the
//! authentication): Segment-style batches, calls and JSON Lines onto the Kinesis stream.

use std::sync::Arc;

use audience_collector::Collector;
use audience_lambda::{collector, init_tracing};
use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let keys = collector::write_keys(&aws).await?;
    let limits = collector::limits_from_env()?;
    // Answer fast: retry briefly, then 503 and let the client send again.
    let sender = audience_lambda::stream_out::request_path_sender(&aws)?;
    let collector = Collector::new(keys, limits, Arc::new(sender));
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<LambdaFunctionUrlRequest>| {
            let collector = &collector;
            async move { Ok::<_, Error>(collector::handle(collector, &event.payload).await) }
        },
    ))
    .await
}
