//! Work over stored state without new events: the sweep (time-based exits) and the rules
//! diff (who would enter or exit under a new rules file).

use crate::batch::outbox_entries;
use audience_core::rules::Rules;
use audience_core::{evaluate_all, reevaluate, Cause, ChangeKind, MembershipChange, Millis};
use audience_store::{StateStore, StoreError, UserCommit};
use serde::Serialize;
use std::collections::BTreeMap;

/// What a sweep did.
#[derive(Debug, Default, Serialize)]
pub struct SweepOutcome {
    /// Users re-evaluated.
    pub users: usize,
    /// Changes committed (exits, and enters such as "dormant").
    pub changes: Vec<MembershipChange>,
    /// Users skipped after repeated version conflicts (picked up by the next sweep).
    pub conflicts: usize,
}

/// Re-evaluates every user whose `next_flip_at` is at or before `now`, `page` at a time.
pub async fn sweep(
    store: &dyn StateStore,
    rules: &Rules,
    now: Millis,
    page: usize,
) -> Result<SweepOutcome, StoreError> {
    let mut out = SweepOutcome::default();
    let mut skipped: std::collections::HashSet<String> = std::collections::HashSet::new();
    loop {
        let due: Vec<String> = store
            .due_users(now, page + skipped.len())
            .await?
            .into_iter()
            .filter(|u| !skipped.contains(u))
            .take(page)
            .collect();
        if due.is_empty() {
            return Ok(out);
        }
        let batch_id = format!("sweep:{now}");
        let states = store.load_users(&due).await?;
        for user in due {
            let Some(state) = states.get(&user) else {
                skipped.insert(user);
                continue;
            };
            let (mut next, changes) = reevaluate(state, rules, now, Cause::Time);
            next.version = state.version + 1;
            let change_id = format!("{batch_id}#{}", next.version);
            let commit = UserCommit {
                outbox: outbox_entries(rules, &changes, &change_id),
                state: next,
                expected_version: state.version,
                changes,
                links: Vec::new(),
                absorbed: None,
                batch_id: batch_id.clone(),
            };
            match store.commit_user(&commit).await {
                Ok(()) => {
                    out.users += 1;
                    out.changes.extend(commit.changes);
                }
                Err(StoreError::VersionConflict { .. }) => {
                    // A consumer saved this user meanwhile and re-evaluated it; a later sweep
                    // sees its new flip time.
                    out.conflicts += 1;
                    skipped.insert(user);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Who would enter or exit each segment if `new` replaced `old`, at `now`.
#[derive(Debug, Default, Serialize)]
pub struct RulesDiff {
    /// Users evaluated.
    pub users: usize,
    /// Segment → users who would enter.
    pub enter: BTreeMap<String, Vec<String>>,
    /// Segment → users who would exit.
    pub exit: BTreeMap<String, Vec<String>>,
}

/// Compares two rules files over every stored user (a dry run; nothing is written).
pub async fn diff_rules(
    store: &dyn StateStore,
    old: &Rules,
    new: &Rules,
    now: Millis,
) -> Result<RulesDiff, StoreError> {
    let mut diff = RulesDiff::default();
    let mut after: Option<String> = None;
    loop {
        let page = store.scan_users(after.as_deref(), 500).await?;
        let Some(last) = page.last() else {
            return Ok(diff);
        };
        after = Some(last.user.clone());
        for state in &page {
            diff.users += 1;
            let before: Vec<&str> = old
                .segments
                .iter()
                .zip(evaluate_all(state, old, now))
                .filter(|(_, m)| *m)
                .map(|(s, _)| s.def.id.as_str())
                .collect();
            let (_, changes) = reevaluate(
                &audience_core::UserState {
                    memberships: before.iter().map(|s| (s.to_string(), now)).collect(),
                    ..state.clone()
                },
                new,
                now,
                Cause::Rules,
            );
            for c in changes {
                let side = match c.kind {
                    ChangeKind::Entered => &mut diff.enter,
                    ChangeKind::Exited => &mut diff.exit,
                };
                side.entry(c.segment).or_default().push(c.user);
            }
        }
    }
}
