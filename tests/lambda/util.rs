//! Shared helpers: fixture envelopes, a Shared built around any store, DynamoDB Local.

#![allow(dead_code)]

use audience_core::{KinesisEnvelope, Rules};
use audience_lambda::Shared;
use audience_store::StateStore;
use audience_testkit::dynamodb_local::DynamoDbLocal;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// 2025-12-01T00:00:00Z, the newest fixture event.
pub const NOW: i64 = 1_764_547_200_000;

pub fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()))
        .join("../../fixtures")
        .join(name)
}

pub fn envelope(name: &str) -> KinesisEnvelope {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn rules() -> Arc<Rules> {
    let text = std::fs::read_to_string(fixture("segments.yaml")).unwrap();
    Arc::new(Rules::load(&text, "segments.yaml").unwrap())
}

pub fn shared(store: Arc<dyn StateStore>) -> Shared {
    Shared {
        store,
        rules: rules(),
    }
}

/// DynamoDB Local shared by this test binary; a failure to start is a test failure.
pub async fn dynamodb() -> Arc<DynamoDbLocal> {
    match DynamoDbLocal::shared().await {
        Ok(local) => local,
        Err(e) => panic!("DynamoDB Local could not start (needs Java 17 and npm; see scripts/ensure-dynamodb-local.sh): {e}"),
    }
}

static TABLES: AtomicUsize = AtomicUsize::new(0);

/// A unique table name for one test.
pub fn table(prefix: &str) -> String {
    format!("{prefix}-{}", TABLES.fetch_add(1, Ordering::SeqCst))
}
