//! `impl StateStore for DynamoStore`: reads by key (BatchGetItem), by partition (Query); the
//! only Scan is `scan_users` (whole, or one segment of a parallel scan: `scan_users_part`). Commits are in `commit.rs`, the fan-out in `fanout.rs`, the due
//! index in `due.rs`, the outbox in `outbox.rs`.

use crate::errors::{corrupt, sdk_error};
use crate::keys::*;
use crate::metrics::Access;
use crate::ops::{names, Item};
use crate::pending::PendingFanOut;
use crate::DynamoStore;
use async_trait::async_trait;
use audience_core::time::day_of;
use audience_core::{decode_state, Millis, UserState};
use audience_store::*;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, ReturnConsumedCapacity, WriteRequest};
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

/// Batch records and dead letters expire this long after they are written.
pub const RETENTION_DAYS: u64 = 90;
/// Concurrent requests for fan-out reads (per segment, per day) and acks.
const FAN_OUT: usize = 16;
/// DynamoDB's largest `TotalSegments` of a parallel scan.
const MAX_SCAN_SEGMENTS: i32 = 1_000_000;
/// The widest day range `batches` reads (one Query per day).
const MAX_BATCH_DAYS: i64 = 3_660;

static LEDGER_SEQ: AtomicU64 = AtomicU64::new(0);

/// The wall clock, epoch seconds.
pub(crate) fn now_secs() -> u64 {
    u64::try_from(now_millis() / 1000).unwrap_or(0)
}

/// The wall clock, epoch milliseconds.
pub(crate) fn now_millis() -> Millis {
    audience_clock::now_millis()
}

fn scan_part_error(part: u32, total: u32) -> StoreError {
    StoreError::Other(format!(
        "scan part {part} of {total}: DynamoDB splits a scan into at most {MAX_SCAN_SEGMENTS} segments"
    ))
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

/// A user item's state (binary `b`, or the JSON `j` of earlier versions).
fn state_of(item: &Item) -> Result<UserState, String> {
    let bytes = match (item.get(A_STATE), item.get(A_JSON)) {
        (Some(AttributeValue::B(b)), _) => b.as_ref(),
        (_, Some(AttributeValue::S(j))) => j.as_bytes(),
        _ => return Err(format!("the user item has no `{A_STATE}` attribute")),
    };
    decode_state(bytes).map_err(|e| e.to_string())
}

/// Number of elements of a set attribute (0 when absent; a number for base items folded by
/// `fold` and for old delta items).
fn set_len(item: &Item, name: &str) -> i64 {
    match item.get(name) {
        Some(AttributeValue::Bs(v)) => v.len() as i64,
        Some(AttributeValue::Ss(v)) => v.len() as i64,
        Some(AttributeValue::N(v)) => v.parse().unwrap_or(0),
        _ => 0,
    }
}

impl DynamoStore {
    /// Counter items of a segment, optionally only for days `from..=to`.
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
    /// Reads users (strongly consistent) and completes any fan-out a crash left pending in
    /// their items before returning them.
    async fn load_users(&self, keys: &[String]) -> StoreResult<UserLoad> {
        let request = keys.iter().map(|k| key(user_pk(k), USER_SK)).collect();
        let projection = Some((
            "#pk, #b, #j, #p, #er",
            names([
                ("#pk", PK),
                ("#b", A_STATE),
                ("#j", A_JSON),
                ("#p", A_PENDING),
                ("#er", A_ERASURE),
            ]),
        ));
        let items = self
            .batch_get("BatchGetItem (users)", request, projection, true)
            .await?;
        let mut out = UserLoad {
            states: HashMap::with_capacity(items.len()),
            unreadable: BTreeMap::new(),
        };
        let mut pendings: Vec<(String, PendingFanOut)> = Vec::new();
        let mut erasures: Vec<(String, crate::erase::ErasureRecord)> = Vec::new();
        for item in items {
            let pk = get_s(&item, PK).unwrap_or_default();
            let Some(user) = user_of_pk(pk) else {
                continue;
            };
            if let Some(AttributeValue::B(b)) = item.get(A_ERASURE) {
                // An erasure a crash interrupted: no state; complete it.
                match crate::erase::ErasureRecord::decode(b.as_ref()) {
                    Ok(record) => erasures.push((user.to_string(), record)),
                    Err(why) => {
                        out.unreadable.insert(user.to_string(), why);
                    }
                }
                continue;
            }
            let pending = match item.get(A_PENDING) {
                Some(AttributeValue::B(b)) => Some(PendingFanOut::decode(b.as_ref())),
                _ => None,
            };
            match (state_of(&item), pending) {
                (Ok(state), None) => {
                    out.states.insert(user.to_string(), state);
                }
                (Ok(state), Some(Ok(p))) => {
                    pendings.push((user.to_string(), p));
                    out.states.insert(user.to_string(), state);
                }
                (Err(why), _) | (Ok(_), Some(Err(why))) => {
                    out.unreadable.insert(user.to_string(), why);
                }
            }
        }
        if !pendings.is_empty() {
            tracing::info!(users = pendings.len(), "completing fan-outs left pending");
            let refs: Vec<(&str, &PendingFanOut)> =
                pendings.iter().map(|(u, p)| (u.as_str(), p)).collect();
            self.fan_out(&refs).await?;
        }
        for (user, record) in &erasures {
            tracing::info!("completing an erasure a crash interrupted");
            self.carry_out(user, record, &mut Erased::default()).await?;
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
        self.commit_batch(std::slice::from_ref(commit))
            .await
            .pop()
            .unwrap_or_else(|| Err(StoreError::Other("no commit result".into())))
    }

    async fn commit_users(&self, commits: &[UserCommit]) -> Vec<StoreResult<()>> {
        self.commit_batch(commits).await
    }

    async fn user_count(&self) -> StoreResult<u64> {
        let items = self
            .query_items("Query (user count)", None, || {
                self.client
                    .query()
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_values(":pk", s(USER_COUNT_PK))
            })
            .await?;
        let total: i64 = items
            .iter()
            .map(|i| set_len(i, A_ADDED) - set_len(i, A_REMOVED))
            .sum();
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
                let entered: i64 = items.iter().map(|i| set_len(i, A_ENTERED)).sum();
                let exited: i64 = items.iter().map(|i| set_len(i, A_EXITED)).sum();
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
        let history = history_pk(segment);
        let folded = self
            .query_items("Query (folded history)", None, || {
                self.client
                    .query()
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":pk", s(history.clone()))
                    .expression_attribute_values(":from", s(day_code(from_day)))
                    .expression_attribute_values(":to", s(day_code(to_day)))
            })
            .await?;
        let mut days: BTreeMap<i32, DailyCounts> = BTreeMap::new();
        for item in items.iter().chain(&folded) {
            let sk = get_s(item, SK).unwrap_or_default();
            let day = day_from_code(sk)
                .ok_or_else(|| corrupt(describe(item), "counter key has no day"))?;
            let d = days.entry(day).or_insert(DailyCounts {
                day,
                entered: 0,
                exited: 0,
            });
            d.entered += set_len(item, A_ENTERED).max(0) as u64;
            d.exited += set_len(item, A_EXITED).max(0) as u64;
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
        self.members(segment, after, limit, false).await
    }

    async fn pending_summary(&self) -> StoreResult<Vec<PendingSummary>> {
        self.pending_summary_impl().await
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
        self.pending_impl(destination, segment, limit).await
    }

    async fn ack_pending(&self, entries: &[OutboxEntry]) -> StoreResult<usize> {
        self.ack_pending_impl(entries).await
    }

    async fn append_ledger(&self, entry: &LedgerEntry) -> StoreResult<()> {
        let nanos = audience_clock::now_nanos();
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
        self.due_users_impl(now, limit).await
    }

    async fn due_done(&self, now: Millis, users: &[String]) -> StoreResult<()> {
        self.due_done_impl(now, users).await
    }

    async fn scan_users(&self, after: Option<&str>, limit: usize) -> StoreResult<ScanPage> {
        self.scan_users_impl(None, after, limit).await
    }

    /// DynamoDB's parallel scan: `Segment` = `part`, `TotalSegments` = `total`.
    async fn scan_users_part(
        &self,
        part: u32,
        total: u32,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<ScanPage> {
        check_scan_part(part, total)?;
        let (segment, segments) = (
            i32::try_from(part).map_err(|_| scan_part_error(part, total))?,
            i32::try_from(total).map_err(|_| scan_part_error(part, total))?,
        );
        if segments > MAX_SCAN_SEGMENTS {
            return Err(scan_part_error(part, total));
        }
        self.scan_users_impl(Some((segment, segments)), after, limit)
            .await
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

    async fn quarantine(&self, entries: &[Quarantined]) -> StoreResult<()> {
        for q in entries {
            let mut item = key(QUARANTINE_PK, &q.user);
            item.insert(A_JSON.into(), s(to_json(q, "quarantine entry")?));
            item.insert(A_AT.into(), n(q.at));
            self.put("PutItem (quarantine)", item).await?;
        }
        Ok(())
    }

    async fn quarantined(&self, limit: usize) -> StoreResult<Vec<Quarantined>> {
        let items = self
            .query_items("Query (quarantine)", None, || {
                self.client
                    .query()
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_values(":pk", s(QUARANTINE_PK))
            })
            .await?;
        let mut out: Vec<Quarantined> = items
            .iter()
            .map(|i| json_of(i, &describe(i)))
            .collect::<StoreResult<_>>()?;
        out.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.user.cmp(&b.user)));
        out.truncate(limit);
        Ok(out)
    }

    async fn list_members_consistent(
        &self,
        segment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        self.members(segment, after, limit, true).await
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

    async fn memberships_of(&self, user: &str) -> StoreResult<Vec<String>> {
        Ok(self.member_items_of(user).await?.into_keys().collect())
    }

    async fn erase_user(&self, erasure: &UserErasure) -> StoreResult<Erased> {
        self.erase_user_impl(erasure).await
    }

    async fn fold_counters(&self, now: Millis, limits: &FoldLimits) -> StoreResult<FoldOutcome> {
        self.fold_counters_impl(now, limits).await
    }

    async fn record_sizes(&self, snapshot: &SizeSnapshot) -> StoreResult<()> {
        self.record_sizes_impl(snapshot).await
    }

    async fn sizes_at(&self, at: Millis, not_before: Millis) -> StoreResult<Option<SizeSnapshot>> {
        self.sizes_at_impl(at, not_before).await
    }
}

impl DynamoStore {
    /// A plain PutItem.
    pub(crate) async fn put(&self, what: &str, item: Item) -> StoreResult<()> {
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

impl DynamoStore {
    /// A page of users from the whole table or from one segment of a parallel scan. The
    /// cursor is the last user listed: its key is the scan's `ExclusiveStartKey`, which lies
    /// in the same segment.
    async fn scan_users_impl(
        &self,
        segment: Option<(i32, i32)>,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<ScanPage> {
        let mut page = ScanPage::default();
        let mut start = after.map(|a| key(user_pk(a), USER_SK));
        let mut seen = 0;
        loop {
            let resp = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#sk = :s AND attribute_not_exists(#er)")
                .expression_attribute_names("#sk", SK)
                .expression_attribute_names("#er", A_ERASURE)
                .expression_attribute_values(":s", s(USER_SK))
                .limit(i32::try_from(limit.max(25)).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .set_segment(segment.map(|(part, _)| part))
                .set_total_segments(segment.map(|(_, total)| total))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| sdk_error("Scan (users)", &self.table, e))?;
            self.metrics.record(Access::Read, resp.consumed_capacity());
            for item in resp.items() {
                if seen == limit {
                    return Ok(page);
                }
                let Some(user) = get_s(item, PK).and_then(user_of_pk) else {
                    continue;
                };
                seen += 1;
                match state_of(item) {
                    Ok(state) => page.users.push(state),
                    Err(why) => {
                        page.unreadable.insert(user.to_string(), why);
                    }
                }
                page.next = Some(user.to_string());
            }
            match resp.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => {
                    page.next = None;
                    return Ok(page);
                }
            }
        }
    }
}
