//! The LINE webhook Lambda (Function URL): signature check, follow/unfollow events onto
//! Kinesis, 200 at once.

use audience_lambda::secret::SecretLookup;
use audience_lambda::{init_tracing, webhook};
use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let secret = SecretLookup::load(&aws).await?;
    let channel_secret = secret
        .get("LINE_CHANNEL_SECRET")
        .filter(|s| !s.is_empty())
        .ok_or("LINE_CHANNEL_SECRET is not in the LINE secret or the environment")?;
    let record_key = audience_lambda::secret::record_key(&aws).await?.ok_or(
        "no record signing key: set AUDIENCE_STREAM_RECORD_KEY_SECRET_ARN (or AUDIENCE_STREAM_RECORD_KEY); \
         the consumer believes LINE follow/unfollow records only when they are signed with it",
    )?;
    // LINE waits a few seconds for an answer: retry briefly, then let LINE redeliver.
    let sender = audience_lambda::stream_out::request_path_sender(&aws)?;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<LambdaFunctionUrlRequest>| {
            let (secret, key, sender) = (channel_secret.as_bytes(), &record_key, &sender);
            async move {
                Ok::<_, Error>(webhook::handle(secret, key, &event.payload, sender).await)
            }
        },
    ))
    .await
}
