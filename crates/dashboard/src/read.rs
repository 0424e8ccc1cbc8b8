//! Builds the [`Dashboard`] read model from a store, the rules and `now`.
//!
//! Reads, all key lookups or queries on pre-aggregated items (never a scan, never a member
//! list): one `daily_history` per segment (its whole history: the current size is the sum of
//! its enters minus exits, the same items `segment_counts` adds up), then `pending_summary`,
//! `ledger(limit)` and `batches(yesterday, today)`, and one `sizes_at` per distinct
//! `alert.within` of the rules (size alerts). That is segments + 3 (+ alert windows) reads. Destination
//! state (LINE audience, last Pinpoint job) comes from the ledger rows, not from a read per
//! segment and destination.

use crate::counting::{counting_store, Counted, CountingStore};
use crate::error::DashboardError;
use crate::model::{
    Dashboard, DestinationCell, DestinationHealth, LedgerRow, ReconRow, SegmentRow, Summary,
};
use crate::series::{movers, SegmentSeries};
use audience_core::time::format_rfc3339;
use audience_core::{Millis, Rules};
use audience_store::{LedgerEntry, LedgerStatus, PendingSummary, StateStore};
use std::collections::{BTreeMap, BTreeSet};

/// How much the read model reads.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Days of history per chart (default 90).
    pub history_days: i32,
    /// Newest ledger rows read (default 500).
    pub ledger_limit: usize,
    /// Growers and decliners shown (default 5).
    pub movers: usize,
    /// Segment histories read at once (default 8).
    pub concurrency: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            history_days: 90,
            ledger_limit: 500,
            movers: 5,
            concurrency: 8,
        }
    }
}

const DAY_MS: Millis = 86_400_000;
const MESSAGE_CHARS: usize = 300;

/// Reads the store and builds the model for `now`.
pub async fn load(
    store: &dyn StateStore,
    rules: &Rules,
    now: Millis,
    opts: &LoadOptions,
) -> Result<Dashboard, DashboardError> {
    let store = counting_store(store);
    let today = rules.zone.day_of(now);
    let window = opts.history_days.max(31);

    let ids: Vec<&str> = rules.segments.iter().map(|s| s.def.id.as_str()).collect();
    let mut series: Vec<SegmentSeries> = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(opts.concurrency.max(1)) {
        let reads = chunk
            .iter()
            .map(|id| segment_series(&store, id, today, window));
        series.extend(futures::future::try_join_all(reads).await?);
    }
    let pending = store
        .pending_summary()
        .await
        .map_err(DashboardError::store("pending_summary"))?;
    let mut entries = store
        .ledger(opts.ledger_limit)
        .await
        .map_err(DashboardError::store("ledger"))?;
    // Newest first by time (stable: rows of the same instant keep the store's order).
    entries.sort_by_key(|e| std::cmp::Reverse(e.at));
    let batches = store
        .batches(today - 1, today)
        .await
        .map_err(DashboardError::store(format!(
            "batches({}, {today})",
            today - 1
        )))?;
    let ledger_truncated = opts.ledger_limit > 0 && entries.len() >= opts.ledger_limit;
    let sizes: BTreeMap<String, i64> = rules
        .segments
        .iter()
        .zip(&series)
        .map(|(seg, s)| (seg.def.id.clone(), s.members))
        .collect();
    let mut verdicts = audience_pipeline::size_alerts(&store, rules, &sizes, now)
        .await
        .map_err(DashboardError::store("sizes_at"))?;
    let alert_windows = rules
        .segments
        .iter()
        .filter_map(|s| s.def.alert.as_ref().map(|a| a.within))
        .collect::<BTreeSet<_>>()
        .len() as u64;

    let mut segments = Vec::with_capacity(ids.len());
    let mut histories = BTreeMap::new();
    let mut reconciliation = Vec::new();
    let mut warnings = Vec::new();
    for (seg, s) in rules.segments.iter().zip(&series) {
        let id = seg.def.id.as_str();
        let today_point = s.today();
        let mut cells = Vec::new();
        for dest in configured(&seg.def.destinations) {
            let bound = bound_target(&seg.def.destinations, dest);
            cells.push(destination_cell(dest, id, &entries, bound));
            reconciliation.push(reconcile(
                dest,
                id,
                s.members,
                &entries,
                &pending,
                ledger_truncated,
            ));
        }
        if seg.def.destinations.has("line") {
            let members = u64::try_from(s.members).unwrap_or(0);
            if let Some(w) = audience_core::plan::line::narrowcast_warning(members) {
                warnings.push(format!("{id}: {w}"));
            }
        }
        let sudden_change = verdicts.remove(id).and_then(|v| v.sudden_change);
        if let Some(change) = &sudden_change {
            warnings.push(format!("{id}: sudden change: {}", change.reason));
        }
        segments.push(SegmentRow {
            id: id.to_string(),
            description: seg.def.description.clone(),
            members: s.members,
            entered_total: s.entered_total,
            exited_total: s.exited_total,
            entered_today: today_point.entered,
            exited_today: today_point.exited,
            change_1d: s.change(1),
            change_7d: s.change(7),
            change_30d: s.change(30),
            destinations: cells,
            sudden_change,
        });
        let keep = opts.history_days.max(1) as usize;
        let days = &s.days[s.days.len().saturating_sub(keep)..];
        histories.insert(id.to_string(), days.to_vec());
    }
    let changes: Vec<_> = segments
        .iter()
        .map(|r| (r.id.clone(), r.members, r.change_7d))
        .collect();
    let (growers, decliners) = movers(&changes, opts.movers);

    let newest_arrival_ms = batches.iter().filter_map(|b| b.newest_arrival_ms).max();
    let todays = batches.iter().filter(|b| b.day == today);
    let (mut batches_today, mut records_today, mut set_aside_today) = (0, 0, 0);
    for b in todays {
        batches_today += 1;
        records_today += b.records;
        set_aside_today += b.set_aside;
    }
    let summary = Summary {
        as_of: format_rfc3339(now),
        as_of_ms: now,
        timezone: rules.zone.name().to_string(),
        segments: segments.len(),
        total_members: segments.iter().map(|s| s.members).sum(),
        entered_today: segments.iter().map(|s| s.entered_today).sum(),
        exited_today: segments.iter().map(|s| s.exited_today).sum(),
        newest_arrival_ms,
        stream_lag_ms: newest_arrival_ms.map(|a| (now - a).max(0)),
        batches_today,
        records_today,
        set_aside_today,
        destinations: destination_health(rules, &pending, &entries, now),
    };
    let ledger = entries.iter().map(ledger_row).collect();
    let messages = crate::messages::messages_per_day(&entries, &rules.zone);
    let store_reads = store.total();
    Ok(Dashboard {
        summary,
        segments,
        growers,
        decliners,
        ledger,
        ledger_truncated,
        reconciliation,
        messages,
        warnings,
        histories,
        store_reads,
        store_reads_budget: rules.segments.len() as u64 + 3 + alert_windows,
    })
}

async fn segment_series(
    store: &CountingStore<'_>,
    id: &str,
    today: i32,
    window: i32,
) -> Result<SegmentSeries, DashboardError> {
    let history = store
        .daily_history(id, i32::MIN, i32::MAX)
        .await
        .map_err(DashboardError::store(format!("daily_history({id})")))?;
    Ok(SegmentSeries::from_history(&history, today, window))
}

fn configured(d: &audience_core::rules::model::Destinations) -> Vec<&str> {
    d.kinds().collect()
}

/// The destination object a segment's settings bind it to, when the rules name one (an
/// existing LINE audience, an existing Pinpoint segment); otherwise it comes from the ledger.
fn bound_target(d: &audience_core::rules::model::Destinations, kind: &str) -> Option<String> {
    let settings = d.get(kind)?;
    ["audience_id", "segment_id"]
        .iter()
        .find_map(|k| settings.get(*k))
        .and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

fn rows_of<'a>(
    entries: &'a [LedgerEntry],
    dest: &'a str,
    segment: &'a str,
) -> impl Iterator<Item = &'a LedgerEntry> + 'a {
    entries
        .iter()
        .filter(move |e| e.destination == dest && e.segment == segment)
}

fn status_text(s: LedgerStatus) -> &'static str {
    match s {
        LedgerStatus::Ok => "ok",
        LedgerStatus::Running => "running",
        LedgerStatus::Failed => "failed",
        LedgerStatus::Parked => "parked",
        LedgerStatus::DryRun => "dry_run",
    }
}

fn destination_cell(
    dest: &str,
    segment: &str,
    entries: &[LedgerEntry],
    bound: Option<String>,
) -> DestinationCell {
    let newest = rows_of(entries, dest, segment).next();
    let target = rows_of(entries, dest, segment)
        .filter(|e| e.action != "delete")
        .find_map(|e| e.target.clone())
        .or(bound);
    DestinationCell {
        destination: dest.to_string(),
        target,
        status: newest
            .map_or("not_synced", |e| status_text(e.status))
            .to_string(),
        action: newest.map(|e| e.action.clone()),
        at_ms: newest.map(|e| e.at),
        rotations: rows_of(entries, dest, segment)
            .filter(|e| e.action == "rotate" && e.status == LedgerStatus::Ok)
            .filter_map(|e| e.target.as_deref())
            .collect::<BTreeSet<_>>()
            .len() as u64,
    }
}

/// Acknowledged members per the ledger.
///
/// LINE audiences only grow. The current audience is the target of the newest accepted
/// `add`/`add_by_file`/`create` row or rotation switch (`rotate` with no users); its members
/// are the users of every accepted `create`/`rotate`/`add`/`add_by_file` row aimed at it.
/// A Pinpoint import replaces the segment: the newest accepted import counts, from its
/// `detail.members` when the sync recorded it, else `total_processed − total_failures`
/// (endpoints), else its `users`.
fn reconcile(
    dest: &str,
    segment: &str,
    members: i64,
    entries: &[LedgerEntry],
    pending: &[PendingSummary],
    truncated: bool,
) -> ReconRow {
    let ok = |e: &&LedgerEntry| e.status == LedgerStatus::Ok;
    let (acknowledged, partial) = if dest == "pinpoint" {
        let ack = rows_of(entries, dest, segment)
            .filter(ok)
            .find(|e| e.action == "import")
            .map(|e| {
                let num = |k: &str| e.detail.get(k).and_then(serde_json::Value::as_i64);
                match (
                    num("members"),
                    num("total_processed"),
                    num("total_failures"),
                ) {
                    (Some(m), _, _) => m,
                    (None, Some(p), f) => p - f.unwrap_or(0),
                    _ => e.users as i64,
                }
            });
        (ack, ack.is_none() && truncated)
    } else {
        let current = rows_of(entries, dest, segment)
            .filter(ok)
            .find(|e| {
                matches!(e.action.as_str(), "add" | "add_by_file" | "create")
                    || (e.action == "rotate" && e.users == 0)
            })
            .and_then(|e| e.target.clone());
        match current {
            None => (None, truncated),
            Some(current) => {
                let aimed = || {
                    rows_of(entries, dest, segment)
                        .filter(ok)
                        .filter(|e| e.target.as_deref() == Some(current.as_str()))
                };
                let ack: i64 = aimed()
                    .filter(|e| {
                        matches!(
                            e.action.as_str(),
                            "create" | "rotate" | "add" | "add_by_file"
                        )
                    })
                    .map(|e| e.users as i64)
                    .sum();
                let created_in_window = aimed()
                    .any(|e| matches!(e.action.as_str(), "create" | "rotate") && e.users > 0);
                (Some(ack), truncated && !created_in_window)
            }
        }
    };
    let p = pending
        .iter()
        .find(|p| p.destination == dest && p.segment == segment);
    ReconRow {
        segment: segment.to_string(),
        destination: dest.to_string(),
        members,
        acknowledged,
        difference: acknowledged.map(|a| a - members),
        pending_additions: p.map_or(0, |p| p.additions),
        pending_exits: p.map_or(0, |p| p.exits),
        partial,
    }
}

fn destination_health(
    rules: &Rules,
    pending: &[PendingSummary],
    entries: &[LedgerEntry],
    now: Millis,
) -> Vec<DestinationHealth> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    for s in &rules.segments {
        names.extend(
            configured(&s.def.destinations)
                .into_iter()
                .map(String::from),
        );
    }
    names.extend(pending.iter().map(|p| p.destination.clone()));
    names.extend(entries.iter().map(|e| e.destination.clone()));
    names
        .into_iter()
        .map(|dest| {
            let mine: Vec<&PendingSummary> =
                pending.iter().filter(|p| p.destination == dest).collect();
            let oldest = mine
                .iter()
                .filter(|p| p.additions + p.exits > 0)
                .filter_map(|p| p.oldest_at)
                .min();
            let rows = entries.iter().filter(|e| e.destination == dest);
            let (mut failed_24h, mut parked) = (0, 0);
            for e in rows {
                match e.status {
                    LedgerStatus::Failed if e.at > now - DAY_MS => failed_24h += 1,
                    LedgerStatus::Parked => parked += 1,
                    _ => {}
                }
            }
            DestinationHealth {
                segments: rules
                    .segments
                    .iter()
                    .filter(|s| s.def.destinations.has(&dest))
                    .count(),
                pending_additions: mine.iter().map(|p| p.additions).sum(),
                pending_exits: mine.iter().map(|p| p.exits).sum(),
                oldest_unsynced_at_ms: oldest,
                oldest_unsynced_age_ms: oldest.map(|o| (now - o).max(0)),
                failed_24h,
                parked,
                destination: dest,
            }
        })
        .collect()
}

fn ledger_row(e: &LedgerEntry) -> LedgerRow {
    LedgerRow {
        at: format_rfc3339(e.at),
        at_ms: e.at,
        destination: e.destination.clone(),
        segment: e.segment.clone(),
        action: e.action.clone(),
        target: e.target.clone(),
        added: e.users,
        exits: e.exits,
        status: e.status,
        attempts: e.attempts,
        duration_ms: e.duration_ms,
        message: e.message.as_ref().map(|m| {
            if m.chars().count() > MESSAGE_CHARS {
                let cut: String = m.chars().take(MESSAGE_CHARS).collect();
                format!("{cut}…")
            } else {
                m.clone()
            }
        }),
        rotation: e.action == "rotate",
    }
}
