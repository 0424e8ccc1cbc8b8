//! The due-for-re-evaluation index: which users the sweep must look at by when.
//!
//! Not a GSI on the user item (moving a user's flip time would cost two index writes on
//! almost every commit) but per-batch items: `DUE#<day>#<shard>` / `<fan-out ID>#<chunk>`
//! holding a string set of `<instant>|<user>`, written with one `ADD` per day a batch's flip
//! times fall on, *before* the users are committed (an entry for a commit that then fails is
//! harmless: the sweep loads the user, sees it is not due, and drops the entry; a missing entry
//! would miss an exit). The sweep reads the days up to today (days come from the registry,
//! `REG` / `D#<day>`), and `due_done` deletes the entries it processed.

use crate::errors::sdk_error;
use crate::keys::*;
use crate::metrics::Access;
use crate::ops::{names, Item};
use crate::DynamoStore;
use audience_core::time::day_of;
use audience_core::Millis;
use audience_store::{StoreError, StoreResult};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity, ReturnValue};
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Elements per due item (an element is ~30–550 bytes; 1,000 keep items far below 400 KB).
const ELEMENTS_PER_ITEM: usize = 1_000;
/// Concurrent requests.
const FAN_OUT: usize = 16;
/// Registry entries of days this many days before today are removed once their items are gone.
const KEEP_EMPTY_DAYS: i32 = 2;

/// Where a listed user's entries are, for `due_done`.
pub(crate) type DueRefs = HashMap<String, Vec<(String, String, String, Millis)>>;

impl DynamoStore {
    /// Writes due entries `(instant, user)` under fan-out `fanout`.
    pub(crate) async fn write_due(
        &self,
        fanout: &str,
        entries: &[(Millis, String)],
    ) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let shard = stable_hash(fanout) % DUE_SHARDS;
        let mut by_day: BTreeMap<i32, BTreeSet<String>> = BTreeMap::new();
        for (at, user) in entries {
            by_day
                .entry(day_of(*at))
                .or_default()
                .insert(due_element(*at, user));
        }
        let registry: BTreeSet<String> = by_day.keys().map(|d| registry_due_sk(*d)).collect();
        self.register(&registry).await?;
        let mut writes = Vec::new();
        for (day, elements) in by_day {
            let elements: Vec<String> = elements.into_iter().collect();
            for (chunk, part) in elements.chunks(ELEMENTS_PER_ITEM).enumerate() {
                writes.push((
                    key(due_pk(day, shard), fanout_sk(fanout, chunk)),
                    part.to_vec(),
                ));
            }
        }
        let writes = writes.into_iter().map(|(k, elements)| async move {
            let resp = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(k))
                .update_expression("ADD #d :d")
                .set_expression_attribute_names(Some(names([("#d", A_DUE)])))
                .expression_attribute_values(":d", AttributeValue::Ss(elements))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| sdk_error("UpdateItem (due index)", &self.table, e))?;
            self.metrics.record(Access::Write, resp.consumed_capacity());
            Ok::<(), StoreError>(())
        });
        futures::stream::iter(writes)
            .buffer_unordered(FAN_OUT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// The days of the due index (its registry `D#` entries) at or before `today`.
    pub(crate) async fn due_days_until(&self, today: i32) -> StoreResult<Vec<i32>> {
        Ok(self
            .registry("D#")
            .await?
            .iter()
            .filter_map(|i| {
                get_s(i, SK)
                    .and_then(|sk| sk.strip_prefix("D#"))
                    .and_then(day_from_code)
            })
            .filter(|d| *d <= today)
            .collect())
    }

    /// Users with an entry at or before `now`, earliest first, at most `limit`; remembers
    /// where their entries are for [`DynamoStore::due_done_impl`].
    pub(crate) async fn due_users_impl(
        &self,
        now: Millis,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let today = day_of(now);
        let days = self.due_days_until(today).await?;
        let partitions: Vec<(i32, String)> = days
            .iter()
            .flat_map(|d| (0..DUE_SHARDS).map(move |s| (*d, due_pk(*d, s))))
            .collect();
        let reads: Vec<_> = partitions
            .into_iter()
            .map(|(day, pk)| async move {
                let items = self
                    .query_items("Query (due index)", None, || {
                        self.client
                            .query()
                            .key_condition_expression("#pk = :pk")
                            .expression_attribute_names("#pk", PK)
                            .expression_attribute_values(":pk", s(pk.clone()))
                    })
                    .await?;
                Ok::<_, StoreError>((day, items))
            })
            .collect();
        let per_partition: Vec<(i32, Vec<Item>)> = futures::stream::iter(reads)
            .buffer_unordered(FAN_OUT)
            .try_collect()
            .await?;
        let mut refs: DueRefs = HashMap::new();
        let mut earliest: HashMap<String, Millis> = HashMap::new();
        let mut empty_days: BTreeMap<i32, bool> = days.iter().map(|d| (*d, true)).collect();
        for (day, items) in &per_partition {
            if !items.is_empty() {
                empty_days.insert(*day, false);
            }
            for item in items {
                let (Some(pk), Some(sk)) = (get_s(item, PK), get_s(item, SK)) else {
                    continue;
                };
                let Some(AttributeValue::Ss(elements)) = item.get(A_DUE) else {
                    continue;
                };
                for element in elements {
                    let Some((at, user)) = parse_due_element(element) else {
                        continue;
                    };
                    if at > now {
                        continue;
                    }
                    let e = earliest.entry(user.to_string()).or_insert(at);
                    *e = (*e).min(at);
                    refs.entry(user.to_string()).or_default().push((
                        pk.to_string(),
                        sk.to_string(),
                        element.clone(),
                        at,
                    ));
                }
            }
        }
        self.forget_empty_days(&empty_days, today).await?;
        let mut due: Vec<(Millis, String)> = earliest.into_iter().map(|(u, t)| (t, u)).collect();
        due.sort();
        due.truncate(limit);
        let mut cache = self.due_refs.lock().map_err(|_| {
            StoreError::Other("due index cache poisoned by an earlier panic".into())
        })?;
        for (_, user) in &due {
            if let Some(r) = refs.remove(user) {
                cache.insert(user.clone(), r);
            }
        }
        Ok(due.into_iter().map(|(_, u)| u).collect())
    }

    /// Deletes the listed entries (at or before `now`) of users the sweep processed; items
    /// left empty are deleted.
    pub(crate) async fn due_done_impl(&self, now: Millis, users: &[String]) -> StoreResult<()> {
        let mut by_item: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        {
            let mut cache = self.due_refs.lock().map_err(|_| {
                StoreError::Other("due index cache poisoned by an earlier panic".into())
            })?;
            for user in users {
                for (pk, sk, element, at) in cache.remove(user).unwrap_or_default() {
                    if at <= now {
                        by_item.entry((pk, sk)).or_default().push(element);
                    }
                }
            }
        }
        let removals: Vec<_> = by_item
            .into_iter()
            .map(|((pk, sk), elements)| self.remove_due(pk, sk, elements))
            .collect();
        futures::stream::iter(removals)
            .buffer_unordered(FAN_OUT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    pub(crate) async fn remove_due(
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
            .update_expression("DELETE #d :d")
            .set_expression_attribute_names(Some(names([("#d", A_DUE)])))
            .expression_attribute_values(":d", AttributeValue::Ss(elements))
            .return_values(ReturnValue::AllNew)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateItem (due index done)", &self.table, e))?;
        self.metrics.record(Access::Write, resp.consumed_capacity());
        let emptied = resp.attributes().is_none_or(|a| !a.contains_key(A_DUE));
        if emptied {
            self.delete_if_absent(key(pk, sk), A_DUE, "DeleteItem (empty due item)")
                .await?;
        }
        Ok(())
    }

    /// Removes registry entries of days long past whose partitions are empty.
    async fn forget_empty_days(&self, empty: &BTreeMap<i32, bool>, today: i32) -> StoreResult<()> {
        for (day, is_empty) in empty {
            if *is_empty && *day < today.saturating_sub(KEEP_EMPTY_DAYS) {
                self.delete_if_absent(
                    key(REGISTRY_PK, registry_due_sk(*day)),
                    "never-set",
                    "DeleteItem (due day registry)",
                )
                .await?;
                if let Ok(mut done) = self.registered.lock() {
                    done.remove(&registry_due_sk(*day));
                }
            }
        }
        Ok(())
    }

    /// Deletes an item unless `attr` exists on it (a concurrent writer added to it).
    pub(crate) async fn delete_if_absent(
        &self,
        k: Item,
        attr: &str,
        what: &str,
    ) -> StoreResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(k))
            .condition_expression("attribute_not_exists(#a)")
            .set_expression_attribute_names(Some(names([("#a", attr)])))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map(|r| r.consumed_capacity().cloned());
        self.conditional(what, result).map(|_| ())
    }
}
