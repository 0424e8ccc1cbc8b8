//! Work over stored state without new events: the sweep (time-based exits) and the rules
//! diff (who would enter or exit under a new rules file). A user whose state cannot be read
//! or written is quarantined and skipped; the sweep goes on for everyone else.

use crate::outbox::outbox_entries;
use audience_core::rules::Rules;
use audience_core::{evaluate_all, reevaluate, Cause, ChangeKind, MembershipChange, Millis};
use audience_store::{Quarantined, StateStore, StoreError, UserCommit};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// What a sweep did.
#[derive(Debug, Default, Serialize)]
pub struct SweepOutcome {
    /// Users re-evaluated.
    pub users: usize,
    /// Changes committed (exits, and enters such as "dormant").
    pub changes: Vec<MembershipChange>,
    /// Users skipped after repeated version conflicts (picked up by the next sweep).
    pub conflicts: usize,
    /// Users quarantined (unreadable or refused by the store).
    pub quarantined: Vec<String>,
}

/// Re-evaluates every user whose `next_flip_at` is at or before `now`, `page` at a time.
pub async fn sweep(
    store: &dyn StateStore,
    rules: &Rules,
    now: Millis,
    page: usize,
) -> Result<SweepOutcome, StoreError> {
    let mut out = SweepOutcome::default();
    let mut skipped: HashSet<String> = HashSet::new();
    let batch_id = format!("sweep:{now}");
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
        let loaded = store.load_users(&due).await?;
        let mut quarantine = Vec::new();
        for (user, why) in &loaded.unreadable {
            quarantine.push(Quarantined {
                user: user.clone(),
                reason: "unreadable_state".into(),
                message: format!("stored state is unreadable: {why}"),
                at: now,
                records: Vec::new(),
            });
        }
        let mut commits = Vec::new();
        for user in &due {
            let Some(state) = loaded.states.get(user) else {
                continue;
            };
            let (mut next, changes) = reevaluate(state, rules, now, Cause::Time);
            if changes.is_empty() && next == *state {
                continue; // listed by a lagging index: not due after all
            }
            next.version = state.version + 1;
            let change_id = format!("{batch_id}#{}", next.version);
            commits.push(UserCommit {
                outbox: outbox_entries(rules, &changes, &change_id),
                state: next,
                expected_version: state.version,
                changes,
                links: Vec::new(),
                absorbed: Vec::new(),
                batch_id: batch_id.clone(),
                prior_next_flip_at: state.next_flip_at,
            });
        }
        let results = store.commit_users(&commits).await;
        let mut conflicts = HashSet::new();
        for (commit, result) in commits.into_iter().zip(results) {
            let user = commit.state.user.clone();
            match result {
                Ok(()) => {
                    out.users += 1;
                    out.changes.extend(commit.changes);
                }
                Err(StoreError::VersionConflict { .. }) => {
                    // A consumer saved this user meanwhile and re-evaluated it; a later sweep
                    // sees its new flip time.
                    out.conflicts += 1;
                    conflicts.insert(user);
                }
                Err(e) if e.is_user_fault() => quarantine.push(Quarantined {
                    user,
                    reason: "rejected_by_store".into(),
                    message: e.to_string(),
                    at: now,
                    records: Vec::new(),
                }),
                Err(e) => return Err(e),
            }
        }
        for q in &quarantine {
            tracing::warn!(user = %q.user, reason = %q.reason, error = %q.message, "user quarantined by the sweep");
            out.quarantined.push(q.user.clone());
        }
        if !quarantine.is_empty() {
            store.quarantine(&quarantine).await?;
        }
        // Everything listed is done for this `now` except lost races (the next sweep sees
        // them again); nothing is listed twice in one run.
        let done: Vec<String> = due
            .iter()
            .filter(|u| !conflicts.contains(*u))
            .cloned()
            .collect();
        store.due_done(now, &done).await?;
        skipped.extend(due);
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
    /// Users whose state could not be read (not evaluated).
    pub unreadable: Vec<String>,
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
        diff.unreadable.extend(page.unreadable.keys().cloned());
        for state in &page.users {
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
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(diff),
        }
    }
}
