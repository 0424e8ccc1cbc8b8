//! Segment sizes over time and size alerts: the sweep records every segment's size once per
//! run ([`record_sizes`]); [`size_alerts`] compares each alerting segment's size now with the
//! newest snapshot at least `within` old (no older than `2 × within`), using the pure check
//! in `audience_core::alert`. `stats`, the dashboard and the sweep's metrics read it.
//! [`upkeep`] is what the sweep runs after re-evaluating users: the counter fold, then this.

use audience_core::alert::SuddenChange;
use audience_core::rules::Rules;
use audience_core::Millis;
use audience_store::{
    FoldLimits, FoldOutcome, SegmentCounts, SizeSnapshot, StateStore, StoreError,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One alerting segment's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeVerdict {
    /// Members now.
    pub members: i64,
    /// When the earlier size was recorded (`None`: no snapshot old enough yet — no verdict).
    pub compared_at: Option<Millis>,
    /// The flagged change, if any.
    pub sudden_change: Option<SuddenChange>,
}

/// Segment → members, for every segment of the rules (0 when it has no counters yet) and
/// every segment the store counts.
pub fn sizes_now(rules: &Rules, counts: &BTreeMap<String, SegmentCounts>) -> BTreeMap<String, i64> {
    let mut sizes: BTreeMap<String, i64> = rules
        .segments
        .iter()
        .map(|s| (s.def.id.clone(), 0))
        .collect();
    sizes.extend(counts.iter().map(|(id, c)| (id.clone(), c.members)));
    sizes
}

/// Writes the snapshot of `sizes` at `now` (the sweep, once per run).
pub async fn record_sizes(
    store: &dyn StateStore,
    now: Millis,
    sizes: &BTreeMap<String, i64>,
) -> Result<(), StoreError> {
    store
        .record_sizes(&SizeSnapshot {
            at: now,
            sizes: sizes.clone(),
        })
        .await
}

/// The verdict of every segment with an `alert`, in rules order. One snapshot read per
/// distinct `within`.
pub async fn size_alerts(
    store: &dyn StateStore,
    rules: &Rules,
    sizes: &BTreeMap<String, i64>,
    now: Millis,
) -> Result<BTreeMap<String, SizeVerdict>, StoreError> {
    let mut snapshots: HashMap<Millis, Option<SizeSnapshot>> = HashMap::new();
    let mut out = BTreeMap::new();
    for segment in &rules.segments {
        let Some(alert) = &segment.def.alert else {
            continue;
        };
        let within = alert.within.millis();
        if let std::collections::hash_map::Entry::Vacant(slot) = snapshots.entry(within) {
            let at = now.saturating_sub(within);
            slot.insert(store.sizes_at(at, at.saturating_sub(within)).await?);
        }
        let members = sizes.get(&segment.def.id).copied().unwrap_or(0);
        let earlier = snapshots.get(&within).and_then(Option::as_ref);
        // A segment the snapshot does not list (added to the rules since) has no verdict yet.
        let before = earlier.and_then(|snap| {
            snap.sizes
                .get(&segment.def.id)
                .map(|before| (snap.at, *before))
        });
        let verdict = SizeVerdict {
            members,
            compared_at: before.map(|(at, _)| at),
            sudden_change: before.and_then(|(_, before)| alert.check(before, members)),
        };
        out.insert(segment.def.id.clone(), verdict);
    }
    Ok(out)
}

/// What the sweep's upkeep did after re-evaluating users.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Upkeep {
    /// The counter fold.
    pub fold: FoldOutcome,
    /// Segment → members now (recorded as this run's size snapshot).
    pub sizes: BTreeMap<String, i64>,
    /// Verdicts of the segments with an `alert`.
    pub alerts: BTreeMap<String, SizeVerdict>,
}

impl Upkeep {
    /// Segments flagged with a sudden change, in ID order.
    pub fn flagged(&self) -> impl Iterator<Item = (&str, &SuddenChange)> {
        self.alerts
            .iter()
            .filter_map(|(id, v)| v.sudden_change.as_ref().map(|c| (id.as_str(), c)))
    }
}

/// The sweep's upkeep: folds counter deltas (bounded by `limits`), reads the sizes, checks
/// the alerts against earlier snapshots and records this run's snapshot.
pub async fn upkeep(
    store: &dyn StateStore,
    rules: &Rules,
    now: Millis,
    limits: &FoldLimits,
) -> Result<Upkeep, StoreError> {
    let fold = store.fold_counters(now, limits).await?;
    let counts = store.segment_counts().await?;
    let sizes = sizes_now(rules, &counts);
    let alerts = size_alerts(store, rules, &sizes, now).await?;
    record_sizes(store, now, &sizes).await?;
    for (id, change) in alerts
        .iter()
        .filter_map(|(id, v)| v.sudden_change.as_ref().map(|c| (id, c)))
    {
        tracing::warn!(segment = %id, reason = %change.reason, "sudden change of segment size");
    }
    Ok(Upkeep {
        fold,
        sizes,
        alerts,
    })
}
