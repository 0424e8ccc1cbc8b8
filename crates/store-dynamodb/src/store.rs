//! `impl StateStore for DynamoStore`: reads by key (BatchGetItem), by partition (Query) and
//! by the GSI; the only Scan is `scan_users`. Commits live in `commit.rs`.

use crate::commit::op_from_text;
use crate::errors::{corrupt, sdk_error};
use crate::keys::*;
use crate::metrics::Access;
use crate::ops::{names, Item};
use crate::DynamoStore;

/// Transactions in flight at once when committing a batch.
const COMMIT_CONCURRENCY: usize = 16;
use async_trait::async_trait;
use audience_core::time::day_of;
use audience_core::{Millis, UserState};
use audience_store::*;
use aws_sdk_dynamodb::types::{PutRequest, ReturnConsumedCapacity, WriteRequest};
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

/// Batch records and dead letters expire this long after they are written.
pub const RETENTION_DAYS: u64 = 90;
/// Concurrent requests for fan-out reads (per segment, per due bucket) and acks.
const FAN_OUT: usize = 16;
/// The widest day range `batches` reads (one Query per day).
const MAX_BATCH_DAYS: i64 = 3_660;

static LEDGER_SEQ: AtomicU64 = AtomicU64::new(0);

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn expires_at() -> u64 {
    now_secs() + RETENTION_DAYS * 86_400
}

fn json_of<T: serde::de::DeserializeOwned>(item: &Item, what: &str) -> StoreResult<T> {
    let text =
        get_s(item, A_JSON).ok_or_else(|| corrupt(what, format!("no `{A_JSON}` attribute")))?;
    serde_json::from_str(text).map_err(|e| corrupt(what, e.to_string()))
}

fn to_json<T: serde::Serialize>(value: &T, what: &str) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Other(format!("cannot serialise {what}: {e}")))
}

fn describe(item: &Item) -> String {
    format!(
        "{}/{}",
        get_s(item, PK).unwrap_or("?"),
        get_s(item, SK).unwrap_or("?")
    )
}

fn outbox_entry(item: &Item) -> StoreResult<OutboxEntry> {
    let field = |name: &str| {
        get_s(item, name)
            .map(str::to_string)
            .ok_or_else(|| corrupt(describe(item), format!("outbox item has no `{name}`")))
    };
    let op_text = field(A_OP)?;
    Ok(OutboxEntry {
        destination: field(A_DST)?,
        segment: field(A_SEG)?,
        user: field(A_USR)?,
        op: op_from_text(&op_text)
            .ok_or_else(|| corrupt(describe(item), format!("unknown outbox op `{op_text}`")))?,
        at: get_i64(item, A_AT)
            .ok_or_else(|| corrupt(describe(item), "outbox item has no `at`"))?,
        change_id: field(A_CID)?,
    })
}

impl DynamoStore {
    /// Registry items whose sort key starts with `prefix`.
    async fn registry(&self, prefix: &str) -> StoreResult<Vec<Item>> {
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

    /// Counter delta items of a segment, optionally only for days `from..=to`.
    async fn deltas(&self, segment: &str, days: Option<(i32, i32)>) -> StoreResult<Vec<Item>> {
        let pk = counter_pk(segment);
        self.query_items("Query (segment counters)", None, || {
            let q = self
                .client
                .query()
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#en", A_ENTERED)
                .expression_attribute_names("#ex", A_EXITED)
                .expression_attribute_values(":pk", s(pk.clone()))
                .projection_expression("#sk, #en, #ex")
                .expression_attribute_names("#sk", SK);
            match days {
                None => q.key_condition_expression("#pk = :pk"),
                Some((from, to)) => q
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                    .expression_attribute_values(":from", s(day_code(from)))
                    // '$' sorts right after '#', so every `<to>#…` key is below it.
                    .expression_attribute_values(":to", s(format!("{}$", day_code(to)))),
            }
        })
        .await
    }
}

#[async_trait]
impl StateStore for DynamoStore {
    async fn load_users(&self, keys: &[String]) -> StoreResult<HashMap<String, UserState>> {
        let request = keys.iter().map(|k| key(user_pk(k), USER_SK)).collect();
        let projection = Some(("#pk, #j", names([("#pk", PK), ("#j", A_JSON)])));
        let items = self
            .batch_get("BatchGetItem (users)", request, projection, true)
            .await?;
        let mut out = HashMap::with_capacity(items.len());
        for item in items {
            let pk = get_s(&item, PK).unwrap_or_default();
            let user =
                user_of_pk(pk).ok_or_else(|| corrupt(pk, "user item key is not `U#<user>`"))?;
            let state: UserState = json_of(&item, pk)?;
            out.insert(user.to_string(), state);
        }
        Ok(out)
    }

    async fn load_links(&self, endpoint_ids: &[String]) -> StoreResult<HashMap<String, String>> {
        let request = endpoint_ids
            .iter()
            .map(|e| key(link_pk(e), LINK_SK))
            .collect();
        let projection = Some(("#pk, #u", names([("#pk", PK), ("#u", A_USR)])));
        let items = self
            .batch_get("BatchGetItem (links)", request, projection, false)
            .await?;
        let mut out = HashMap::with_capacity(items.len());
        for item in items {
            let pk = get_s(&item, PK).unwrap_or_default();
            let endpoint = pk
                .strip_prefix("L#")
                .ok_or_else(|| corrupt(pk, "link item key is not `L#<endpoint>`"))?;
            let user = get_s(&item, A_USR).ok_or_else(|| corrupt(pk, "link item has no `usr`"))?;
            out.insert(endpoint.to_string(), user.to_string());
        }
        Ok(out)
    }

    async fn commit_user(&self, commit: &UserCommit) -> StoreResult<()> {
        self.commit(commit).await
    }

    /// Users' transactions run concurrently (they touch disjoint items: per-batch counter
    /// deltas carry a user-hash suffix), results in input order.
    async fn commit_users(&self, commits: &[UserCommit]) -> Vec<StoreResult<()>> {
        use futures::stream::StreamExt;
        futures::stream::iter(commits.iter().cloned())
            .map(|c: UserCommit| async move { self.commit(&c).await })
            .buffered(COMMIT_CONCURRENCY)
            .collect()
            .await
    }

    async fn user_count(&self) -> StoreResult<u64> {
        let items = self
            .query_items("Query (user count)", None, || {
                self.client
                    .query()
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#n", A_COUNT)
                    .expression_attribute_values(":pk", s(USER_COUNT_PK))
                    .projection_expression("#n")
            })
            .await?;
        let total: i64 = items.iter().filter_map(|i| get_i64(i, A_COUNT)).sum();
        Ok(total.max(0) as u64)
    }

    async fn segment_counts(&self) -> StoreResult<BTreeMap<String, SegmentCounts>> {
        let segments: Vec<String> = self
            .registry("S#")
            .await?
            .iter()
            .filter_map(|i| get_s(i, A_SEG).map(str::to_string))
            .collect();
        let sums: Vec<(String, Option<SegmentCounts>)> = futures::stream::iter(segments)
            .map(|segment| async move {
                let items = self.deltas(&segment, None).await?;
                if items.is_empty() {
                    return Ok::<_, StoreError>((segment, None));
                }
                let entered: i64 = items.iter().filter_map(|i| get_i64(i, A_ENTERED)).sum();
                let exited: i64 = items.iter().filter_map(|i| get_i64(i, A_EXITED)).sum();
                let counts = SegmentCounts {
                    members: entered - exited,
                    entered: entered.max(0) as u64,
                    exited: exited.max(0) as u64,
                };
                Ok((segment, Some(counts)))
            })
            .buffer_unordered(FAN_OUT)
            .try_collect()
            .await?;
        Ok(sums
            .into_iter()
            .filter_map(|(s, c)| c.map(|c| (s, c)))
            .collect())
    }

    async fn daily_history(
        &self,
        segment: &str,
        from_day: i32,
        to_day: i32,
    ) -> StoreResult<Vec<DailyCounts>> {
        if from_day > to_day {
            return Ok(Vec::new());
        }
        let items = self.deltas(segment, Some((from_day, to_day))).await?;
        let mut days: BTreeMap<i32, DailyCounts> = BTreeMap::new();
        for item in &items {
            let sk = get_s(item, SK).unwrap_or_default();
            let day = day_from_code(sk)
                .ok_or_else(|| corrupt(describe(item), "counter key has no day"))?;
            let d = days.entry(day).or_insert(DailyCounts {
                day,
                entered: 0,
                exited: 0,
            });
            d.entered += get_i64(item, A_ENTERED).unwrap_or(0).max(0) as u64;
            d.exited += get_i64(item, A_EXITED).unwrap_or(0).max(0) as u64;
        }
        Ok(days
            .into_values()
            .filter(|d| d.entered > 0 || d.exited > 0)
            .collect())
    }

    async fn list_members(
        &self,
        segment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let pk = member_pk(segment);
        let items = self
            .query_items("Query (segment members)", Some(limit), || {
                let q = self
                    .client
                    .query()
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":pk", s(pk.clone()))
                    .projection_expression("#sk");
                match after {
                    Some(a) => q
                        .key_condition_expression("#pk = :pk AND #sk > :after")
                        .expression_attribute_values(":after", s(a)),
                    None => q.key_condition_expression("#pk = :pk"),
                }
            })
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| get_s(i, SK).map(str::to_string))
            .collect())
    }

    async fn pending_summary(&self) -> StoreResult<Vec<PendingSummary>> {
        let queues: Vec<(String, String)> = self
            .registry("O#")
            .await?
            .iter()
            .filter_map(|i| Some((get_s(i, A_DST)?.to_string(), get_s(i, A_SEG)?.to_string())))
            .collect();
        let mut rows: Vec<PendingSummary> = futures::stream::iter(queues)
            .map(|(destination, segment)| async move {
                let queue = outbox_key(&destination, &segment);
                let items = self
                    .query_items("Query (pending summary)", None, || {
                        self.client
                            .query()
                            .index_name(GSI1)
                            .key_condition_expression("#pk = :pk")
                            .expression_attribute_names("#pk", G1PK)
                            .expression_attribute_names("#op", A_OP)
                            .expression_attribute_names("#at", A_AT)
                            .expression_attribute_values(":pk", s(queue.clone()))
                            .projection_expression("#op, #at")
                    })
                    .await?;
                let mut row = PendingSummary {
                    destination,
                    segment,
                    ..PendingSummary::default()
                };
                for item in &items {
                    match get_s(item, A_OP).and_then(op_from_text) {
                        Some(audience_core::ChangeKind::Entered) => row.additions += 1,
                        Some(audience_core::ChangeKind::Exited) => row.exits += 1,
                        None => {
                            return Err(corrupt(queue.clone(), "outbox item has no valid `op`"))
                        }
                    }
                    if let Some(at) = get_i64(item, A_AT) {
                        row.oldest_at = Some(row.oldest_at.map_or(at, |o: Millis| o.min(at)));
                    }
                }
                Ok(row)
            })
            .buffer_unordered(FAN_OUT)
            .try_collect()
            .await?;
        rows.retain(|r| r.additions + r.exits > 0);
        rows.sort_by(|a, b| (&a.destination, &a.segment).cmp(&(&b.destination, &b.segment)));
        Ok(rows)
    }

    async fn pending(
        &self,
        destination: &str,
        segment: &str,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEntry>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let queue = outbox_key(destination, segment);
        let items = self
            .query_items("Query (pending)", Some(limit), || {
                self.client
                    .query()
                    .index_name(GSI1)
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", G1PK)
                    .expression_attribute_values(":pk", s(queue.clone()))
            })
            .await?;
        items.iter().map(outbox_entry).collect()
    }

    async fn ack_pending(&self, entries: &[OutboxEntry]) -> StoreResult<usize> {
        let removed: Vec<bool> = futures::stream::iter(entries.iter().cloned())
            .map(|e: OutboxEntry| async move {
                let result = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key(
                        user_pk(&e.user),
                        outbox_key(&e.destination, &e.segment),
                    )))
                    .condition_expression("#cid = :cid")
                    .expression_attribute_names("#cid", A_CID)
                    .expression_attribute_values(":cid", s(&e.change_id))
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await;
                match result {
                    Ok(resp) => {
                        self.metrics.record(Access::Write, resp.consumed_capacity());
                        Ok(true)
                    }
                    Err(err)
                        if err
                            .as_service_error()
                            .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                    {
                        self.metrics.record(Access::Write, []);
                        Ok(false)
                    }
                    Err(err) => Err(sdk_error(
                        &format!(
                            "DeleteItem (ack outbox {}/{}/{})",
                            e.destination, e.segment, e.user
                        ),
                        &self.table,
                        err,
                    )),
                }
            })
            .buffer_unordered(FAN_OUT)
            .try_collect()
            .await?;
        Ok(removed.into_iter().filter(|r| *r).count())
    }

    async fn append_ledger(&self, entry: &LedgerEntry) -> StoreResult<()> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let seq = LEDGER_SEQ.fetch_add(1, Ordering::Relaxed);
        let sk = format!("{}#{nanos:024}#{seq:010}", instant_code(entry.at));
        let mut item = key(LEDGER_PK, sk);
        item.insert(A_JSON.into(), s(to_json(entry, "ledger entry")?));
        item.insert(A_DST.into(), s(&entry.destination));
        item.insert(A_SEG.into(), s(&entry.segment));
        self.put("PutItem (ledger)", item).await
    }

    async fn ledger(&self, limit: usize) -> StoreResult<Vec<LedgerEntry>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let items = self
            .query_items("Query (ledger)", Some(limit), || {
                self.client
                    .query()
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_values(":pk", s(LEDGER_PK))
                    .scan_index_forward(false)
            })
            .await?;
        items.iter().map(|i| json_of(i, &describe(i))).collect()
    }

    async fn due_users(&self, now: Millis, limit: usize) -> StoreResult<Vec<String>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let below = instant_code(now.saturating_add(1));
        let per_bucket: Vec<Vec<Item>> = futures::stream::iter(0..BUCKETS)
            .map(|bucket| {
                let below = below.clone();
                async move {
                    self.query_items("Query (due users)", Some(limit), || {
                        self.client
                            .query()
                            .index_name(GSI1)
                            .key_condition_expression("#pk = :pk AND #sk < :below")
                            .expression_attribute_names("#pk", G1PK)
                            .expression_attribute_names("#sk", G1SK)
                            .expression_attribute_values(":pk", s(due_pk(bucket)))
                            .expression_attribute_values(":below", s(below.clone()))
                    })
                    .await
                }
            })
            .buffer_unordered(FAN_OUT)
            .try_collect()
            .await?;
        let mut due: Vec<(String, String)> = per_bucket
            .iter()
            .flatten()
            .filter_map(|i| {
                let user = user_of_pk(get_s(i, PK)?)?;
                Some((get_s(i, G1SK)?.to_string(), user.to_string()))
            })
            .collect();
        due.sort();
        due.truncate(limit);
        Ok(due.into_iter().map(|(_, u)| u).collect())
    }

    async fn scan_users(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<UserState>> {
        let mut out = Vec::new();
        let mut start = after.map(|a| key(user_pk(a), USER_SK));
        while out.len() < limit {
            let resp = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#sk = :s")
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":s", s(USER_SK))
                .limit(i32::try_from(limit.max(25)).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| sdk_error("Scan (users)", &self.table, e))?;
            self.metrics.record(Access::Read, resp.consumed_capacity());
            for item in resp.items() {
                if out.len() == limit {
                    break;
                }
                out.push(json_of::<UserState>(item, &describe(item))?);
            }
            match resp.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn destination_state(
        &self,
        destination: &str,
        segment: &str,
    ) -> StoreResult<Option<serde_json::Value>> {
        let resp = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(destination_pk(destination), segment)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem (destination state)", &self.table, e))?;
        self.metrics.record(Access::Read, resp.consumed_capacity());
        resp.item()
            .map(|i| json_of(i, &format!("{destination}/{segment}")))
            .transpose()
    }

    async fn put_destination_state(
        &self,
        destination: &str,
        segment: &str,
        value: &serde_json::Value,
    ) -> StoreResult<()> {
        let mut item = key(destination_pk(destination), segment);
        item.insert(A_JSON.into(), s(to_json(value, "destination state")?));
        self.put("PutItem (destination state)", item).await
    }

    async fn record_batch(&self, batch: &BatchRecord) -> StoreResult<()> {
        let mut item = key(batch_pk(batch.day), &batch.batch_id);
        item.insert(A_JSON.into(), s(to_json(batch, "batch record")?));
        item.insert(A_TTL.into(), n(expires_at()));
        self.put("PutItem (batch record)", item).await
    }

    async fn batches(&self, from_day: i32, to_day: i32) -> StoreResult<Vec<BatchRecord>> {
        if from_day > to_day {
            return Ok(Vec::new());
        }
        if i64::from(to_day) - i64::from(from_day) >= MAX_BATCH_DAYS {
            return Err(StoreError::Other(format!(
                "batches({from_day}..={to_day}): at most {MAX_BATCH_DAYS} days can be read at once"
            )));
        }
        let per_day: Vec<Vec<Item>> = futures::stream::iter(from_day..=to_day)
            .map(|day| async move {
                self.query_items("Query (batch records)", None, || {
                    self.client
                        .query()
                        .key_condition_expression("#pk = :pk")
                        .expression_attribute_names("#pk", PK)
                        .expression_attribute_values(":pk", s(batch_pk(day)))
                })
                .await
            })
            .buffer_unordered(FAN_OUT)
            .try_collect()
            .await?;
        let mut out: Vec<BatchRecord> = per_day
            .iter()
            .flatten()
            .map(|i| json_of(i, &describe(i)))
            .collect::<StoreResult<_>>()?;
        out.sort_by(|a, b| a.batch_id.cmp(&b.batch_id));
        Ok(out)
    }

    async fn put_dead_letters(&self, letters: &[DeadLetter]) -> StoreResult<()> {
        // One item per record; the last letter of a record in this call wins.
        let mut unique: BTreeMap<(String, &str), &DeadLetter> = BTreeMap::new();
        for l in letters {
            unique.insert((dead_letter_pk(day_of(l.at)), l.record.as_str()), l);
        }
        let ttl = expires_at();
        let requests = unique
            .into_iter()
            .map(|((pk, record), l)| {
                let mut item = key(pk, record);
                item.insert(A_REASON.into(), s(&l.reason));
                item.insert(A_MESSAGE.into(), s(&l.message));
                item.insert(A_AT.into(), n(l.at));
                item.insert(A_DATA.into(), s(&l.data));
                item.insert(A_TTL.into(), n(ttl));
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| {
                        StoreError::Other(format!("cannot build dead letter `{record}`: {e}"))
                    })?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write("BatchWriteItem (dead letters)", requests)
            .await
    }

    async fn list_members_consistent(
        &self,
        segment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        self.members_consistent(segment, after, limit).await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: Millis,
        until: Millis,
    ) -> StoreResult<bool> {
        self.put_lease(name, holder, now, until).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        self.delete_lease(name, holder).await
    }

    async fn lease(&self, name: &str) -> StoreResult<Option<Lease>> {
        self.get_lease(name).await
    }
}

impl DynamoStore {
    async fn put(&self, what: &str, item: Item) -> StoreResult<()> {
        let resp = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| sdk_error(what, &self.table, e))?;
        self.metrics.record(Access::Write, resp.consumed_capacity());
        Ok(())
    }
}
