//! Erasing one user from the DynamoDB store, without a transaction and without a ceiling on
//! the user's links, segments or queues.
//!
//! 1. The user item is read (strongly consistent): an erasure a crash interrupted is
//!    completed first; the version condition is checked (a conflict removes nothing).
//! 2. Links in both directions go: every `L#<endpoint>` pointing at the user by a
//!    `DeleteItem` conditional on still pointing at it, 16 at a time, whatever their number;
//!    and the link keyed by the user's own key. The links are those the state names (its
//!    endpoints, its LINE key) or, when the state may have dropped some (it keeps the 8 most
//!    recent endpoints) or is unreadable, those a parallel Scan finds pointing at the user.
//! 3. The quarantine entry and the dead letters of that quarantine go (their message names
//!    the user; partitions of the retention period are queried with that filter).
//! 4. The due-index entry of the current flip time, and entries already due, are removed.
//! 5. The user item is replaced, conditional on the version read, by an *erasure record*
//!    (no state): the exits (membership items, counters), exit entries for every queue where
//!    the user is pending or a member, the user-count removal. One conditional `PutItem`, so
//!    a concurrent consumer write either came first (conflict) or loads the record.
//! 6. The record is carried out with idempotent writes keyed by the erasure's ID (set `ADD`s,
//!    member deletes conditional on the version read) and the item deleted. A crash between 5
//!    and 6 is completed by the next reader of the user (`load_users`), as a pending fan-out
//!    is; until then `scan_users` skips the item and no state is readable.

use crate::errors::sdk_error;
use crate::keys::*;
use crate::metrics::Access;
use crate::ops::{names, Item};
use crate::pending::{new_fanout_id, outbox_element, PendingOutbox};
use crate::DynamoStore;
use audience_core::hash::Fnv64;
use audience_core::time::day_of;
use audience_core::{ChangeKind, Millis};
use audience_store::{Erased, ErasedVersion, StoreError, StoreResult, UserErasure};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, ReturnConsumedCapacity, ReturnValue, WriteRequest,
};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Concurrent requests.
const FAN_OUT: usize = 16;
/// Parallel segments of the Scan that finds a user's links when its state cannot name them.
const SCAN_SEGMENTS: i32 = 4;

/// One membership an erasure ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErasedMembership {
    /// Segment ID.
    pub segment: String,
    /// Calendar day of the exit (rules' time zone).
    pub day: i32,
    /// The member item's version when read: it is deleted only if not newer.
    pub member_version: u64,
}

/// What an interrupted erasure still has to write; stored in the user item instead of its
/// state (`er`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErasureRecord {
    /// Unique per erasure: names the counter, outbox and user-count items written.
    pub id: String,
    /// The user item's version holding this record.
    pub version: u64,
    /// Memberships to end.
    pub memberships: Vec<ErasedMembership>,
    /// Exit entries to write.
    pub outbox: Vec<PendingOutbox>,
    /// Whether the user is counted out (a state was stored).
    pub user_removed: bool,
}

impl ErasureRecord {
    fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Reads the stored form.
    pub fn decode(bytes: &[u8]) -> Result<ErasureRecord, String> {
        postcard::from_bytes(bytes).map_err(|e| format!("erasure record does not decode: {e}"))
    }

    /// The 8-byte element a counter item counts for the exit of `segment`.
    fn exit_id(&self, segment: &str) -> [u8; 8] {
        let mut h = Fnv64::new();
        h.field(b"erase");
        h.field(self.id.as_bytes());
        h.field(segment.as_bytes());
        h.finish().to_le_bytes()
    }
}

/// The stored user item as an erasure sees it.
struct Stored {
    version: Option<u64>,
    record: Option<ErasureRecord>,
}

impl DynamoStore {
    /// Segments whose member item lists `user` (one strongly consistent BatchGetItem per 100
    /// registered segments), with each member item's version.
    pub(crate) async fn member_items_of(&self, user: &str) -> StoreResult<BTreeMap<String, u64>> {
        let segments: Vec<String> = self
            .registry("S#")
            .await?
            .iter()
            .filter_map(|i| get_s(i, A_SEG).map(str::to_string))
            .collect();
        let keys = segments
            .iter()
            .map(|seg| key(member_pk(seg), user))
            .collect();
        let projection = Some((
            "#pk, #v, #x",
            names([("#pk", PK), ("#v", A_VERSION), ("#x", A_EXITED_FLAG)]),
        ));
        let items = self
            .batch_get("BatchGetItem (memberships)", keys, projection, true)
            .await?;
        Ok(items
            .iter()
            .filter(|i| !i.contains_key(A_EXITED_FLAG))
            .filter_map(|i| {
                let segment = get_s(i, PK)?.strip_prefix("M#")?;
                Some((
                    segment.to_string(),
                    get_i64(i, A_VERSION).unwrap_or(0).max(0) as u64,
                ))
            })
            .collect())
    }

    pub(crate) async fn erase_user_impl(&self, e: &UserErasure) -> StoreResult<Erased> {
        let user = e.user.as_str();
        let mut out = Erased::default();
        let mut stored = self.read_for_erasure(user).await?;
        if let Some(record) = stored.record.take() {
            // An erasure a crash interrupted: its state is already gone.
            self.carry_out(user, &record, &mut out).await?;
            stored.version = None;
        }
        if let ErasedVersion::Read(expected) = e.version {
            if stored.version.unwrap_or(0) != expected {
                return Err(StoreError::VersionConflict {
                    user: user.to_string(),
                });
            }
        }
        out.links += self
            .erase_links(user, &e.identities, e.identities_complete)
            .await?;
        let (quarantine, letters) = self.erase_quarantine(user).await?;
        out.quarantine += quarantine;
        out.dead_letters += letters;
        out.due += self.erase_due(user, e.next_flip_at).await?;
        let version = stored.version.unwrap_or(0);
        let members = self.member_items_of(user).await?;
        let memberships: Vec<ErasedMembership> = e
            .changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Exited)
            .filter_map(|c| {
                members.get(&c.segment).map(|v| ErasedMembership {
                    segment: c.segment.clone(),
                    day: c.day,
                    member_version: *v,
                })
            })
            .collect();
        let outbox = self.exit_entries(e, version).await?;
        let record = ErasureRecord {
            id: new_fanout_id(crate::store::now_millis()),
            version: version.saturating_add(1),
            memberships,
            outbox,
            user_removed: stored.version.is_some(),
        };
        if stored.version.is_some() {
            self.replace_state(user, stored.version, e.version, &record)
                .await?;
            out.state = 1;
        }
        self.carry_out(user, &record, &mut out).await?;
        Ok(out)
    }

    async fn read_for_erasure(&self, user: &str) -> StoreResult<Stored> {
        let resp = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), USER_SK)))
            .consistent_read(true)
            .projection_expression("#v, #er")
            .set_expression_attribute_names(Some(names([("#v", A_VERSION), ("#er", A_ERASURE)])))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|err| sdk_error("GetItem (user to erase)", &self.table, err))?;
        self.metrics.record(Access::Read, resp.consumed_capacity());
        let Some(item) = resp.item() else {
            return Ok(Stored {
                version: None,
                record: None,
            });
        };
        let record = match item.get(A_ERASURE) {
            Some(AttributeValue::B(b)) => Some(
                ErasureRecord::decode(b.as_ref())
                    .map_err(|m| crate::errors::corrupt(user_pk(user), m))?,
            ),
            _ => None,
        };
        Ok(Stored {
            version: Some(get_i64(item, A_VERSION).unwrap_or(0).max(0) as u64),
            record,
        })
    }

    /// Exit entries: the erasure's own, and one for every other queue where the user's newest
    /// entry is an addition (it may have reached the destination). Each is versioned above
    /// every entry of the user in its queue, so it is the one that counts.
    async fn exit_entries(&self, e: &UserErasure, version: u64) -> StoreResult<Vec<PendingOutbox>> {
        let queues: Vec<(String, String)> = self
            .registry("O#")
            .await?
            .iter()
            .filter_map(|i| Some((get_s(i, A_DST)?.to_string(), get_s(i, A_SEG)?.to_string())))
            .collect();
        let reads: Vec<_> = queues
            .into_iter()
            .map(|(dst, seg)| async move {
                let users = self.read_queue(&dst, &seg).await?;
                let newest = users.get(&e.user).map(|u| (u.add, u.version));
                Ok::<_, StoreError>(((dst, seg), newest))
            })
            .collect();
        let newest: BTreeMap<(String, String), Option<(bool, u64)>> = futures::stream::iter(reads)
            .buffer_unordered(FAN_OUT)
            .try_collect()
            .await?;
        let mut wanted: BTreeSet<(String, String)> = e
            .outbox
            .iter()
            .map(|o| (o.destination.clone(), o.segment.clone()))
            .collect();
        wanted.extend(
            newest
                .iter()
                .filter(|(_, n)| matches!(n, Some((true, _))))
                .map(|(q, _)| q.clone()),
        );
        Ok(wanted
            .into_iter()
            .map(|(destination, segment)| {
                let above = newest
                    .get(&(destination.clone(), segment.clone()))
                    .copied()
                    .flatten()
                    .map_or(0, |(_, v)| v);
                PendingOutbox {
                    destination,
                    segment,
                    user: e.user.clone(),
                    add: false,
                    at: e.at,
                    version: version.max(above).saturating_add(1),
                }
            })
            .collect())
    }

    /// Replaces the user item by the erasure record, conditional on the version read.
    async fn replace_state(
        &self,
        user: &str,
        read: Option<u64>,
        wanted: ErasedVersion,
        record: &ErasureRecord,
    ) -> StoreResult<()> {
        let mut item = key(user_pk(user), USER_SK);
        item.insert(A_VERSION.into(), n(record.version));
        item.insert(
            A_ERASURE.into(),
            AttributeValue::B(Blob::new(record.encode())),
        );
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        let req = match (wanted, read) {
            // An unreadable state: whatever version it has, as long as it is still that item.
            (ErasedVersion::Unreadable, Some(v)) | (ErasedVersion::Read(v), _) => req
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", A_VERSION)
                .expression_attribute_values(":v", n(v)),
            (ErasedVersion::Unreadable, None) => req,
        };
        let result = req.send().await.map(|r| r.consumed_capacity().cloned());
        if self.conditional(&format!("PutItem (erasure of `{user}`)"), result)? {
            Ok(())
        } else {
            Err(StoreError::VersionConflict {
                user: user.to_string(),
            })
        }
    }

    /// Carries out an erasure record (idempotent) and deletes the item holding it.
    pub(crate) async fn carry_out(
        &self,
        user: &str,
        record: &ErasureRecord,
        out: &mut Erased,
    ) -> StoreResult<()> {
        let registry: BTreeSet<String> = record
            .memberships
            .iter()
            .map(|m| registry_segment_sk(&m.segment))
            .chain(
                record
                    .outbox
                    .iter()
                    .map(|o| outbox_key(&o.destination, &o.segment)),
            )
            .collect();
        self.register(&registry).await?;
        let mut sets: Vec<(Item, &'static str, AttributeValue)> = Vec::new();
        for m in &record.memberships {
            let id = record.exit_id(&m.segment);
            sets.push((
                key(counter_pk(&m.segment), counter_sk(m.day, &record.id, 0)),
                A_EXITED,
                AttributeValue::Bs(vec![Blob::new(id.to_vec())]),
            ));
        }
        for o in &record.outbox {
            sets.push((
                key(
                    outbox_key(&o.destination, &o.segment),
                    fanout_sk(&record.id, 0),
                ),
                A_ENTRIES,
                AttributeValue::Ss(vec![outbox_element(o)]),
            ));
        }
        if record.user_removed {
            let id = audience_core::hash::fnv1a64(format!("erase#{}", record.id).as_bytes());
            sets.push((
                key(USER_COUNT_PK, fanout_sk(&record.id, 0)),
                A_REMOVED,
                AttributeValue::Bs(vec![Blob::new(id.to_le_bytes().to_vec())]),
            ));
        }
        let adds: Vec<_> = sets
            .into_iter()
            .map(|(k, attr, value)| self.add_to_set(k, attr, value))
            .collect();
        futures::stream::iter(adds)
            .buffer_unordered(FAN_OUT)
            .try_collect::<Vec<()>>()
            .await?;
        let deletes: Vec<_> = record
            .memberships
            .iter()
            .map(|m| self.delete_member(&m.segment, user, m.member_version))
            .collect();
        let ended: Vec<bool> = futures::stream::iter(deletes)
            .buffer_unordered(FAN_OUT)
            .try_collect()
            .await?;
        out.memberships += ended.iter().filter(|d| **d).count() as u64;
        out.outbox += record.outbox.len() as u64;
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), USER_SK)))
            .condition_expression("#v = :v AND attribute_exists(#er)")
            .set_expression_attribute_names(Some(names([("#v", A_VERSION), ("#er", A_ERASURE)])))
            .expression_attribute_values(":v", n(record.version))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map(|r| r.consumed_capacity().cloned());
        // A failed condition: no item (an erasure of a user without state), or a user created
        // again since by a later event — a new user, left alone.
        self.conditional(&format!("DeleteItem (erased user `{user}`)"), result)?;
        Ok(())
    }

    async fn add_to_set(&self, k: Item, attr: &str, value: AttributeValue) -> StoreResult<()> {
        let resp = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(k))
            .update_expression("ADD #a :v")
            .expression_attribute_names("#a", attr)
            .expression_attribute_values(":v", value)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|err| sdk_error("UpdateItem (erasure sets)", &self.table, err))?;
        self.metrics.record(Access::Write, resp.consumed_capacity());
        Ok(())
    }

    /// Deletes a member item unless a newer change wrote it since (true when deleted).
    async fn delete_member(&self, segment: &str, user: &str, version: u64) -> StoreResult<bool> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(member_pk(segment), user)))
            .condition_expression("attribute_exists(#pk) AND #v <= :v AND attribute_not_exists(#x)")
            .set_expression_attribute_names(Some(names([
                ("#pk", PK),
                ("#v", A_VERSION),
                ("#x", A_EXITED_FLAG),
            ])))
            .expression_attribute_values(":v", n(version))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map(|r| r.consumed_capacity().cloned());
        self.conditional(
            &format!("DeleteItem (member `{user}` of `{segment}`)"),
            result,
        )
    }

    /// Removes every link pointing at the user and the link keyed by its own key. The links
    /// are those the state names, or — when the state may not name them all — every link
    /// item found pointing at the user by a parallel Scan.
    async fn erase_links(
        &self,
        user: &str,
        identities: &[String],
        complete: bool,
    ) -> StoreResult<u64> {
        let mut endpoints: BTreeSet<String> = identities.iter().cloned().collect();
        if !complete {
            endpoints.extend(self.scan_links_of(user).await?);
        }
        let deletes: Vec<_> = endpoints
            .iter()
            .map(|endpoint| async move {
                let result = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key(link_pk(endpoint), LINK_SK)))
                    .condition_expression("#u = :u")
                    .expression_attribute_names("#u", A_USR)
                    .expression_attribute_values(":u", s(user))
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map(|r| r.consumed_capacity().cloned());
                // A failed condition: no such link, or it points at someone else now.
                self.conditional("DeleteItem (link)", result)
            })
            .collect();
        let deleted: Vec<bool> = futures::stream::iter(deletes)
            .buffer_unordered(FAN_OUT)
            .try_collect()
            .await?;
        let mut count = deleted.iter().filter(|d| **d).count() as u64;
        // The other direction: the user's key as an identity of someone else.
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(link_pk(user), LINK_SK)))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map(|r| r.consumed_capacity().cloned());
        if self.conditional("DeleteItem (link keyed by the user)", result)? {
            count += 1;
        }
        Ok(count)
    }

    /// Endpoints whose link item points at `user`: a Scan in [`SCAN_SEGMENTS`] parallel
    /// segments, filtered on the link's owner (reads the whole table: only for an erasure
    /// whose state may not name every link).
    async fn scan_links_of(&self, user: &str) -> StoreResult<Vec<String>> {
        let scans = (0..SCAN_SEGMENTS).map(|segment| async move {
            let mut found = Vec::new();
            let mut start: Option<Item> = None;
            loop {
                let resp = self
                    .client
                    .scan()
                    .table_name(&self.table)
                    .segment(segment)
                    .total_segments(SCAN_SEGMENTS)
                    .filter_expression("begins_with(#pk, :l) AND #sk = :lsk AND #u = :u")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_names("#u", A_USR)
                    .expression_attribute_values(":l", s("L#"))
                    .expression_attribute_values(":lsk", s(LINK_SK))
                    .expression_attribute_values(":u", s(user))
                    .projection_expression("#pk")
                    .set_exclusive_start_key(start.take())
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(|err| sdk_error("Scan (links of a user)", &self.table, err))?;
                self.metrics.record(Access::Read, resp.consumed_capacity());
                found.extend(
                    resp.items()
                        .iter()
                        .filter_map(|i| get_s(i, PK)?.strip_prefix("L#").map(str::to_string)),
                );
                match resp.last_evaluated_key() {
                    Some(k) if !k.is_empty() => start = Some(k.clone()),
                    _ => return Ok::<_, StoreError>(found),
                }
            }
        });
        let found: Vec<Vec<String>> = futures::future::try_join_all(scans).await?;
        Ok(found.concat())
    }

    /// Removes the user's quarantine entry and the dead letters of that quarantine.
    async fn erase_quarantine(&self, user: &str) -> StoreResult<(u64, u64)> {
        let resp = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(QUARANTINE_PK, user)))
            .return_values(ReturnValue::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|err| sdk_error("DeleteItem (quarantine entry)", &self.table, err))?;
        self.metrics.record(Access::Write, resp.consumed_capacity());
        let quarantined = u64::from(resp.attributes().is_some_and(|a| !a.is_empty()));
        // Dead letters live in day partitions for the retention period; those of the user's
        // quarantine say so at the start of their message.
        let prefix = format!("user `{user}` is quarantined");
        let today = day_of(crate::store::now_millis());
        let days = i32::try_from(crate::store::RETENTION_DAYS).unwrap_or(90) + 1;
        let reads: Vec<_> = (today - days..=today + 1)
            .map(|day| {
                let prefix = prefix.clone();
                async move {
                    self.query_items("Query (dead letters of a user)", None, || {
                        self.client
                            .query()
                            .key_condition_expression("#pk = :pk")
                            .filter_expression("begins_with(#m, :m)")
                            .expression_attribute_names("#pk", PK)
                            .expression_attribute_names("#sk", SK)
                            .expression_attribute_names("#m", A_MESSAGE)
                            .expression_attribute_values(":pk", s(dead_letter_pk(day)))
                            .expression_attribute_values(":m", s(prefix.clone()))
                            .projection_expression("#pk, #sk")
                    })
                    .await
                }
            })
            .collect();
        let found: Vec<Vec<Item>> = futures::stream::iter(reads)
            .buffer_unordered(FAN_OUT)
            .try_collect()
            .await?;
        let keys: Vec<Item> = found
            .into_iter()
            .flatten()
            .filter_map(|i| Some(key(get_s(&i, PK)?, get_s(&i, SK)?)))
            .collect();
        let letters = keys.len() as u64;
        let requests = keys
            .into_iter()
            .map(delete_request)
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write("BatchWriteItem (dead letters of a user)", requests)
            .await?;
        Ok((quarantined, letters))
    }

    /// Removes the user's due entries: those of its current flip time, and any already due.
    async fn erase_due(&self, user: &str, flip: Option<Millis>) -> StoreResult<u64> {
        let today = day_of(crate::store::now_millis());
        let mut days: BTreeSet<i32> = self
            .registry("D#")
            .await?
            .iter()
            .filter_map(|i| get_s(i, SK)?.strip_prefix("D#").and_then(day_from_code))
            .filter(|d| *d <= today)
            .collect();
        days.extend(flip.map(day_of));
        let partitions: Vec<String> = days
            .iter()
            .flat_map(|d| (0..DUE_SHARDS).map(move |s| due_pk(*d, s)))
            .collect();
        let reads: Vec<_> = partitions
            .into_iter()
            .map(|pk| async move {
                self.query_items("Query (due index of a user)", None, || {
                    self.client
                        .query()
                        .key_condition_expression("#pk = :pk")
                        .expression_attribute_names("#pk", PK)
                        .expression_attribute_values(":pk", s(pk.clone()))
                })
                .await
            })
            .collect();
        let found: Vec<Vec<Item>> = futures::stream::iter(reads)
            .buffer_unordered(FAN_OUT)
            .try_collect()
            .await?;
        let mut removals = Vec::new();
        for item in found.iter().flatten() {
            let (Some(pk), Some(sk)) = (get_s(item, PK), get_s(item, SK)) else {
                continue;
            };
            let Some(AttributeValue::Ss(elements)) = item.get(A_DUE) else {
                continue;
            };
            let mine: Vec<String> = elements
                .iter()
                .filter(|el| parse_due_element(el).is_some_and(|(_, u)| u == user))
                .cloned()
                .collect();
            if !mine.is_empty() {
                removals.push((pk.to_string(), sk.to_string(), mine));
            }
        }
        let count = removals.iter().map(|(_, _, m)| m.len() as u64).sum();
        let removals: Vec<_> = removals
            .into_iter()
            .map(|(pk, sk, elements)| self.remove_due(pk, sk, elements))
            .collect();
        futures::stream::iter(removals)
            .buffer_unordered(FAN_OUT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(count)
    }
}

fn delete_request(k: Item) -> StoreResult<WriteRequest> {
    let delete = DeleteRequest::builder()
        .set_key(Some(k))
        .build()
        .map_err(|e| StoreError::Other(format!("cannot build a DynamoDB delete request: {e}")))?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}
