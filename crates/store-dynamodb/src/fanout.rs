//! Writing pending fan-outs (see `pending`): membership items, counter and user-count sets,
//! outbox sets and links, then removing the pending record from each user item.
//!
//! Every write is idempotent, so writing a fan-out twice (a crash, a reader completing it,
//! a slow original writer finishing late) changes nothing:
//! - sets (`ADD` of change IDs, outbox entries, created users) are unions;
//! - membership items are put only over an older version (`v < :v`); an exit leaves a
//!   tombstone (with a TTL) so a late, older enter cannot resurrect the member;
//! - a link put is last-writer-wins on a value that does not change.

use crate::errors::sdk_error;
use crate::keys::*;
use crate::metrics::Access;
use crate::ops::{names, Item};
use crate::pending::{chunk_of, outbox_element, PendingFanOut};
use crate::DynamoStore;
use audience_store::StoreResult;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Concurrent fan-out writes.
const FAN_OUT: usize = 16;
/// Tombstones of exited members are kept this long (a late write is minutes late at most).
const TOMBSTONE_SECS: u64 = 3 * 86_400;

/// One idempotent write of a fan-out.
#[derive(Debug)]
enum Write {
    /// `ADD` set elements to one item.
    Sets {
        key: Item,
        sets: Vec<(&'static str, AttributeValue)>,
    },
    /// A membership item, put over an older version only.
    Member {
        segment: String,
        user: String,
        version: u64,
        at: i64,
        entered: bool,
    },
    /// An endpoint → user link.
    Link { endpoint: String, user: String },
}

/// An item's (PK, SK).
type ItemKey = (String, String);
/// Set attributes of one item: attribute → elements.
type ItemSets<T> = BTreeMap<&'static str, BTreeSet<T>>;

/// Set elements grouped by item key and attribute.
#[derive(Default)]
struct SetPlan {
    binary: BTreeMap<ItemKey, ItemSets<[u8; 8]>>,
    strings: BTreeMap<ItemKey, ItemSets<String>>,
}

fn plan(fanouts: &[(&str, &PendingFanOut)]) -> Vec<Write> {
    let mut sets = SetPlan::default();
    let mut writes = Vec::new();
    for (user, p) in fanouts {
        let chunks = p.chunks;
        for (i, c) in p.changes.iter().enumerate() {
            let id = p.change_id(c);
            let sk = counter_sk(p.day_of_change(i), &p.fanout, chunk_of(&id, chunks));
            let attr = if c.entered { A_ENTERED } else { A_EXITED };
            sets.binary
                .entry((counter_pk(&c.segment), sk))
                .or_default()
                .entry(attr)
                .or_default()
                .insert(id);
            writes.push(Write::Member {
                segment: c.segment.clone(),
                user: c.user.clone(),
                version: c.version,
                at: c.at,
                entered: c.entered,
            });
        }
        let mut user_ids = Vec::new();
        if p.new_user {
            user_ids.push((A_ADDED, p.user_count_text(user, p.version)));
        }
        for (key, version) in &p.absorbed {
            user_ids.push((A_REMOVED, p.user_count_text(key, *version)));
        }
        for (attr, text) in user_ids {
            let id = audience_core::hash::fnv1a64(text.as_bytes()).to_le_bytes();
            let sk = fanout_sk(&p.fanout, chunk_of(&id, chunks));
            sets.binary
                .entry((USER_COUNT_PK.to_string(), sk))
                .or_default()
                .entry(attr)
                .or_default()
                .insert(id);
        }
        for o in &p.outbox {
            let element = outbox_element(o);
            let sk = fanout_sk(&p.fanout, chunk_of(o.user.as_bytes(), chunks));
            sets.strings
                .entry((outbox_key(&o.destination, &o.segment), sk))
                .or_default()
                .entry(A_ENTRIES)
                .or_default()
                .insert(element);
        }
        for (endpoint, owner) in &p.links {
            writes.push(Write::Link {
                endpoint: endpoint.clone(),
                user: owner.clone(),
            });
        }
    }
    for ((pk, sk), attrs) in sets.binary {
        let sets = attrs
            .into_iter()
            .map(|(a, ids)| {
                let blobs = ids.into_iter().map(|i| Blob::new(i.to_vec())).collect();
                (a, AttributeValue::Bs(blobs))
            })
            .collect();
        writes.push(Write::Sets {
            key: key(pk, sk),
            sets,
        });
    }
    for ((pk, sk), attrs) in sets.strings {
        let sets = attrs
            .into_iter()
            .map(|(a, v)| (a, AttributeValue::Ss(v.into_iter().collect())))
            .collect();
        writes.push(Write::Sets {
            key: key(pk, sk),
            sets,
        });
    }
    writes
}

/// Registry sort keys the fan-outs need (segments and outbox queues).
pub fn registry_keys<'a>(fanouts: impl IntoIterator<Item = &'a PendingFanOut>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in fanouts {
        for c in &p.changes {
            out.insert(registry_segment_sk(&c.segment));
        }
        for o in &p.outbox {
            out.insert(outbox_key(&o.destination, &o.segment));
        }
    }
    out
}

impl DynamoStore {
    /// Writes these users' fan-outs, then removes their pending records (each conditional
    /// on the version that wrote it, so a newer commit's record is never removed).
    pub(crate) async fn fan_out(&self, fanouts: &[(&str, &PendingFanOut)]) -> StoreResult<()> {
        if fanouts.is_empty() {
            return Ok(());
        }
        self.register(&registry_keys(fanouts.iter().map(|(_, p)| *p)))
            .await?;
        // The request futures are made as they are polled, FAN_OUT at a time: made all at once,
        // the thousands of a 10,000-record batch held ~16 MB (each holds the SDK's state).
        futures::stream::iter(plan(fanouts).into_iter().map(|w| self.write(w)))
            .buffer_unordered(FAN_OUT)
            .try_collect::<Vec<()>>()
            .await?;
        // By index: a closure over `&(&str, &PendingFanOut)` is not general enough for the
        // `Send` check of the trait's boxed future.
        let clears = (0..fanouts.len()).map(|k| {
            let (user, p) = fanouts[k];
            self.clear_pending(user, p.version)
        });
        futures::stream::iter(clears)
            .buffer_unordered(FAN_OUT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn write(&self, w: Write) -> StoreResult<()> {
        match w {
            Write::Sets { key, sets } => {
                let mut expr = Vec::new();
                let mut names_map = HashMap::new();
                let mut values = HashMap::new();
                for (i, (attr, value)) in sets.into_iter().enumerate() {
                    expr.push(format!("#a{i} :v{i}"));
                    names_map.insert(format!("#a{i}"), attr.to_string());
                    values.insert(format!(":v{i}"), value);
                }
                let resp = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .update_expression(format!("ADD {}", expr.join(", ")))
                    .set_expression_attribute_names(Some(names_map))
                    .set_expression_attribute_values(Some(values))
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(|e| sdk_error("UpdateItem (fan-out sets)", &self.table, e))?;
                self.metrics.record(Access::Write, resp.consumed_capacity());
                Ok(())
            }
            Write::Member {
                segment,
                user,
                version,
                at,
                entered,
            } => self.put_member(&segment, &user, version, at, entered).await,
            Write::Link { endpoint, user } => {
                let mut item = key(link_pk(&endpoint), LINK_SK);
                item.insert(A_USR.into(), s(user));
                self.put("PutItem (link)", item).await
            }
        }
    }

    async fn put_member(
        &self,
        segment: &str,
        user: &str,
        version: u64,
        at: i64,
        entered: bool,
    ) -> StoreResult<()> {
        let mut item = key(member_pk(segment), user);
        item.insert(A_VERSION.into(), n(version));
        item.insert(A_AT.into(), n(at));
        if !entered {
            item.insert(A_EXITED_FLAG.into(), AttributeValue::Bool(true));
            item.insert(A_TTL.into(), n(crate::store::now_secs() + TOMBSTONE_SECS));
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#v) OR #v < :v")
            .set_expression_attribute_names(Some(names([("#v", A_VERSION)])))
            .expression_attribute_values(":v", n(version))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map(|r| r.consumed_capacity().cloned());
        // A failed condition: a newer change of this member is already written.
        self.conditional(&format!("PutItem (member {user} of {segment})"), result)
            .map(|_| ())
    }

    /// Removes a user's pending record written at `version` (nothing when a newer commit
    /// replaced the item meanwhile).
    async fn clear_pending(&self, user: &str, version: u64) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), USER_SK)))
            .update_expression("REMOVE #p")
            .condition_expression("#v = :v")
            .set_expression_attribute_names(Some(names([("#p", A_PENDING), ("#v", A_VERSION)])))
            .expression_attribute_values(":v", n(version))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map(|r| r.consumed_capacity().cloned());
        // A failed condition: a newer commit replaced the item (and resolved this record).
        self.conditional(
            &format!("UpdateItem (clear pending of user `{user}`)"),
            result,
        )
        .map(|_| ())
    }
}
