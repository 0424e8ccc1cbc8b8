//! The registry partition (`REG`): the segments, outbox queues and due days that exist, so
//! readers enumerate them with one Query instead of a Scan. Each store instance writes an
//! entry the first time it needs a name (a plain, idempotent BatchWriteItem before the write
//! that needs it) and remembers it, so a warm Lambda writes it once, not once per batch.

use crate::keys::*;
use crate::ops::Item;
use crate::DynamoStore;
use audience_store::{StoreError, StoreResult};
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use std::collections::BTreeSet;

impl DynamoStore {
    /// Registry items whose sort key starts with `prefix`.
    pub(crate) async fn registry(&self, prefix: &str) -> StoreResult<Vec<Item>> {
        self.query_items("Query (registry)", None, || {
            self.client
                .query()
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :p)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(REGISTRY_PK))
                .expression_attribute_values(":p", s(prefix))
        })
        .await
    }

    /// Writes registry items this instance has not written yet.
    pub(crate) async fn register(&self, wanted: &BTreeSet<String>) -> StoreResult<()> {
        let missing: Vec<String> = {
            let done = self.registered.lock().map_err(|_| {
                StoreError::Other(
                    "DynamoDB store registry cache poisoned by an earlier panic".into(),
                )
            })?;
            wanted
                .iter()
                .filter(|k| !done.contains(*k))
                .cloned()
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let requests = missing
            .iter()
            .map(|sk| {
                let mut item = key(REGISTRY_PK, sk.clone());
                if let Some(segment) = sk.strip_prefix("S#") {
                    item.insert(A_SEG.into(), s(segment));
                } else if let Some((dst, segment)) =
                    sk.strip_prefix("O#").and_then(|r| r.split_once('#'))
                {
                    item.insert(A_DST.into(), s(dst));
                    item.insert(A_SEG.into(), s(segment));
                }
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| {
                        StoreError::Other(format!("cannot build registry item `{sk}`: {e}"))
                    })?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write("BatchWriteItem (registry)", requests)
            .await?;
        if let Ok(mut done) = self.registered.lock() {
            done.extend(missing);
        }
        Ok(())
    }
}
