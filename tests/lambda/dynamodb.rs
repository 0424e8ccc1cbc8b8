//! Against DynamoDB Local: the handler on the fixture batches (table contents equal the
//! embedded store's), redelivery, and the pipeline's delivery scenarios.

use crate::util::*;
use audience_lambda::consumer;
use audience_store::StateStore;
use audience_store_sqlite::EmbeddedStore;
use audience_testkit::scenarios;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_on_fixture_batches_matches_the_embedded_store() {
    let local = dynamodb().await;
    let dynamo: Arc<dyn StateStore> = Arc::new(local.store(&table("handler")).await);
    let embedded: Arc<dyn StateStore> = Arc::new(EmbeddedStore::in_memory().unwrap());
    for store in [&dynamo, &embedded] {
        let shared = shared(store.clone());
        for name in [
            "kinesis-batch-1.json",
            "kinesis-batch-2.json",
            "malformed/kinesis-malformed.json",
        ] {
            let response = consumer::handle(&shared, envelope(name), NOW)
                .await
                .unwrap();
            assert!(
                response.batch_item_failures.is_empty(),
                "{name}: {:?}",
                response.batch_item_failures
            );
        }
    }
    let d = scenarios::snapshot(dynamo.as_ref()).await;
    let e = scenarios::snapshot(embedded.as_ref()).await;
    assert_eq!(d.counts, e.counts, "segment counters");
    assert_eq!(d.members, e.members, "memberships");
    assert_eq!(d.pending, e.pending, "outbox");
    assert_eq!(d.users.len(), e.users.len());
    assert!(d.counts["hyogo"].members > 0);

    // Redelivery of a whole batch changes nothing.
    let shared = shared(dynamo.clone());
    consumer::handle(&shared, envelope("kinesis-batch-2.json"), NOW)
        .await
        .unwrap();
    assert_eq!(
        scenarios::snapshot(dynamo.as_ref()).await,
        d,
        "redelivery changed DynamoDB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_is_idempotent_on_dynamodb() {
    let local = dynamodb().await;
    scenarios::redelivery_is_idempotent(&local.store(&table("redeliver")).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_then_retry_converges_on_dynamodb() {
    let local = dynamodb().await;
    scenarios::crash_then_retry_converges(|| {
        let local = local.clone();
        async move { local.store(&table("crash")).await }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_lose_nothing_on_dynamodb() {
    let local = dynamodb().await;
    scenarios::concurrent_invocations_lose_nothing(&local.store(&table("concurrent")).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_links_and_folding_on_dynamodb() {
    let local = dynamodb().await;
    scenarios::identity_links_and_folding(&local.store(&table("identity")).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_exits_on_time_on_dynamodb() {
    let local = dynamodb().await;
    scenarios::sweep_exits_on_time(&local.store(&table("sweep")).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_records_of_one_shard_in_parallel_on_dynamodb() {
    let local = dynamodb().await;
    scenarios::out_of_order_records_of_one_shard_in_parallel(
        &local.store(&table("parallel")).await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_event_counts_once_on_dynamodb() {
    let local = dynamodb().await;
    scenarios::a_resent_event_counts_once(&local.store(&table("resent")).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_history_follows_the_time_zone_on_dynamodb() {
    let local = dynamodb().await;
    scenarios::daily_history_follows_the_time_zone(&local.store(&table("tz")).await).await;
}
