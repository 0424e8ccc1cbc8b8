//! Commits: one conditional write of each user item, then the fan-out (see `pending`).
//!
//! For a call of `commit_users` (one batch):
//! 1. every commit is checked against the store limits and encoded (a refused user fails
//!    alone, `Rejected`);
//! 2. due-index entries for the flip times that moved, and a near entry for each commit with
//!    a fan-out (so a crash before step 4 is completed by the sweep at the latest), are written
//!    first — an entry for a commit that then fails is harmless;
//! 3. each user item is written with one conditional `PutItem` (version check) holding the
//!    new state and, when there is one, the pending fan-out; a commit that folds identities in
//!    is a `TransactWriteItems` of the user put and a version-checked delete per identity
//!    (rare: only when links are learned), retried on `TransactionConflict`;
//! 4. the fan-outs of the users written are written together (set `ADD`s per batch item,
//!    version-conditioned member puts, links), then each pending record is removed.
//!
//! There is no per-commit action ceiling: a user may change any number of segments with any
//! number of destinations; only the pending record's size (in the 400 KB item) bounds it.

use crate::errors::sdk_error;
use crate::keys::*;
use crate::metrics::Access;
use crate::ops::{names, Item};
use crate::pending::{chunks_for, new_fanout_id, PendingFanOut};
use crate::DynamoStore;
use audience_core::Millis;
use audience_store::validate::encode_commit;
use audience_store::{StoreError, StoreResult, UserCommit};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};
use futures::StreamExt;
use std::collections::HashMap;

/// User items written at once.
const COMMIT_CONCURRENCY: usize = 16;
/// Users per fan-out ID (a batch of the Lambda holds at most 10,000 records).
const USERS_PER_FANOUT: usize = 10_000;
/// A crashed fan-out is completed by the sweep this long after its commit at the latest.
pub(crate) const PENDING_GRACE_MS: Millis = 120_000;
/// Largest user item (state + pending record); DynamoDB's limit is 400 KB.
const MAX_ITEM_BYTES: usize = 390_000;

/// A commit ready to write.
struct Ready<'a> {
    commit: &'a UserCommit,
    state: Vec<u8>,
    pending: Option<PendingFanOut>,
}

fn build_err(user: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!(
        "cannot build the DynamoDB commit of user `{user}`: {e}"
    ))
}

impl DynamoStore {
    /// Commits users independently; results in input order.
    pub(crate) async fn commit_batch(&self, commits: &[UserCommit]) -> Vec<StoreResult<()>> {
        let mut out = Vec::with_capacity(commits.len());
        for part in commits.chunks(USERS_PER_FANOUT) {
            out.extend(self.commit_part(part, true).await);
        }
        out
    }

    /// Writes the user items (with their pending records and due entries) and stops there,
    /// as a process that dies right after them would: for crash-recovery tests and drills.
    /// The next `load_users` of each user, or the sweep, completes the rest.
    pub async fn write_users_only(&self, commits: &[UserCommit]) -> Vec<StoreResult<()>> {
        self.commit_part(commits, false).await
    }

    async fn commit_part(&self, commits: &[UserCommit], fan_out: bool) -> Vec<StoreResult<()>> {
        let wall = crate::store::now_millis();
        let fanout = new_fanout_id(wall);
        let mut results: Vec<Option<StoreResult<()>>> = Vec::with_capacity(commits.len());
        let mut ready = Vec::new();
        for (i, commit) in commits.iter().enumerate() {
            match prepare(commit, &fanout) {
                Ok(r) => {
                    results.push(None);
                    ready.push((i, r));
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let weight: usize = ready
            .iter()
            .filter_map(|(_, r)| r.pending.as_ref())
            .map(PendingFanOut::weight)
            .sum();
        let chunks = chunks_for(weight);
        for (_, r) in &mut ready {
            if let Some(p) = &mut r.pending {
                p.chunks = chunks;
            }
        }
        let due: Vec<(Millis, String)> = ready
            .iter()
            .flat_map(|(_, r)| due_entries(r, wall))
            .collect();
        if let Err(e) = self.write_due(&fanout, &due).await {
            let message = e.to_string();
            return commits
                .iter()
                .map(|_| Err(StoreError::Unavailable(message.clone())))
                .collect();
        }
        // Futures made as they are polled (COMMIT_CONCURRENCY at a time), not all up front.
        // By index, as in `fan_out`: a closure over `&(usize, Ready)` is not general enough
        // for the `Send` check of the trait's boxed future.
        let puts = (0..ready.len()).map(|k| {
            let (i, r) = &ready[k];
            let i = *i;
            let put = self.put_user(r);
            async move { (i, put.await) }
        });
        let written: Vec<(usize, StoreResult<()>)> = futures::stream::iter(puts)
            .buffer_unordered(COMMIT_CONCURRENCY)
            .collect()
            .await;
        let mut fanouts: Vec<(usize, &str, &PendingFanOut)> = Vec::new();
        for (i, result) in written {
            if result.is_ok() {
                if let Some((_, r)) = ready.iter().find(|(j, _)| *j == i) {
                    if let Some(p) = &r.pending {
                        fanouts.push((i, r.commit.state.user.as_str(), p));
                    }
                }
            }
            results[i] = Some(result);
        }
        let refs: Vec<(&str, &PendingFanOut)> = fanouts.iter().map(|(_, u, p)| (*u, *p)).collect();
        if !fan_out {
            return results.into_iter().flatten().collect();
        }
        if let Err(e) = self.fan_out(&refs).await {
            // The states are saved with their pending records: the next load of each user
            // (the retried batch) or the sweep completes them. Report them as not done so the
            // batch is retried soon.
            let message = format!("saved, but its fan-out is incomplete: {e}");
            for (i, _, _) in &fanouts {
                results[*i] = Some(Err(StoreError::Unavailable(message.clone())));
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(StoreError::Other("commit not attempted".into()))))
            .collect()
    }

    async fn put_user(&self, r: &Ready<'_>) -> StoreResult<()> {
        let commit = r.commit;
        let user = commit.state.user.as_str();
        let mut item = key(user_pk(user), USER_SK);
        item.insert(A_VERSION.into(), n(commit.state.version));
        item.insert(
            A_STATE.into(),
            AttributeValue::B(Blob::new(r.state.clone())),
        );
        if let Some(p) = &r.pending {
            item.insert(A_PENDING.into(), AttributeValue::B(Blob::new(p.encode())));
        }
        if commit.absorbed.iter().any(|a| a.version > 0) {
            return self.transact_absorb(commit, item).await;
        }
        let (cond, cond_names, cond_values) = version_condition(commit.expected_version);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(cond)
            .set_expression_attribute_names(Some(cond_names))
            .set_expression_attribute_values(cond_values)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(resp) => {
                self.metrics.record(Access::Write, resp.consumed_capacity());
                Ok(())
            }
            Err(e) => {
                self.metrics.record(Access::Write, []);
                let service = e.as_service_error();
                if service.is_some_and(|s| s.is_conditional_check_failed_exception()) {
                    Err(StoreError::VersionConflict {
                        user: user.to_string(),
                    })
                } else if service.is_some_and(|s| {
                    aws_sdk_dynamodb::error::ProvideErrorMetadata::code(s)
                        == Some("ValidationException")
                }) {
                    Err(StoreError::Rejected {
                        user: user.to_string(),
                        message: sdk_error("PutItem (user)", &self.table, e).to_string(),
                    })
                } else {
                    Err(sdk_error(
                        &format!("PutItem (user `{user}`)"),
                        &self.table,
                        e,
                    ))
                }
            }
        }
    }

    /// The user put and the version-checked deletes of the identities it absorbs, in one
    /// transaction.
    async fn transact_absorb(&self, commit: &UserCommit, item: Item) -> StoreResult<()> {
        let user = commit.state.user.as_str();
        let table = &self.table;
        let (cond, cond_names, cond_values) = version_condition(commit.expected_version);
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(cond)
            .set_expression_attribute_names(Some(cond_names))
            .set_expression_attribute_values(cond_values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None)
            .build()
            .map_err(|e| build_err(user, e))?;
        let mut actions = vec![TransactWriteItem::builder().put(put).build()];
        let absorbed: Vec<_> = commit.absorbed.iter().filter(|a| a.version > 0).collect();
        for a in &absorbed {
            if a.key == user {
                return Err(StoreError::Other(format!(
                    "commit of user `{user}` absorbs itself"
                )));
            }
            let del = Delete::builder()
                .table_name(table)
                .set_key(Some(key(user_pk(&a.key), USER_SK)))
                .condition_expression("#v = :v")
                .set_expression_attribute_names(Some(names([("#v", A_VERSION)])))
                .set_expression_attribute_values(Some(HashMap::from([(
                    ":v".to_string(),
                    n(a.version),
                )])))
                .build()
                .map_err(|e| build_err(user, e))?;
            actions.push(TransactWriteItem::builder().delete(del).build());
        }
        let mut waits = crate::ops::retry_waits();
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(actions.clone()))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            let err = match result {
                Ok(resp) => {
                    self.metrics
                        .record(Access::Transaction, resp.consumed_capacity());
                    self.metrics.transaction();
                    return Ok(());
                }
                Err(e) => e,
            };
            self.metrics.record(Access::Transaction, []);
            let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                err.as_service_error()
            else {
                self.metrics.transaction();
                return Err(sdk_error(
                    &format!("TransactWriteItems (user `{user}`)"),
                    table,
                    err,
                ));
            };
            let codes: Vec<&str> = cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None"))
                .collect();
            if let Some(i) = codes.iter().position(|c| *c == "ConditionalCheckFailed") {
                self.metrics.transaction();
                let who = if i == 0 {
                    user
                } else {
                    absorbed[i - 1].key.as_str()
                };
                return Err(StoreError::VersionConflict {
                    user: who.to_string(),
                });
            }
            match waits.next() {
                Some(wait) if codes.contains(&"TransactionConflict") => {
                    self.metrics.transaction_retry();
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    self.metrics.transaction();
                    return Err(StoreError::Unavailable(format!(
                        "DynamoDB TransactWriteItems (user `{user}`) on table `{table}` cancelled: {}",
                        codes.join(", ")
                    )));
                }
            }
        }
    }
}

/// Checks and encodes one commit with its pending fan-out.
fn prepare<'a>(commit: &'a UserCommit, fanout: &str) -> StoreResult<Ready<'a>> {
    let state = encode_commit(commit)?;
    let pending = Some(PendingFanOut::of(commit, fanout)).filter(|p| !p.is_empty());
    let size = state.len() + pending.as_ref().map_or(0, |p| p.encode().len());
    if size > MAX_ITEM_BYTES {
        return Err(StoreError::Rejected {
            user: commit.state.user.clone(),
            message: format!(
                "its item (state and pending changes) would be {size} bytes, over the {MAX_ITEM_BYTES}-byte limit"
            ),
        });
    }
    Ok(Ready {
        commit,
        state,
        pending,
    })
}

/// Due entries of one commit: its flip time when it moved, and a near one when it has a
/// fan-out to complete.
fn due_entries(r: &Ready<'_>, wall: Millis) -> Vec<(Millis, String)> {
    let user = &r.commit.state.user;
    let mut out = Vec::new();
    if let Some(flip) = r.commit.state.next_flip_at {
        if Some(flip) != r.commit.prior_next_flip_at {
            out.push((flip, user.clone()));
        }
    }
    if r.pending.is_some() {
        out.push((wall.saturating_add(PENDING_GRACE_MS), user.clone()));
    }
    out
}

/// The condition that the stored version is `expected` (0 = the item must not exist).
pub fn version_condition(
    expected: u64,
) -> (
    &'static str,
    HashMap<String, String>,
    Option<HashMap<String, AttributeValue>>,
) {
    if expected == 0 {
        ("attribute_not_exists(#pk)", names([("#pk", PK)]), None)
    } else {
        (
            "#v = :expected",
            names([("#v", A_VERSION)]),
            Some(HashMap::from([(":expected".to_string(), n(expected))])),
        )
    }
}
