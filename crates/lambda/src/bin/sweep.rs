//! The sweep Lambda (scheduled): re-evaluates users whose next time-based flip has passed,
//! through the due index, a page at a time, so exits happen on time.

use audience_lambda::{init_tracing, Shared};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let shared = Shared::from_env().await?;
    lambda_runtime::run(service_fn(|_event: LambdaEvent<serde_json::Value>| {
        let shared = shared.clone();
        async move {
            let now = audience_clock::now_millis();
            let out =
                audience_pipeline::sweep(shared.store.as_ref(), &shared.rules, now, 500).await?;
            tracing::info!(
                users = out.users,
                changes = out.changes.len(),
                conflicts = out.conflicts,
                "sweep done"
            );
            Ok::<_, Error>(serde_json::json!({"users": out.users, "changes": out.changes.len()}))
        }
    }))
    .await
}
