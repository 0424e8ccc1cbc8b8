//! The handler on fixture events with the embedded store: set-aside records are not failures;
//! a user whose commit fails is reported by its sequence numbers only.

use crate::util::*;
use audience_lambda::consumer;
use audience_store::StateStore;
use audience_store_sqlite::EmbeddedStore;
use audience_testkit::scenarios::failing_store;
use std::sync::Arc;

#[tokio::test]
async fn malformed_records_are_set_aside_not_reported() {
    let store: Arc<dyn StateStore> = Arc::new(EmbeddedStore::in_memory().unwrap());
    let shared = shared(store.clone());
    let event = envelope("malformed/kinesis-malformed.json");
    let total = event.records.len();
    let response = consumer::handle(&shared, event, NOW).await.unwrap();
    assert!(
        response.batch_item_failures.is_empty(),
        "malformed records must not stall the shard"
    );
    let batches = store.batches(0, i32::MAX).await.unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].records as usize, total);
    assert_eq!(
        batches[0].set_aside, 7,
        "{:?}",
        batches[0].set_aside_reasons
    );
    assert_eq!(batches[0].decoded as usize, total - 7);
    assert!(
        store.user_count().await.unwrap() > 0,
        "the good records were applied"
    );
}

#[tokio::test]
async fn a_failing_user_is_reported_by_its_own_sequence_numbers() {
    let inner = EmbeddedStore::in_memory().unwrap();
    // Let the first user commit fail (write 0), the rest succeed.
    let failing = failing_store(&inner, 0);
    // The failing wrapper borrows the store, so drive the pipeline the handler calls.
    let event = envelope("seed-002-kinesis.json");
    let records = event.to_raw();
    let outcome =
        audience_pipeline::process_batch(&failing, &rules(), &records, NOW, &Default::default())
            .await
            .unwrap();
    assert_eq!(outcome.failed.len(), 1);
    assert_eq!(
        outcome.failed[0].0.seq,
        "49599259535682552348557865618060497301418154171654209538"
    );

    // The handler turns such failures into the partial batch response, by sequence number.
    let store: Arc<dyn StateStore> = Arc::new(EmbeddedStore::in_memory().unwrap());
    let ok = consumer::handle(&shared(store), envelope("seed-002-kinesis.json"), NOW)
        .await
        .unwrap();
    assert!(
        ok.batch_item_failures.is_empty(),
        "a healthy store reports no failure"
    );
}

#[tokio::test]
async fn past_the_deadline_no_commit_starts_and_records_are_reported_for_redelivery() {
    let store: Arc<dyn StateStore> = Arc::new(EmbeddedStore::in_memory().unwrap());
    let shared = shared(store.clone());
    let event = envelope("malformed/kinesis-malformed.json");
    let total = event.records.len();
    let stop = std::time::Instant::now();
    let response = consumer::handle_until(&shared, event, NOW, Some(stop))
        .await
        .unwrap();
    assert_eq!(
        response.batch_item_failures.len(),
        total - 7,
        "every decodable record is reported (the 7 malformed ones are set aside, not retried)"
    );
    assert_eq!(
        store.user_count().await.unwrap(),
        0,
        "nothing was committed"
    );
}
