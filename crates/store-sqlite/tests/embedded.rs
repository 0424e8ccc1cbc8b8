//! The embedded store passes the conformance suite, in memory and on disk, and keeps SQLite
//! work off the async runtime.

#[tokio::test]
async fn embedded_store_in_memory_conforms() {
    let store = audience_store_sqlite::EmbeddedStore::in_memory().unwrap();
    audience_testkit::conformance::run(&store).await;
}

#[tokio::test]
async fn folding_changes_no_total() {
    // SQLite's counters are one row per segment (and day): the fold is the default no-op,
    // and the same check as DynamoDB's holds.
    let store = audience_store_sqlite::EmbeddedStore::in_memory().unwrap();
    audience_testkit::conformance::folding(&store).await;
}

#[tokio::test]
async fn embedded_store_on_disk_conforms_and_persists() {
    use audience_store::StateStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/state.db");
    {
        let store = audience_store_sqlite::EmbeddedStore::open(&path).unwrap();
        audience_testkit::conformance::run(&store).await;
    }
    let reopened = audience_store_sqlite::EmbeddedStore::open(&path).unwrap();
    assert!(
        reopened.user_count().await.unwrap() > 0,
        "state survives a reopen"
    );
}

/// A write that waits on SQLite's lock must not stall the runtime: on a single-threaded runtime
/// a timer set after the write started fires while the write is still waiting. (Were the
/// SQLite call made on the runtime's thread, the timer could only fire after the write.)
#[tokio::test(flavor = "current_thread")]
async fn a_waiting_write_leaves_the_runtime_free() {
    use audience_store::StateStore;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = audience_store_sqlite::EmbeddedStore::open(&path).unwrap();
    // Another connection holds the write lock for a second, then commits.
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let holder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1_000));
        blocker.execute_batch("COMMIT").unwrap();
    });
    let value = serde_json::json!({"audience_id": 42});
    let write = async {
        store
            .put_destination_state("line", "buyer", &value)
            .await
            .unwrap();
        Instant::now()
    };
    let timer = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Instant::now()
    };
    let (written_at, fired_at) = tokio::join!(write, timer);
    holder.join().unwrap();
    assert!(
        fired_at < written_at,
        "the timer fired {:?} after the write finished: SQLite blocked the runtime",
        fired_at.duration_since(written_at)
    );
    assert_eq!(
        store.destination_state("line", "buyer").await.unwrap(),
        Some(value),
        "the write went through once the lock was released"
    );
}
