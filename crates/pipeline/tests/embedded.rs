//! The delivery and `rules apply` scenarios against the embedded store.

use audience_store_sqlite::EmbeddedStore;
use audience_testkit::{rules_apply, scenarios};

fn store() -> EmbeddedStore {
    EmbeddedStore::in_memory().unwrap()
}

#[tokio::test]
async fn redelivery_is_idempotent() {
    scenarios::redelivery_is_idempotent(&store()).await;
}

#[tokio::test]
async fn crash_then_retry_converges() {
    scenarios::crash_then_retry_converges(|| async { store() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_lose_nothing() {
    scenarios::concurrent_invocations_lose_nothing(&store()).await;
}

#[tokio::test]
async fn identity_links_and_folding() {
    scenarios::identity_links_and_folding(&store()).await;
}

#[tokio::test]
async fn sweep_exits_on_time() {
    scenarios::sweep_exits_on_time(&store()).await;
}

#[tokio::test]
async fn a_late_line_id_is_queued_for_line() {
    scenarios::a_late_line_id_is_queued_for_line(&store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_records_of_one_shard_in_parallel() {
    scenarios::out_of_order_records_of_one_shard_in_parallel(&store()).await;
}

#[tokio::test]
async fn a_resent_event_counts_once() {
    scenarios::a_resent_event_counts_once(&store()).await;
}

#[tokio::test]
async fn daily_history_follows_the_time_zone() {
    scenarios::daily_history_follows_the_time_zone(&store()).await;
}

// `rules apply` on the embedded store.

#[tokio::test]
async fn apply_publishes_a_rules_change() {
    rules_apply::apply_publishes_a_rules_change(&store()).await;
}

#[tokio::test]
async fn apply_dropped_segments_are_explicit() {
    rules_apply::dropped_segments_are_explicit(&store()).await;
}

#[tokio::test]
async fn apply_second_run_waits_for_the_lease() {
    rules_apply::a_second_run_waits_for_the_lease(&store()).await;
}

#[tokio::test]
async fn apply_interrupted_resumes_to_the_same_result() {
    rules_apply::an_interrupted_apply_resumes_to_the_same_result(|| async { store() }).await;
}

#[tokio::test]
async fn apply_respects_events_during_the_run() {
    rules_apply::events_during_the_apply_are_respected(|| async { store() }).await;
}

#[tokio::test]
async fn apply_quarantines_an_unreadable_user() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let store = EmbeddedStore::open(&path).unwrap();
    let corrupt = async {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let n = conn
            .execute("UPDATE users SET state = x'02ffff00' WHERE key = 'u0'", [])
            .unwrap();
        assert_eq!(n, 1, "u0 was stored by the seed");
    };
    rules_apply::an_unreadable_user_is_quarantined(&store, corrupt).await;
}

#[tokio::test]
async fn erasure_races_a_consumer_write() {
    audience_testkit::erasure::erasure_races_a_consumer_write(&store()).await;
}
