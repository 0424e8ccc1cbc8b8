//! The embedded store passes the conformance suite, in memory and on disk.

#[tokio::test]
async fn embedded_store_in_memory_conforms() {
    let store = audience_store_sqlite::EmbeddedStore::in_memory().unwrap();
    audience_testkit::conformance::run(&store).await;
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
