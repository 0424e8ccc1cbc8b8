//! Folding counter deltas into base items, so `segment_counts`, `user_count` and
//! `daily_history` read O(segments) / O(days asked) items however many batches ran.
//!
//! Every batch adds its own delta items (`C#<segment>` / `<day>#<fan-out>#<c>`, `UC` /
//! `<fan-out>#<c>`: sets of change IDs). A fold takes the deltas whose fan-out committed
//! before a *cutoff* and, per partition, in transactions of at most 100 actions:
//!
//! - `ADD`s their sizes to the partition's base item (`<pk>` / `!base`, numbers, with a
//!   version `v`), conditional on the version it read;
//! - `ADD`s them per day to the folded history (`H#<segment>` / `<day>`);
//! - deletes each folded delta, conditional on its sets having exactly the sizes counted
//!   (sets only grow, so equal size is equal content).
//!
//! A transaction is all or nothing, so a fold that stops after any write, runs twice or
//! races another fold never loses or double-counts: a refused transaction changes nothing
//! and its deltas wait for the next run. The cutoff keeps the fold away from deltas that may
//! still grow: a fan-out is written after its user item, by the committing batch or — after
//! a crash — by whoever loads the user next (the sweep, through the near due entry). So the
//! cutoff is `now − margin` (default 1 h; never less than the 2-minute pending grace), and
//! no later than 2 minutes before the earliest due entry still waiting (the sweep has not
//! completed fan-outs after it yet).

use crate::commit::PENDING_GRACE_MS;
use crate::errors::sdk_error;
use crate::keys::*;
use crate::metrics::Access;
use crate::ops::{names, Item};
use crate::DynamoStore;
use audience_core::time::day_of;
use audience_core::Millis;
use audience_store::{FoldLimits, FoldOutcome, StoreError, StoreResult};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, ReturnConsumedCapacity, TransactWriteItem, Update,
};
use std::collections::{BTreeMap, HashMap};

/// DynamoDB's limit of actions per transaction.
const MAX_ACTIONS: usize = 100;

/// How a delta item holds one of its two amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Amount {
    Absent,
    /// A set of this many IDs.
    Set(i64),
    /// A number (delta items written before sets).
    Number(i64),
}

impl Amount {
    fn of(item: &Item, name: &str) -> Amount {
        match item.get(name) {
            Some(AttributeValue::Bs(v)) => Amount::Set(v.len() as i64),
            Some(AttributeValue::Ss(v)) => Amount::Set(v.len() as i64),
            Some(AttributeValue::N(v)) => Amount::Number(v.parse().unwrap_or(0)),
            _ => Amount::Absent,
        }
    }

    fn value(self) -> i64 {
        match self {
            Amount::Absent => 0,
            Amount::Set(n) | Amount::Number(n) => n,
        }
    }

    /// The condition that the attribute `#name` still holds exactly this amount.
    fn condition(self, name: &str, value: &str) -> String {
        match self {
            Amount::Absent => format!("attribute_not_exists({name})"),
            Amount::Set(_) => format!("size({name}) = {value}"),
            Amount::Number(_) => format!("{name} = {value}"),
        }
    }
}

/// A delta item to fold.
#[derive(Debug)]
struct Delta {
    sk: String,
    /// The day it counts on (counter partitions only).
    day: Option<i32>,
    first: Amount,
    second: Amount,
}

/// One partition of deltas: a segment's counters or the user counts.
struct Partition {
    pk: String,
    /// The two amount attributes (`en`/`ex`, `a`/`r`).
    attrs: (&'static str, &'static str),
    /// The folded daily history partition (counters only).
    history: Option<String>,
}

impl DynamoStore {
    /// See [`audience_store::StateStore::fold_counters`] and the module documentation.
    pub(crate) async fn fold_counters_impl(
        &self,
        now: Millis,
        limits: &FoldLimits,
    ) -> StoreResult<FoldOutcome> {
        let mut out = FoldOutcome::default();
        let mut cutoff = now.saturating_sub(limits.margin_ms.max(PENDING_GRACE_MS));
        if let Some(due) = self.earliest_due(now).await? {
            cutoff = cutoff.min(due.saturating_sub(PENDING_GRACE_MS));
        }
        out.cutoff = Some(cutoff);
        let mut partitions = vec![Partition {
            pk: USER_COUNT_PK.to_string(),
            attrs: (A_ADDED, A_REMOVED),
            history: None,
        }];
        for item in self.registry("S#").await? {
            if let Some(segment) = get_s(&item, A_SEG) {
                partitions.push(Partition {
                    pk: counter_pk(segment),
                    attrs: (A_ENTERED, A_EXITED),
                    history: Some(history_pk(segment)),
                });
            }
        }
        for p in &partitions {
            if out.transactions >= limits.max_transactions as u64 {
                out.more = true;
                break;
            }
            self.fold_partition(p, cutoff, limits, &mut out).await?;
        }
        Ok(out)
    }

    async fn fold_partition(
        &self,
        p: &Partition,
        cutoff: Millis,
        limits: &FoldLimits,
        out: &mut FoldOutcome,
    ) -> StoreResult<()> {
        // The base item sorts first, then deltas oldest day first: reading only as many as the
        // remaining transactions can fold keeps the first fold of an old table bounded too.
        let remaining = limits
            .max_transactions
            .saturating_sub(usize::try_from(out.transactions).unwrap_or(usize::MAX));
        let cap = remaining.saturating_mul(MAX_ACTIONS).saturating_add(1);
        let items = self
            .query_items("Query (fold)", Some(cap), || {
                self.client
                    .query()
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_values(":pk", s(p.pk.clone()))
                    .consistent_read(true)
            })
            .await?;
        let mut version: Option<i64> = None;
        let mut deltas = Vec::new();
        for item in &items {
            let sk = get_s(item, SK).unwrap_or_default();
            if sk == BASE_SK {
                version = Some(get_i64(item, A_VERSION).unwrap_or(0));
                continue;
            }
            let (written, day) = match &p.history {
                Some(_) => (counter_sk_written_at(sk), day_from_code(sk).map(Some)),
                None => (fanout_sk_written_at(sk), Some(None)),
            };
            let (Some(written), Some(day)) = (written, day) else {
                tracing::warn!(pk = %p.pk, sk, "counter item key not understood; not folded");
                continue;
            };
            if written < cutoff {
                deltas.push(Delta {
                    sk: sk.to_string(),
                    day,
                    first: Amount::of(item, p.attrs.0),
                    second: Amount::of(item, p.attrs.1),
                });
            }
        }
        if items.len() >= cap {
            out.more = true;
        }
        let mut rest = deltas.as_slice();
        while !rest.is_empty() {
            if out.transactions >= limits.max_transactions as u64 {
                out.more = true;
                return Ok(());
            }
            let take = group_len(rest);
            let (group, tail) = rest.split_at(take);
            if self.fold_group(p, group, version).await? {
                out.transactions += 1;
                out.folded_items += group.len() as u64;
                version = Some(version.unwrap_or(0) + 1);
            } else {
                out.conflicts += 1;
                return Ok(());
            }
            rest = tail;
        }
        Ok(())
    }

    /// One transaction: base += group, history += group per day, group deleted. False when
    /// it was refused (something changed since the read); nothing is written then.
    async fn fold_group(
        &self,
        p: &Partition,
        group: &[Delta],
        version: Option<i64>,
    ) -> StoreResult<bool> {
        let build = |e: aws_sdk_dynamodb::error::BuildError| {
            StoreError::Other(format!("cannot build the fold of `{}`: {e}", p.pk))
        };
        let attr_names = names([("#a", p.attrs.0), ("#b", p.attrs.1)]);
        let total = |f: fn(&Delta) -> Amount| group.iter().map(|d| f(d).value()).sum::<i64>();
        let mut base_names = attr_names.clone();
        base_names.insert("#v".into(), A_VERSION.into());
        let mut base_values = HashMap::from([
            (":a".to_string(), n(total(|d| d.first))),
            (":b".to_string(), n(total(|d| d.second))),
            (":one".to_string(), n(1)),
        ]);
        let condition = match version {
            Some(v) => {
                base_values.insert(":v".into(), n(v));
                "#v = :v"
            }
            None => "attribute_not_exists(#v)",
        };
        let base = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(p.pk.clone(), BASE_SK)))
            .update_expression("ADD #a :a, #b :b, #v :one")
            .condition_expression(condition)
            .set_expression_attribute_names(Some(base_names))
            .set_expression_attribute_values(Some(base_values))
            .build()
            .map_err(build)?;
        let mut actions = vec![TransactWriteItem::builder().update(base).build()];
        if let Some(history) = &p.history {
            let mut per_day: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
            for d in group {
                if let Some(day) = d.day {
                    let e = per_day.entry(day).or_default();
                    e.0 += d.first.value();
                    e.1 += d.second.value();
                }
            }
            for (day, (a, b)) in per_day {
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(history.clone(), day_code(day))))
                    .update_expression("ADD #a :a, #b :b")
                    .set_expression_attribute_names(Some(attr_names.clone()))
                    .set_expression_attribute_values(Some(HashMap::from([
                        (":a".to_string(), n(a)),
                        (":b".to_string(), n(b)),
                    ])))
                    .build()
                    .map_err(build)?;
                actions.push(TransactWriteItem::builder().update(update).build());
            }
        }
        for d in group {
            let mut values = HashMap::new();
            for (placeholder, amount) in [(":a", d.first), (":b", d.second)] {
                if amount != Amount::Absent {
                    values.insert(placeholder.to_string(), n(amount.value()));
                }
            }
            let mut delete_names = attr_names.clone();
            delete_names.insert("#pk".into(), PK.into());
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(p.pk.clone(), d.sk.clone())))
                .condition_expression(format!(
                    "attribute_exists(#pk) AND {} AND {}",
                    d.first.condition("#a", ":a"),
                    d.second.condition("#b", ":b")
                ))
                .set_expression_attribute_names(Some(delete_names))
                .set_expression_attribute_values((!values.is_empty()).then_some(values))
                .build()
                .map_err(build)?;
            actions.push(TransactWriteItem::builder().delete(delete).build());
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        self.metrics.transaction();
        match result {
            Ok(resp) => {
                self.metrics
                    .record(Access::Transaction, resp.consumed_capacity());
                Ok(true)
            }
            Err(e) => {
                self.metrics.record(Access::Transaction, []);
                if let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
                    e.as_service_error()
                {
                    let codes: Vec<&str> = c
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None"))
                        .collect();
                    if codes.iter().all(|c| {
                        matches!(
                            *c,
                            "None" | "ConditionalCheckFailed" | "TransactionConflict"
                        )
                    }) {
                        tracing::info!(pk = %p.pk, reasons = ?codes, "fold refused; the next run retries");
                        return Ok(false);
                    }
                }
                Err(sdk_error(
                    &format!("TransactWriteItems (fold of `{}`)", p.pk),
                    &self.table,
                    e,
                ))
            }
        }
    }

    /// The earliest due entry at or before `now` that the sweep has not processed yet.
    async fn earliest_due(&self, now: Millis) -> StoreResult<Option<Millis>> {
        let today = day_of(now);
        let days = self.due_days_until(today).await?;
        let mut earliest: Option<Millis> = None;
        for day in days {
            for shard in 0..DUE_SHARDS {
                let pk = due_pk(day, shard);
                let items = self
                    .query_items("Query (due index, fold)", None, || {
                        self.client
                            .query()
                            .key_condition_expression("#pk = :pk")
                            .expression_attribute_names("#pk", PK)
                            .expression_attribute_values(":pk", s(pk.clone()))
                            .consistent_read(true)
                    })
                    .await?;
                for item in &items {
                    let Some(AttributeValue::Ss(elements)) = item.get(A_DUE) else {
                        continue;
                    };
                    for at in elements
                        .iter()
                        .filter_map(|e| parse_due_element(e).map(|(at, _)| at))
                        .filter(|at| *at <= now)
                    {
                        earliest = Some(earliest.map_or(at, |e| e.min(at)));
                    }
                }
            }
        }
        Ok(earliest)
    }
}

/// How many leading deltas fit one transaction: the base update, one history update per
/// distinct day, one delete per delta, at most [`MAX_ACTIONS`] in all.
fn group_len(deltas: &[Delta]) -> usize {
    let mut days = std::collections::BTreeSet::new();
    let mut take = 0;
    for d in deltas {
        let new_day = d.day.is_some_and(|day| !days.contains(&day));
        if 1 + days.len() + usize::from(new_day) + take + 1 > MAX_ACTIONS {
            break;
        }
        if let Some(day) = d.day {
            days.insert(day);
        }
        take += 1;
    }
    take.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(day: Option<i32>) -> Delta {
        Delta {
            sk: String::new(),
            day,
            first: Amount::Set(1),
            second: Amount::Absent,
        }
    }

    #[test]
    fn a_group_never_exceeds_one_hundred_actions() {
        let one_day: Vec<Delta> = (0..500).map(|_| delta(Some(7))).collect();
        assert_eq!(group_len(&one_day), 98, "base + 1 history + 98 deletes");
        let many_days: Vec<Delta> = (0..500).map(|i| delta(Some(i))).collect();
        assert_eq!(
            group_len(&many_days),
            49,
            "base + 49 histories + 49 deletes"
        );
        let users: Vec<Delta> = (0..500).map(|_| delta(None)).collect();
        assert_eq!(group_len(&users), 99, "base + 99 deletes");
        assert_eq!(group_len(&users[..3]), 3);
    }

    #[test]
    fn conditions_name_what_was_counted() {
        assert_eq!(Amount::Set(3).condition("#a", ":a"), "size(#a) = :a");
        assert_eq!(Amount::Number(3).condition("#a", ":a"), "#a = :a");
        assert_eq!(
            Amount::Absent.condition("#b", ":b"),
            "attribute_not_exists(#b)"
        );
    }
}
