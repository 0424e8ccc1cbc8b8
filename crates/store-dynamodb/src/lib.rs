//! The DynamoDB state store: [`DynamoStore`] implements [`audience_store::StateStore`] on one
//! table (string `PK`/`SK`, no index). Tests run it against DynamoDB Local, started by
//! `audience_testkit::dynamodb_local`.
//!
//! Design decisions (the full item layout, costs and dashboard queries are in
//! `docs/dynamodb.md`):
//!
//! - **One conditional PutItem per changed user per batch, no transaction.** The user item
//!   holds a compact binary state (memberships included) and, when the commit has consequences
//!   (membership, counter, outbox, link writes), a *pending fan-out* record written by the same
//!   put. The consequences are then written with idempotent operations keyed by the batch's
//!   fan-out ID, and the record removed; a crash in between is completed by the next reader of
//!   the user (`pending`, `fanout`). Transactions bill twice and cap at 100 actions; this has
//!   neither cost nor ceiling. Only folding identities (rare) uses a small transaction.
//! - **Per-batch items, never hot ones.** Counters, user counts, outbox entries and the due
//!   index are sets on items keyed by the batch's fan-out ID: one `ADD` per batch and key,
//!   idempotent, no item shared by concurrent writers; readers sum set sizes.
//! - **Folded, so reads stay small.** The sweep folds deltas older than a margin into one
//!   base item per segment (plus one per segment and day, and one for user counts) in
//!   conditional transactions (`fold`); readers add the base to the deltas left.
//! - **No scans but `scan_users`.** A small registry partition lists the segments, outbox
//!   queues and due days that exist, written once per store instance per name.

pub mod metrics;

mod commit;
mod due;
mod erase;
mod errors;
mod fanout;
mod fold;
mod keys;
mod lease;
mod members;
mod ops;
mod outbox;
mod pending;
mod registry;
mod schema;
mod sizes;
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
    /// Registry sort keys already written by this instance (segments, outbox queues, days).
    registered: Arc<Mutex<HashSet<String>>>,
    /// Where the due entries listed by the last `due_users` are, for `due_done`.
    due_refs: Arc<Mutex<due::DueRefs>>,
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
            due_refs: Arc::new(Mutex::new(Default::default())),
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
