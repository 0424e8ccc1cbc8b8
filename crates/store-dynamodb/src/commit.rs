//! `commit_user`: turns a [`UserCommit`] into one `TransactWriteItems` (or, when only the
//! user item changes, one conditional `PutItem`), registers new segment/outbox names, and
//! maps cancellation reasons to [`StoreError::VersionConflict`].
//!
//! Actions in one transaction, in this order (the user item is always action 0):
//! user put (conditional on the version) · absorbed identity delete (conditional on its
//! version) and deletes of its outbox entries not replaced by this commit · membership
//! put/delete per (segment, user) · counter delta `ADD` per (segment, day) · user-count delta
//! `ADD` · outbox put per (destination, segment, user) · link put per endpoint.

use crate::errors::sdk_error;
use crate::keys::*;
use crate::metrics::Access;
use crate::ops::{backoff, names};
use crate::DynamoStore;
use audience_core::time::day_of;
use audience_core::ChangeKind;
use audience_store::{OutboxEntry, StoreError, StoreResult, UserCommit};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, PutRequest, ReturnConsumedCapacity, TransactWriteItem, Update,
    WriteRequest,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// TransactWriteItems' limit.
pub const MAX_ACTIONS: usize = 100;
/// Attempts when a transaction is cancelled by `TransactionConflict` (another transaction on
/// one of its items, usually a delta item shared with a user of the same batch and bucket).
pub const CONFLICT_ATTEMPTS: u32 = 8;

/// The actions of one commit and where the conditional ones are.
struct Plan {
    actions: Vec<TransactWriteItem>,
    /// Index of the absorbed identity's conditional delete, if any.
    absorbed_at: Option<usize>,
    /// Registry sort keys this commit needs (segments and outbox queues).
    registry: BTreeSet<String>,
}

fn build_err(user: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!(
        "cannot build the DynamoDB commit of user `{user}`: {e}"
    ))
}

fn op_text(op: ChangeKind) -> &'static str {
    match op {
        ChangeKind::Entered => "add",
        ChangeKind::Exited => "remove",
    }
}

/// Parses an outbox `op` attribute.
pub fn op_from_text(text: &str) -> Option<ChangeKind> {
    match text {
        "add" => Some(ChangeKind::Entered),
        "remove" => Some(ChangeKind::Exited),
        _ => None,
    }
}

/// The outbox item of an entry.
pub fn outbox_item(e: &OutboxEntry) -> HashMap<String, AttributeValue> {
    let queue = outbox_key(&e.destination, &e.segment);
    let mut item = key(user_pk(&e.user), queue.clone());
    item.insert(A_DST.into(), s(&e.destination));
    item.insert(A_SEG.into(), s(&e.segment));
    item.insert(A_USR.into(), s(&e.user));
    item.insert(A_OP.into(), s(op_text(e.op)));
    item.insert(A_AT.into(), n(e.at));
    item.insert(A_CID.into(), s(&e.change_id));
    item.insert(G1PK.into(), s(queue));
    item.insert(G1SK.into(), s(time_user_sk(e.at, &e.user)));
    item
}

fn user_item(commit: &UserCommit) -> StoreResult<HashMap<String, AttributeValue>> {
    let st = &commit.state;
    let json = serde_json::to_string(st)
        .map_err(|e| build_err(&st.user, format!("state does not serialise: {e}")))?;
    let mut item = key(user_pk(&st.user), USER_SK);
    item.insert(A_VERSION.into(), n(st.version));
    item.insert(A_JSON.into(), s(json));
    if let Some(at) = st.next_flip_at {
        item.insert(G1PK.into(), s(due_pk(bucket_of(&st.user))));
        item.insert(G1SK.into(), s(time_user_sk(at, &st.user)));
    }
    Ok(item)
}

/// The version condition of a put or delete: absent when `expected` is 0, else `v = expected`.
fn version_condition(
    expected: u64,
) -> (
    String,
    HashMap<String, String>,
    Option<HashMap<String, AttributeValue>>,
) {
    if expected == 0 {
        (
            "attribute_not_exists(#pk)".into(),
            names([("#pk", PK)]),
            None,
        )
    } else {
        (
            "#v = :v".into(),
            names([("#v", A_VERSION)]),
            Some(HashMap::from([(":v".to_string(), n(expected))])),
        )
    }
}

fn check_name(user: &str, what: &str, value: &str) -> StoreResult<()> {
    if value.contains('#') {
        return Err(StoreError::Other(format!(
            "commit of user `{user}`: {what} `{value}` contains `#`, which the DynamoDB key layout reserves"
        )));
    }
    Ok(())
}

fn plan(table: &str, commit: &UserCommit, absorbed_outbox: &[String]) -> StoreResult<Plan> {
    let user = commit.state.user.as_str();
    let bucket = bucket_of(user);
    let mut actions = Vec::new();
    let mut registry = BTreeSet::new();

    let (cond, cond_names, cond_values) = version_condition(commit.expected_version);
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(user_item(commit)?))
        .condition_expression(cond)
        .set_expression_attribute_names(Some(cond_names))
        .set_expression_attribute_values(cond_values)
        .build()
        .map_err(|e| build_err(user, e))?;
    actions.push(TransactWriteItem::builder().put(put).build());

    // Outbox entries, last one per (destination, segment, user) wins.
    let mut outbox: BTreeMap<(String, String, String), &OutboxEntry> = BTreeMap::new();
    for e in &commit.outbox {
        check_name(user, "destination", &e.destination)?;
        outbox.insert(
            (e.user.clone(), e.destination.clone(), e.segment.clone()),
            e,
        );
    }

    let mut user_delta: i64 = if commit.expected_version == 0 { 1 } else { 0 };
    let mut absorbed_at = None;
    if let Some(absorbed) = commit.absorbed.as_ref().filter(|a| a.version > 0) {
        if absorbed.key == user {
            return Err(StoreError::Other(format!(
                "commit of user `{user}` absorbs itself"
            )));
        }
        absorbed_at = Some(actions.len());
        let del = Delete::builder()
            .table_name(table)
            .set_key(Some(key(user_pk(&absorbed.key), USER_SK)))
            .condition_expression("#v = :v")
            .set_expression_attribute_names(Some(names([("#v", A_VERSION)])))
            .set_expression_attribute_values(Some(HashMap::from([(
                ":v".to_string(),
                n(absorbed.version),
            )])))
            .build()
            .map_err(|e| build_err(user, e))?;
        actions.push(TransactWriteItem::builder().delete(del).build());
        user_delta -= 1;
        let replaced: BTreeSet<String> = outbox
            .keys()
            .filter(|(u, _, _)| *u == absorbed.key)
            .map(|(_, d, s)| outbox_key(d, s))
            .collect();
        for sk in absorbed_outbox.iter().filter(|sk| !replaced.contains(*sk)) {
            let del = Delete::builder()
                .table_name(table)
                .set_key(Some(key(user_pk(&absorbed.key), sk.clone())))
                .build()
                .map_err(|e| build_err(user, e))?;
            actions.push(TransactWriteItem::builder().delete(del).build());
        }
    }

    // Memberships (last change per segment and user wins) and counter deltas per day.
    let mut members: BTreeMap<(&str, &str), (ChangeKind, i64)> = BTreeMap::new();
    let mut deltas: BTreeMap<(&str, i32), (u64, u64)> = BTreeMap::new();
    for c in &commit.changes {
        members.insert((c.segment.as_str(), c.user.as_str()), (c.kind, c.at));
        let d = deltas
            .entry((c.segment.as_str(), day_of(c.at)))
            .or_default();
        match c.kind {
            ChangeKind::Entered => d.0 += 1,
            ChangeKind::Exited => d.1 += 1,
        }
        registry.insert(registry_segment_sk(&c.segment));
    }
    for ((segment, member), (kind, at)) in members {
        let item = match kind {
            ChangeKind::Entered => {
                let mut item = key(member_pk(segment), member);
                item.insert(A_AT.into(), n(at));
                let put = Put::builder()
                    .table_name(table)
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| build_err(user, e))?;
                TransactWriteItem::builder().put(put).build()
            }
            ChangeKind::Exited => {
                let del = Delete::builder()
                    .table_name(table)
                    .set_key(Some(key(member_pk(segment), member)))
                    .build()
                    .map_err(|e| build_err(user, e))?;
                TransactWriteItem::builder().delete(del).build()
            }
        };
        actions.push(item);
    }
    for ((segment, day), (entered, exited)) in deltas {
        let upd = Update::builder()
            .table_name(table)
            .set_key(Some(key(
                counter_pk(segment),
                counter_sk(day, &commit.batch_id, bucket),
            )))
            .update_expression("ADD #en :en, #ex :ex")
            .set_expression_attribute_names(Some(names([("#en", A_ENTERED), ("#ex", A_EXITED)])))
            .set_expression_attribute_values(Some(HashMap::from([
                (":en".to_string(), n(entered)),
                (":ex".to_string(), n(exited)),
            ])))
            .build()
            .map_err(|e| build_err(user, e))?;
        actions.push(TransactWriteItem::builder().update(upd).build());
    }
    if user_delta != 0 {
        let upd = Update::builder()
            .table_name(table)
            .set_key(Some(key(
                USER_COUNT_PK,
                user_count_sk(&commit.batch_id, bucket),
            )))
            .update_expression("ADD #n :n")
            .set_expression_attribute_names(Some(names([("#n", A_COUNT)])))
            .set_expression_attribute_values(Some(HashMap::from([(
                ":n".to_string(),
                n(user_delta),
            )])))
            .build()
            .map_err(|e| build_err(user, e))?;
        actions.push(TransactWriteItem::builder().update(upd).build());
    }
    for e in outbox.values() {
        registry.insert(outbox_key(&e.destination, &e.segment));
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(outbox_item(e)))
            .build()
            .map_err(|e| build_err(user, e))?;
        actions.push(TransactWriteItem::builder().put(put).build());
    }
    let links: BTreeMap<&str, &str> = commit
        .links
        .iter()
        .map(|(e, u)| (e.as_str(), u.as_str()))
        .collect();
    for (endpoint, owner) in links {
        let mut item = key(link_pk(endpoint), LINK_SK);
        item.insert(A_USR.into(), s(owner));
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .build()
            .map_err(|e| build_err(user, e))?;
        actions.push(TransactWriteItem::builder().put(put).build());
    }
    Ok(Plan {
        actions,
        absorbed_at,
        registry,
    })
}

impl DynamoStore {
    pub(crate) async fn commit(&self, commit: &UserCommit) -> StoreResult<()> {
        let user = commit.state.user.as_str();
        let absorbed_outbox = match commit.absorbed.as_ref().filter(|a| a.version > 0) {
            Some(a) => self.outbox_keys_of(&a.key).await?,
            None => Vec::new(),
        };
        let plan = plan(&self.table, commit, &absorbed_outbox)?;
        if plan.actions.len() > MAX_ACTIONS {
            return Err(StoreError::Other(format!(
                "commit of user `{user}` needs {} DynamoDB actions; one transaction holds at most {MAX_ACTIONS} \
                 (too many membership changes, outbox entries or links in one batch)",
                plan.actions.len()
            )));
        }
        self.register(&plan.registry).await?;
        if plan.actions.len() == 1 {
            return self.put_user_only(commit).await;
        }
        self.transact(commit, plan).await
    }

    /// Outbox sort keys stored under a user (strongly consistent).
    async fn outbox_keys_of(&self, user: &str) -> StoreResult<Vec<String>> {
        let pk = user_pk(user);
        let items = self
            .query_items("Query (outbox of absorbed identity)", None, || {
                self.client
                    .query()
                    .consistent_read(true)
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :o)")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":pk", s(pk.clone()))
                    .expression_attribute_values(":o", s("O#"))
                    .projection_expression("#sk")
            })
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| get_s(i, SK).map(str::to_string))
            .collect())
    }

    /// Writes registry items this instance has not written yet (plain, idempotent puts).
    /// Written before the commit, so a segment never has data without its registry entry.
    async fn register(&self, wanted: &BTreeSet<String>) -> StoreResult<()> {
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
        self.batch_write("BatchWriteItem (segment registry)", requests)
            .await?;
        if let Ok(mut done) = self.registered.lock() {
            done.extend(missing);
        }
        Ok(())
    }

    async fn put_user_only(&self, commit: &UserCommit) -> StoreResult<()> {
        let user = commit.state.user.as_str();
        let (cond, cond_names, cond_values) = version_condition(commit.expected_version);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(user_item(commit)?))
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
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception())
                {
                    Err(StoreError::VersionConflict {
                        user: user.to_string(),
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

    async fn transact(&self, commit: &UserCommit, plan: Plan) -> StoreResult<()> {
        let user = commit.state.user.as_str();
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(plan.actions.clone()))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            let err = match result {
                Ok(resp) => {
                    self.metrics.record(Access::Write, resp.consumed_capacity());
                    self.metrics.transaction();
                    return Ok(());
                }
                Err(e) => e,
            };
            self.metrics.record(Access::Write, []);
            let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                err.as_service_error()
            else {
                self.metrics.transaction();
                return Err(sdk_error(
                    &format!("TransactWriteItems (user `{user}`)"),
                    &self.table,
                    err,
                ));
            };
            let codes: Vec<&str> = cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None"))
                .collect();
            let failed = |i: usize| codes.get(i) == Some(&"ConditionalCheckFailed");
            if failed(0) {
                self.metrics.transaction();
                return Err(StoreError::VersionConflict {
                    user: user.to_string(),
                });
            }
            if let (Some(i), Some(absorbed)) = (plan.absorbed_at, commit.absorbed.as_ref()) {
                if failed(i) {
                    self.metrics.transaction();
                    return Err(StoreError::VersionConflict {
                        user: absorbed.key.clone(),
                    });
                }
            }
            let conflict = codes.contains(&"TransactionConflict");
            attempt += 1;
            if conflict && attempt < CONFLICT_ATTEMPTS {
                self.metrics.transaction_retry();
                tracing::debug!(user, attempt, "transaction conflict; retrying");
                backoff(attempt).await;
                continue;
            }
            self.metrics.transaction();
            let summary = summarize(&codes);
            let message = format!(
                "DynamoDB TransactWriteItems (user `{user}`, {} actions) on table `{}` cancelled after {attempt} attempt(s): {summary}",
                plan.actions.len(),
                self.table
            );
            return Err(
                if conflict
                    || codes
                        .iter()
                        .any(|c| c.contains("Throttl") || c.contains("ThroughputExceeded"))
                {
                    StoreError::Unavailable(message)
                } else {
                    StoreError::Other(message)
                },
            );
        }
    }
}

/// `code × count` for the cancellation reasons other than `None`.
fn summarize(codes: &[&str]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in codes.iter().filter(|c| **c != "None") {
        *counts.entry(c).or_default() += 1;
    }
    if counts.is_empty() {
        return "no reason given".into();
    }
    counts
        .iter()
        .map(|(c, n)| format!("{c} x{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
