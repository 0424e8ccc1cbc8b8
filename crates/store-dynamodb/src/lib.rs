//! The DynamoDB state store: [`DynamoStore`] implements [`audience_store::StateStore`] on one
//! table (string `PK`/`SK`, one overloaded GSI), plus [`local::DynamoDbLocal`], which starts
//! Amazon's DynamoDB Local for tests.
//!
//! Design decisions (the full item layout, costs and dashboard queries are in
//! `docs/dynamodb.md`):
//!
//! - **One write per touched user per batch.** A commit is one `TransactWriteItems` holding the
//!   user item (conditional on its version), membership puts/deletes, outbox puts, link puts,
//!   the absorbed identity's conditional delete and the counter deltas. A commit that changes
//!   nothing but the user item is a single conditional `PutItem`, which bills half as much.
//! - **No hot items in transactions.** Segment counters and daily history are per-batch delta
//!   items (`C#<segment>` / `<day>#<batch_id>#<user bucket>`) updated with `ADD` inside the
//!   user's transaction, so the delta commits exactly once with the user; readers sum them.
//!   The due-for-re-evaluation index is spread over 16 GSI partitions by user hash.
//! - **No scans but `scan_users`.** A small registry partition lists the segments and outbox
//!   queues that exist, written once per store instance per name, not once per commit.

pub mod local;
pub mod metrics;

mod commit;
mod consistent_members;
mod errors;
mod keys;
mod lease;
mod ops;
mod schema;
mod store;

pub use metrics::{Metrics, MetricsSnapshot};
pub use schema::create_table;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::Client;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// How many attempts the SDK makes per request (adaptive retry mode: client-side rate
/// limiting on throttling, exponential backoff on transient errors).
pub const SDK_MAX_ATTEMPTS: u32 = 5;

/// The DynamoDB-backed state store. Cheap to clone; clones share the client and metrics.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    metrics: Arc<Metrics>,
    /// Registry sort keys already written by this instance (segments, outbox queues).
    registered: Arc<Mutex<HashSet<String>>>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl DynamoStore {
    /// A store on `table` using `client` as configured by the caller (use
    /// [`adaptive_retry`] on its config for the recommended retry mode).
    pub fn new(client: Client, table: String) -> Self {
        DynamoStore {
            client,
            table,
            metrics: Arc::new(Metrics::default()),
            registered: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// A store on `table` with the SDK's standard configuration chain (so `AWS_ENDPOINT_URL`
    /// or `AWS_ENDPOINT_URL_DYNAMODB` points it at DynamoDB Local) and adaptive retries.
    pub async fn from_env(table: impl Into<String>) -> Self {
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let config = adaptive_retry(aws_sdk_dynamodb::config::Builder::from(&shared)).build();
        DynamoStore::new(Client::from_conf(config), table.into())
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Request and capacity accounting shared by this store and its clones.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// The live metrics counters (to share with a bench reporter).
    pub fn metrics_handle(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }
}

/// Sets adaptive retry mode ([`SDK_MAX_ATTEMPTS`] attempts) on a client config builder.
pub fn adaptive_retry(
    builder: aws_sdk_dynamodb::config::Builder,
) -> aws_sdk_dynamodb::config::Builder {
    builder.retry_config(RetryConfig::adaptive().with_max_attempts(SDK_MAX_ATTEMPTS))
}
