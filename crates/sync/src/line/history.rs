//! A segment's LINE audiences over time, for `audience-stream audiences`: the current one,
//! a replacement being built, and the earlier ones with when they were replaced and deleted.
//! Built from what the sync already stores — the segment's destination state and the sync
//! ledger (`create`, `rotate` and `delete` rows) — without asking LINE; the caller adds the
//! size LINE reports when LINE is reachable.

use super::state::StoredLineState;
use audience_core::Millis;
use audience_store::{LedgerEntry, LedgerStatus};
use serde::Serialize;
use std::collections::BTreeMap;

/// One LINE audience a segment had.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AudienceRecord {
    /// LINE's audience ID.
    pub audience_id: i64,
    /// Its name (`description`), when known.
    pub name: Option<String>,
    /// When LINE accepted its creation, epoch ms.
    pub created_at: Option<Millis>,
    /// When the segment switched to it (its creation for a first audience).
    pub in_use_from: Option<Millis>,
    /// When the segment switched away from it (a rotation).
    pub replaced_at: Option<Millis>,
    /// When it was deleted at LINE.
    pub deleted_at: Option<Millis>,
    /// A replacement that failed and was never used.
    pub failed: bool,
    /// Size as LINE reports it (`audienceCount`), filled in by the caller when reachable.
    pub size: Option<u64>,
    /// LINE's status, filled in by the caller when reachable.
    pub status: Option<String>,
}

/// A segment's audiences.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AudienceHistory {
    /// Segment ID.
    pub segment: String,
    /// The audience the segment sends to now.
    pub current: Option<AudienceRecord>,
    /// A replacement under construction (rotation in progress).
    pub replacement: Option<AudienceRecord>,
    /// Earlier audiences, newest first.
    pub earlier: Vec<AudienceRecord>,
}

impl AudienceHistory {
    /// Every audience of the history, current first.
    pub fn all_mut(&mut self) -> impl Iterator<Item = &mut AudienceRecord> {
        self.current
            .iter_mut()
            .chain(self.replacement.iter_mut())
            .chain(self.earlier.iter_mut())
    }
}

/// Builds a segment's history from its stored LINE state and its ledger rows (any order;
/// rows of other segments or destinations are ignored).
pub fn audience_history(
    segment: &str,
    state: Option<&StoredLineState>,
    ledger: &[LedgerEntry],
) -> AudienceHistory {
    let mut rows: Vec<&LedgerEntry> = ledger
        .iter()
        .filter(|e| e.destination == super::state::KIND && e.segment == segment)
        .collect();
    rows.sort_by_key(|e| e.at);
    let mut seen: BTreeMap<i64, AudienceRecord> = BTreeMap::new();
    let mut in_use: Option<i64> = None;
    for e in rows {
        let Some(id) = e.target.as_deref().and_then(|t| t.parse::<i64>().ok()) else {
            continue;
        };
        let name = e
            .detail
            .get("description")
            .and_then(|d| d.as_str())
            .map(str::to_string);
        let switched = e.detail.get("switched").and_then(|v| v.as_bool()) == Some(true);
        let rec = seen.entry(id).or_insert_with(|| AudienceRecord {
            audience_id: id,
            ..Default::default()
        });
        if rec.name.is_none() {
            rec.name = name;
        }
        match (e.action.as_str(), &e.status) {
            ("create", LedgerStatus::Ok) => {
                rec.created_at.get_or_insert(e.at);
                rec.in_use_from.get_or_insert(e.at);
                in_use = Some(id);
            }
            ("rotate", LedgerStatus::Ok) if switched => {
                rec.in_use_from = Some(e.at);
                let old = in_use.replace(id);
                if let Some(old) = old.filter(|o| *o != id) {
                    if let Some(prev) = seen.get_mut(&old) {
                        prev.replaced_at = Some(e.at);
                    }
                }
            }
            ("rotate", LedgerStatus::Ok) => {
                rec.created_at.get_or_insert(e.at);
            }
            ("rotate", LedgerStatus::Failed) => rec.failed = true,
            ("delete", LedgerStatus::Ok) => rec.deleted_at = Some(e.at),
            _ => {}
        }
    }
    let audience = state.map(|s| &s.audience);
    let current_id = audience.and_then(|a| a.audience_id).or(in_use);
    let replacement_id = audience.and_then(|a| a.replacement.as_ref().map(|r| r.audience_id));
    let mut take = |id: i64| {
        seen.remove(&id).unwrap_or(AudienceRecord {
            audience_id: id,
            ..Default::default()
        })
    };
    let current = current_id.map(|id| {
        let mut rec = take(id);
        if rec.name.is_none() {
            rec.name = audience.and_then(|a| a.description.clone());
        }
        rec
    });
    let replacement = replacement_id.map(|id| {
        let mut rec = take(id);
        if let Some(r) = audience.and_then(|a| a.replacement.as_ref()) {
            rec.name.get_or_insert_with(|| r.description.clone());
            rec.created_at.get_or_insert(r.created_at);
        }
        rec
    });
    let mut earlier: Vec<AudienceRecord> = seen.into_values().collect();
    earlier.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    AudienceHistory {
        segment: segment.to_string(),
        current,
        replacement,
        earlier,
    }
}
