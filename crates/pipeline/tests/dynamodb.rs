//! The `rules apply` scenarios against DynamoDB Local (parallel scan parts for real).

use audience_testkit::dynamodb_local::DynamoDbLocal;
use audience_testkit::rules_apply;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// DynamoDB Local shared by this test binary; a failure to start is a test failure.
async fn dynamodb() -> Arc<DynamoDbLocal> {
    match DynamoDbLocal::shared().await {
        Ok(local) => local,
        Err(e) => panic!("DynamoDB Local could not start (needs Java 17 and npm; see scripts/ensure-dynamodb-local.sh): {e}"),
    }
}

static TABLES: AtomicUsize = AtomicUsize::new(0);

/// A unique table name for one test.
fn table(prefix: &str) -> String {
    format!("{prefix}-{}", TABLES.fetch_add(1, Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_publishes_a_rules_change_on_dynamodb() {
    let local = dynamodb().await;
    rules_apply::apply_publishes_a_rules_change(&local.store(&table("apply")).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_dropped_segments_are_explicit_on_dynamodb() {
    let local = dynamodb().await;
    rules_apply::dropped_segments_are_explicit(&local.store(&table("drop")).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_second_run_waits_for_the_lease_on_dynamodb() {
    let local = dynamodb().await;
    rules_apply::a_second_run_waits_for_the_lease(&local.store(&table("lease")).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_interrupted_resumes_to_the_same_result_on_dynamodb() {
    let local = dynamodb().await;
    rules_apply::an_interrupted_apply_resumes_to_the_same_result(|| {
        let local = local.clone();
        async move { local.store(&table("resume")).await }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_respects_events_during_the_run_on_dynamodb() {
    let local = dynamodb().await;
    rules_apply::events_during_the_apply_are_respected(|| {
        let local = local.clone();
        async move { local.store(&table("during")).await }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_quarantines_an_unreadable_user_on_dynamodb() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let local = dynamodb().await;
    let store = local.store(&table("unreadable")).await;
    let corrupt = async {
        store
            .client()
            .update_item()
            .table_name(store.table())
            .key("PK", AttributeValue::S("U#u0".into()))
            .key("SK", AttributeValue::S("S".into()))
            .update_expression("SET b = :b")
            .expression_attribute_values(":b", AttributeValue::B(vec![2, 0xff, 0xff, 0].into()))
            .send()
            .await
            .unwrap();
    };
    rules_apply::an_unreadable_user_is_quarantined(&store, corrupt).await;
}
