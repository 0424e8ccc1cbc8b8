//! Erasing one person's data on request (Japan's APPI, the GDPR): `audience-stream user
//! delete USER`. Reads the user, asks the core what the erasure means
//! (`audience_core::erase`: an exit of every membership, the identities to unlink), turns
//! the exits into outbox entries for the segments' destinations, and has the store delete
//! (`StateStore::erase_user`). The ledger gets one row with counts only — never the user key.
//!
//! Concurrency: the store removes the state only at the version read; when a consumer saved
//! the user meanwhile, the erasure reads it again and erases the newer state. An event that
//! arrives after the erasure creates a new user (nothing of the old state is left to fold
//! in); erase again if that event belongs to the same person.

use crate::outbox::outbox_entries;
use audience_core::erase::plan_erasure;
use audience_core::rules::Rules;
use audience_core::Millis;
use audience_store::{
    Erased, ErasedVersion, LedgerEntry, LedgerStatus, StateStore, StoreError, UserErasure,
};
use serde::Serialize;

/// Reads and erasures tried before a user that keeps changing is reported as a conflict.
const ATTEMPTS: u32 = 5;
/// The ledger's destination for erasure rows.
pub const ERASURE_LEDGER: &str = "erasure";

/// What an erasure found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EraseReport {
    /// The user key.
    pub user: String,
    /// Nothing was written (`--dry-run`).
    pub dry_run: bool,
    /// A readable state was stored.
    pub state_found: bool,
    /// The stored state is unreadable (it is erased all the same).
    pub unreadable: bool,
    /// Segments the user leaves.
    pub segments: Vec<String>,
    /// `destination/segment` queues that get an exit entry (besides pending additions turned
    /// into exits, which the store finds).
    pub exits_queued: Vec<String>,
    /// Identity keys the state names, whose links go.
    pub identities: Vec<String>,
    /// The user key is itself linked to this other user (that user is not erased).
    pub linked_to: Option<String>,
    /// What the store removed (zeros in a dry run, and when nothing was left).
    pub erased: Erased,
    /// Reads it took (more than 1 when a concurrent write won a race).
    pub attempts: u32,
}

impl EraseReport {
    /// Whether an erasure found nothing at all to delete (e.g. it was run before).
    pub fn found_nothing(&self) -> bool {
        if self.dry_run {
            !self.state_found && !self.unreadable && self.segments.is_empty()
        } else {
            self.erased.is_nothing()
        }
    }
}

/// Erases `user` at `now` (plans only, reading, when `dry_run`).
pub async fn erase_user(
    store: &dyn StateStore,
    rules: &Rules,
    user: &str,
    now: Millis,
    dry_run: bool,
) -> Result<EraseReport, StoreError> {
    let change_id = format!("erase:{now}");
    let mut attempts = 0;
    loop {
        attempts += 1;
        let loaded = store.load_users(&[user.to_string()]).await?;
        let state = loaded.states.get(user);
        let unreadable = loaded.unreadable.contains_key(user);
        let indexed = store.memberships_of(user).await?;
        let plan = plan_erasure(user, state, &indexed, rules, now);
        let outbox = outbox_entries(rules, &plan.exits, &change_id);
        let linked_to = store
            .load_links(&[user.to_string()])
            .await?
            .remove(user)
            .filter(|owner| owner != user);
        let mut report = EraseReport {
            user: user.to_string(),
            dry_run,
            state_found: state.is_some(),
            unreadable,
            segments: plan.exits.iter().map(|c| c.segment.clone()).collect(),
            exits_queued: outbox
                .iter()
                .map(|o| format!("{}/{}", o.destination, o.segment))
                .collect(),
            identities: plan.identities.clone(),
            linked_to,
            erased: Erased::default(),
            attempts,
        };
        if dry_run {
            return Ok(report);
        }
        let erasure = UserErasure {
            user: user.to_string(),
            version: if unreadable {
                ErasedVersion::Unreadable
            } else {
                ErasedVersion::Read(state.map_or(0, |s| s.version))
            },
            next_flip_at: state.and_then(|s| s.next_flip_at),
            changes: plan.exits,
            outbox,
            identities: plan.identities,
            identities_complete: plan.identities_complete,
            at: now,
            change_id: change_id.clone(),
        };
        match store.erase_user(&erasure).await {
            Ok(erased) => {
                report.erased = erased;
                if !erased.is_nothing() {
                    store.append_ledger(&ledger_row(&erased, now)).await?;
                }
                return Ok(report);
            }
            Err(StoreError::VersionConflict { .. }) if attempts < ATTEMPTS => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The ledger row of an erasure: counts only, no user key nor anything derived from it (a
/// hash of a user ID can be matched against a list of IDs).
pub fn ledger_row(erased: &Erased, now: Millis) -> LedgerEntry {
    LedgerEntry {
        at: now,
        destination: ERASURE_LEDGER.to_string(),
        segment: "*".to_string(),
        action: "erase_user".to_string(),
        target: None,
        users: erased.state,
        exits: erased.memberships,
        status: LedgerStatus::Ok,
        attempts: 1,
        duration_ms: 0,
        message: Some(format!(
            "erased one user on request: {} memberships ended, {} exit entries queued, {} links, {} due entries, {} quarantine entries, {} dead letters removed",
            erased.memberships, erased.outbox, erased.links, erased.due, erased.quarantine, erased.dead_letters
        )),
        detail: serde_json::to_value(erased).unwrap_or_default(),
    }
}
