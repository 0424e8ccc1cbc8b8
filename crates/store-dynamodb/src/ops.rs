//! Request helpers shared by the store: paged queries, BatchGetItem in chunks of 100 with
//! `UnprocessedKeys` retried, BatchWriteItem in chunks of 25 with `UnprocessedItems` retried
//! (waits from the project's one retry mechanism, `audience_retry`). Every request asks for
//! its consumed capacity and is counted.

use crate::errors::sdk_error;
use crate::keys::{PK, SK};
use crate::metrics::Access;
use crate::DynamoStore;
use audience_store::{StoreError, StoreResult};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::ConsumedCapacity;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnConsumedCapacity, WriteRequest,
};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// One item.
pub type Item = HashMap<String, AttributeValue>;

/// BatchGetItem's limit.
pub const BATCH_GET_MAX: usize = 100;
/// BatchWriteItem's limit.
pub const BATCH_WRITE_MAX: usize = 25;

/// Waits between retries of unprocessed keys/items and transaction conflicts: 25 ms doubling
/// to 1.6 s, jittered, 9 retries (then `Unavailable`).
pub fn retry_waits() -> impl Iterator<Item = Duration> {
    audience_retry::RetryPolicy {
        max_retries: 9,
        first_wait: Duration::from_millis(25),
        cap: Duration::from_millis(1_600),
        jitter: true,
    }
    .waits()
}

impl DynamoStore {
    /// The outcome of a conditional write (`result` carries the consumed capacity): `true`
    /// when written, `false` when its condition failed — an answer, not an error (the lease is
    /// someone else's, a newer version is already written) — and the SDK error otherwise.
    pub(crate) fn conditional<E>(
        &self,
        what: &str,
        result: Result<Option<ConsumedCapacity>, SdkError<E, HttpResponse>>,
    ) -> StoreResult<bool>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match result {
            Ok(consumed) => {
                self.metrics.record(Access::Write, consumed.as_ref());
                Ok(true)
            }
            Err(e)
                if e.as_service_error().and_then(ProvideErrorMetadata::code)
                    == Some("ConditionalCheckFailedException") =>
            {
                self.metrics.record(Access::Write, []);
                Ok(false)
            }
            Err(e) => Err(sdk_error(what, &self.table, e)),
        }
    }

    /// Runs a query page after page until `limit` items (or all of them when `None`).
    /// `build` makes the request without paging parameters.
    pub(crate) async fn query_items(
        &self,
        what: &str,
        limit: Option<usize>,
        build: impl Fn() -> QueryFluentBuilder,
    ) -> StoreResult<Vec<Item>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut req = build()
                .table_name(&self.table)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .set_exclusive_start_key(start.take());
            if let Some(limit) = limit {
                let remaining = limit.saturating_sub(out.len());
                if remaining == 0 {
                    break;
                }
                req = req.limit(i32::try_from(remaining).unwrap_or(i32::MAX));
            }
            let resp = req
                .send()
                .await
                .map_err(|e| sdk_error(what, &self.table, e))?;
            self.metrics.record(Access::Read, resp.consumed_capacity());
            out.extend(resp.items().iter().cloned());
            match resp.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        if let Some(limit) = limit {
            out.truncate(limit);
        }
        Ok(out)
    }

    /// Gets many items by key (duplicates removed), 100 per request, retrying unprocessed
    /// keys with backoff. Missing items are simply absent from the result.
    pub(crate) async fn batch_get(
        &self,
        what: &str,
        keys: Vec<Item>,
        projection: Option<(&str, HashMap<String, String>)>,
        consistent: bool,
    ) -> StoreResult<Vec<Item>> {
        let mut seen = HashSet::new();
        let keys: Vec<Item> = keys
            .into_iter()
            .filter(|k| {
                seen.insert((
                    k.get(PK).cloned().map(fmt_attr),
                    k.get(SK).cloned().map(fmt_attr),
                ))
            })
            .collect();
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut pending =
                Some(self.keys_and_attributes(what, chunk.to_vec(), &projection, consistent)?);
            let mut waits = retry_waits();
            while let Some(request) = pending.take() {
                let resp = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(|e| sdk_error(what, &self.table, e))?;
                self.metrics.record(Access::Read, resp.consumed_capacity());
                if let Some(items) = resp.responses().and_then(|r| r.get(&self.table)) {
                    out.extend(items.iter().cloned());
                }
                let unprocessed = resp
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .filter(|k| !k.keys().is_empty())
                    .cloned();
                if let Some(rest) = unprocessed {
                    let Some(wait) = waits.next() else {
                        return Err(StoreError::Unavailable(format!(
                            "DynamoDB {what} on table `{}`: {} keys still unprocessed after 10 attempts",
                            self.table,
                            rest.keys().len()
                        )));
                    };
                    tokio::time::sleep(wait).await;
                    pending = Some(rest);
                }
            }
        }
        Ok(out)
    }

    fn keys_and_attributes(
        &self,
        what: &str,
        keys: Vec<Item>,
        projection: &Option<(&str, HashMap<String, String>)>,
        consistent: bool,
    ) -> StoreResult<KeysAndAttributes> {
        let mut b = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(consistent);
        if let Some((expr, names)) = projection {
            b = b
                .projection_expression(*expr)
                .set_expression_attribute_names(Some(names.clone()));
        }
        b.build()
            .map_err(|e| StoreError::Other(format!("cannot build DynamoDB {what} request: {e}")))
    }

    /// Writes many requests, 25 per call, retrying unprocessed items with backoff.
    pub(crate) async fn batch_write(
        &self,
        what: &str,
        requests: Vec<WriteRequest>,
    ) -> StoreResult<()> {
        for chunk in requests.chunks(BATCH_WRITE_MAX) {
            let mut pending = chunk.to_vec();
            let mut waits = retry_waits();
            while !pending.is_empty() {
                let resp = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(|e| sdk_error(what, &self.table, e))?;
                self.metrics.record(Access::Write, resp.consumed_capacity());
                if let Some(rest) = resp.unprocessed_items().and_then(|u| u.get(&self.table)) {
                    if !rest.is_empty() {
                        let Some(wait) = waits.next() else {
                            return Err(StoreError::Unavailable(format!(
                                "DynamoDB {what} on table `{}`: {} items still unprocessed after 10 attempts",
                                self.table,
                                rest.len()
                            )));
                        };
                        tokio::time::sleep(wait).await;
                        pending = rest.clone();
                    }
                }
            }
        }
        Ok(())
    }
}

fn fmt_attr(v: AttributeValue) -> String {
    match v {
        AttributeValue::S(s) => s,
        other => format!("{other:?}"),
    }
}

/// Expression attribute names from `(placeholder, name)` pairs.
pub fn names<const N: usize>(pairs: [(&str, &str); N]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
