//! What a store is asked to delete when one user's data is erased ([`UserErasure`], see
//! `audience_pipeline::erase`) and what it reports having removed ([`Erased`]).

use crate::model::OutboxEntry;
use audience_core::{MembershipChange, Millis};
use serde::Serialize;

/// The version condition of an erasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErasedVersion {
    /// The user's state as read at this version (0 = no state stored): the erasure fails with
    /// `VersionConflict`, removing nothing, when another writer saved the user since.
    Read(u64),
    /// The stored state is unreadable (corrupt, quarantined): it goes whatever its version
    /// (no consumer can write a user whose state it cannot read).
    Unreadable,
}

/// One user's erasure: everything the store removes or records, decided by the pipeline
/// (`audience_core::erase`).
#[derive(Debug, Clone, PartialEq)]
pub struct UserErasure {
    /// The user key.
    pub user: String,
    /// The condition on the stored state.
    pub version: ErasedVersion,
    /// The user's `next_flip_at` as read (stores with a separate due index remove its entry).
    pub next_flip_at: Option<Millis>,
    /// Exits of every segment the user is a member of (members, counters, daily history).
    pub changes: Vec<MembershipChange>,
    /// Exit entries for the destinations of those segments. Any other pending entry of the
    /// user becomes an exit too (an addition may have reached the destination already).
    pub outbox: Vec<OutboxEntry>,
    /// Identity keys the state names (endpoint IDs, `line:<ID>`): their links go when they
    /// point at the user, and so does the link keyed by the user's own key.
    pub identities: Vec<String>,
    /// Whether `identities` are all the user's links. When not (the state kept only its most
    /// recent endpoints, or is unreadable), a store that cannot look links up by user searches
    /// for them (DynamoDB: a Scan); SQLite always removes every link pointing at the user.
    pub identities_complete: bool,
    /// When (outbox entries written), epoch ms.
    pub at: Millis,
    /// Identifies the erasure's outbox entries.
    pub change_id: String,
}

/// What an erasure removed (all zero when there was nothing left: a repeated erasure).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Erased {
    /// The user's state item (1 or 0).
    pub state: u64,
    /// Memberships ended (each an exit in the counters).
    pub memberships: u64,
    /// Pending additions of the user turned into exits, and exit entries written.
    pub outbox: u64,
    /// Identity links removed (both directions).
    pub links: u64,
    /// Due-index entries removed (stores with a separate index).
    pub due: u64,
    /// Quarantine entries removed.
    pub quarantine: u64,
    /// Dead letters removed (those of the user's quarantine, and those naming the user).
    pub dead_letters: u64,
}

impl Erased {
    /// Whether nothing was removed.
    pub fn is_nothing(&self) -> bool {
        *self == Erased::default()
    }
}
