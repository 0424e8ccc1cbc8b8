//! The attribute loader Lambda: S3 `ObjectCreated` notifications of the attributes bucket;
//! each announced JSON Lines file of user-attribute rows goes onto the Kinesis stream as
//! `_import.attributes` events (see `audience_lambda::attributes`).

use std::sync::Arc;

use audience_lambda::attributes::{mapping_from_env, AttributeLoader};
use audience_lambda::env::rules_from_env;
use audience_lambda::init_tracing;
use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let rules = rules_from_env()?;
    let mapping = mapping_from_env(&rules.decode.line_user_id_attribute)?;
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let sender = audience_lambda::stream_out::batch_sender(&aws)?;
    let loader = AttributeLoader::new(aws_sdk_s3::Client::new(&aws), Arc::new(sender), mapping);
    lambda_runtime::run(service_fn(|event: LambdaEvent<S3Event>| {
        let loader = &loader;
        async move {
            let reports = loader.handle(&event.payload).await?;
            Ok::<_, Error>(serde_json::json!({ "objects": reports }))
        }
    }))
    .await
}
