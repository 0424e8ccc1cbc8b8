//! Table creation: the single table (`PK`/`SK` strings, no index), on-demand billing and TTL
//! on `ttl`. Idempotent: an existing table is left as it is.

use crate::errors::sdk_error;
use crate::keys::{A_TTL, PK, SK};
use audience_store::StoreError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_dynamodb::Client;
use std::time::Duration;

/// How long to wait for a new table to become ACTIVE.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

fn build_err(what: &str, table: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!(
        "cannot build {what} request for table `{table}`: {e}"
    ))
}

/// Creates `table` (on-demand billing) and enables TTL on `ttl`. An existing
/// table is fine (its TTL is still enabled if it was not).
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| build_err("CreateTable", table, e))
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| build_err("CreateTable", table, e))
    };
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(PK)?)
        .attribute_definitions(attr(SK)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .send()
        .await;
    match created {
        Ok(_) => tracing::info!(table, "created DynamoDB table"),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            tracing::info!(table, "DynamoDB table already exists");
        }
        Err(e) => return Err(sdk_error("CreateTable", table, e)),
    }
    wait_active(client, table).await?;
    enable_ttl(client, table).await
}

async fn wait_active(client: &Client, table: &str) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    loop {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeTable", table, e))?;
        let t = described.table();
        let table_active = t.and_then(|t| t.table_status()) == Some(&TableStatus::Active);
        let indexes_active = t
            .map(|t| t.global_secondary_indexes())
            .unwrap_or_default()
            .iter()
            .all(|g| {
                g.index_status()
                    .is_none_or(|s| *s == aws_sdk_dynamodb::types::IndexStatus::Active)
            });
        if table_active && indexes_active {
            return Ok(());
        }
        if started.elapsed() > ACTIVE_TIMEOUT {
            return Err(StoreError::Unavailable(format!(
                "DynamoDB table `{table}` did not become ACTIVE within {}s",
                ACTIVE_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn enable_ttl(client: &Client, table: &str) -> Result<(), StoreError> {
    let current = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeTimeToLive", table, e))?;
    if let Some(d) = current.time_to_live_description() {
        if matches!(
            d.time_to_live_status(),
            Some(TimeToLiveStatus::Enabled) | Some(TimeToLiveStatus::Enabling)
        ) {
            return match d.attribute_name() {
                Some(A_TTL) | None => Ok(()),
                Some(other) => Err(StoreError::Other(format!(
                    "DynamoDB table `{table}` has TTL on attribute `{other}`, this store expects `{A_TTL}`"
                ))),
            };
        }
    }
    let spec = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(A_TTL)
        .build()
        .map_err(|e| build_err("UpdateTimeToLive", table, e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(spec)
        .send()
        .await
        .map_err(|e| sdk_error("UpdateTimeToLive", table, e))?;
    Ok(())
}
