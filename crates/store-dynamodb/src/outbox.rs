//! Pending sync work: `O#<destination>#<segment>` / `<fan-out ID>#<chunk>` items holding a
//! string set of entries `<+|->|<version>|<at>|<user>` (one `ADD` per batch and queue).
//!
//! A user's newest entry (highest version) is the one that counts; older ones are superseded
//! and removed with it. An acknowledgement deletes exactly the entries it read (`DELETE` from
//! the set), so an entry written after the read — a newer change — survives it.

use crate::errors::{corrupt, sdk_error};
use crate::keys::*;
use crate::metrics::Access;
use crate::ops::names;
use crate::pending::parse_outbox_element;
use crate::DynamoStore;
use audience_core::{ChangeKind, Millis};
use audience_store::{OutboxEntry, PendingSummary, StoreError, StoreResult};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use futures::{StreamExt, TryStreamExt};
use std::collections::BTreeMap;

/// Concurrent requests.
const FAN_OUT: usize = 16;
/// Separates an item sort key from its element in a change ID.
const REF_SEP: char = '\u{1f}';
/// Separates references in a change ID.
const REFS_SEP: char = '\u{1e}';

/// The newest entry of one user in a queue, and every element of that user read.
pub(crate) struct UserEntries {
    pub(crate) add: bool,
    pub(crate) version: u64,
    pub(crate) at: Millis,
    pub(crate) refs: Vec<(String, String)>,
}

impl DynamoStore {
    /// Every user's newest entry of a queue (consistent read).
    pub(crate) async fn read_queue(
        &self,
        destination: &str,
        segment: &str,
    ) -> StoreResult<BTreeMap<String, UserEntries>> {
        let pk = outbox_key(destination, segment);
        let items = self
            .query_items("Query (outbox)", None, || {
                self.client
                    .query()
                    .consistent_read(true)
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_values(":pk", s(pk.clone()))
            })
            .await?;
        let mut users: BTreeMap<String, UserEntries> = BTreeMap::new();
        for item in &items {
            let sk = get_s(item, SK).unwrap_or_default();
            let Some(AttributeValue::Ss(elements)) = item.get(A_ENTRIES) else {
                continue;
            };
            for element in elements {
                let (add, version, at, user) = parse_outbox_element(element).ok_or_else(|| {
                    corrupt(
                        format!("{pk}/{sk}"),
                        format!("bad outbox entry `{element}`"),
                    )
                })?;
                let e = users.entry(user.to_string()).or_insert(UserEntries {
                    add,
                    version,
                    at,
                    refs: Vec::new(),
                });
                if version > e.version || (version == e.version && !add && e.add) {
                    (e.add, e.version, e.at) = (add, version, at);
                }
                e.refs.push((sk.to_string(), element.clone()));
            }
        }
        Ok(users)
    }

    pub(crate) async fn pending_impl(
        &self,
        destination: &str,
        segment: &str,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEntry>> {
        let users = self.read_queue(destination, segment).await?;
        let mut out: Vec<OutboxEntry> = users
            .into_iter()
            .map(|(user, e)| OutboxEntry {
                destination: destination.to_string(),
                segment: segment.to_string(),
                op: if e.add {
                    ChangeKind::Entered
                } else {
                    ChangeKind::Exited
                },
                at: e.at,
                change_id: e
                    .refs
                    .iter()
                    .map(|(sk, el)| format!("{sk}{REF_SEP}{el}"))
                    .collect::<Vec<_>>()
                    .join(&REFS_SEP.to_string()),
                user,
            })
            .collect();
        out.sort_by(|a, b| (a.at, &a.user).cmp(&(b.at, &b.user)));
        out.truncate(limit);
        Ok(out)
    }

    pub(crate) async fn ack_pending_impl(&self, entries: &[OutboxEntry]) -> StoreResult<usize> {
        let mut by_item: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for e in entries {
            let pk = outbox_key(&e.destination, &e.segment);
            for r in e.change_id.split(REFS_SEP).filter(|r| !r.is_empty()) {
                let (sk, element) = r.split_once(REF_SEP).ok_or_else(|| {
                    StoreError::Other(format!(
                        "outbox change ID of `{}` is not from this store",
                        e.user
                    ))
                })?;
                by_item
                    .entry((pk.clone(), sk.to_string()))
                    .or_default()
                    .push(element.to_string());
            }
        }
        let removals: Vec<_> = by_item
            .into_iter()
            .map(|((pk, sk), elements)| self.remove_entries(pk, sk, elements))
            .collect();
        futures::stream::iter(removals)
            .buffer_unordered(FAN_OUT)
            .try_collect::<Vec<()>>()
            .await?;
        // An entry counts as acknowledged when its user has nothing newer left in the queue.
        let mut queues: BTreeMap<(&str, &str), Vec<&OutboxEntry>> = BTreeMap::new();
        for e in entries {
            queues
                .entry((&e.destination, &e.segment))
                .or_default()
                .push(e);
        }
        let mut removed = 0;
        for ((dst, seg), acked) in queues {
            let left = self.read_queue(dst, seg).await?;
            removed += acked.iter().filter(|e| !left.contains_key(&e.user)).count();
        }
        Ok(removed)
    }

    async fn remove_entries(
        &self,
        pk: String,
        sk: String,
        elements: Vec<String>,
    ) -> StoreResult<()> {
        let resp = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), sk.clone())))
            .update_expression("DELETE #e :e")
            .set_expression_attribute_names(Some(names([("#e", A_ENTRIES)])))
            .expression_attribute_values(":e", AttributeValue::Ss(elements))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateItem (ack outbox)", &self.table, e))?;
        self.metrics.record(Access::Write, resp.consumed_capacity());
        if resp.attributes().is_none_or(|a| !a.contains_key(A_ENTRIES)) {
            self.delete_if_absent(key(pk, sk), A_ENTRIES, "DeleteItem (empty outbox item)")
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn pending_summary_impl(&self) -> StoreResult<Vec<PendingSummary>> {
        let queues: Vec<(String, String)> = self
            .registry("O#")
            .await?
            .iter()
            .filter_map(|i| Some((get_s(i, A_DST)?.to_string(), get_s(i, A_SEG)?.to_string())))
            .collect();
        let reads: Vec<_> = queues
            .into_iter()
            .map(|(destination, segment)| async move {
                let users = self.read_queue(&destination, &segment).await?;
                let mut row = PendingSummary {
                    destination,
                    segment,
                    ..PendingSummary::default()
                };
                for e in users.values() {
                    if e.add {
                        row.additions += 1;
                    } else {
                        row.exits += 1;
                    }
                    row.oldest_at = Some(row.oldest_at.map_or(e.at, |o: Millis| o.min(e.at)));
                }
                Ok::<_, StoreError>(row)
            })
            .collect();
        let mut rows: Vec<PendingSummary> = futures::stream::iter(reads)
            .buffer_unordered(FAN_OUT)
            .try_collect()
            .await?;
        rows.retain(|r| r.additions + r.exits > 0);
        rows.sort_by(|a, b| (&a.destination, &a.segment).cmp(&(&b.destination, &b.segment)));
        Ok(rows)
    }
}
