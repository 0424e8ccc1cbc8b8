//! Where the bench runs: a DynamoDB endpoint (`--endpoint` / `AWS_ENDPOINT_URL`: DynamoDB
//! Local or real AWS); the temporary tables it creates there (unique names) and their deletion
//! at the end.

use anyhow::{anyhow, Context, Result};
use audience_store_dynamodb::{adaptive_retry, create_table, DynamoStore};
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_dynamodb::Client;
use std::sync::Mutex;

/// The endpoint, its client and the tables created so far.
pub struct Target {
    client: Client,
    endpoint: String,
    prefix: String,
    tables: Mutex<Vec<String>>,
}

impl Target {
    /// Connects to `endpoint` (standard AWS credential chain, region defaulting to
    /// us-east-1).
    pub async fn connect(endpoint: &str) -> Result<Target> {
        let client = client_for(endpoint).await;
        let stamp = audience_clock::now_millis();
        Ok(Target {
            client,
            endpoint: endpoint.to_string(),
            prefix: format!("audience-bench-{}-{stamp}", std::process::id()),
            tables: Mutex::new(Vec::new()),
        })
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates a temporary table named after `suffix` and returns its name.
    pub async fn table(&self, suffix: &str) -> Result<String> {
        let name = format!("{}-{suffix}", self.prefix);
        self.tables
            .lock()
            .map_err(|_| anyhow!("table list poisoned"))?
            .push(name.clone());
        create_table(&self.client, &name)
            .await
            .with_context(|| format!("cannot create table {name} on {}", self.endpoint))?;
        Ok(name)
    }

    /// A store on a new temporary table.
    pub async fn store(&self, suffix: &str) -> Result<DynamoStore> {
        let name = self.table(suffix).await?;
        Ok(DynamoStore::new(self.client.clone(), name))
    }

    /// Deletes every table created; reports the first failure after trying them all.
    pub async fn delete_tables(&self) -> Result<()> {
        let names = std::mem::take(
            &mut *self
                .tables
                .lock()
                .map_err(|_| anyhow!("table list poisoned"))?,
        );
        let mut first_error = None;
        for name in names {
            let deleted = self.client.delete_table().table_name(&name).send().await;
            if let Err(e) = deleted {
                let not_found = e
                    .as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception());
                if !not_found && first_error.is_none() {
                    first_error = Some(anyhow!(
                        "cannot delete temporary table {name} on {}: {}",
                        self.endpoint,
                        aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                    ));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// A client for `url` with the standard configuration chain and adaptive retries.
async fn client_for(url: &str) -> Client {
    let region = RegionProviderChain::default_provider().or_else("us-east-1");
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(region)
        .endpoint_url(url)
        .load()
        .await;
    let config = adaptive_retry(aws_sdk_dynamodb::config::Builder::from(&shared)).build();
    Client::from_conf(config)
}
