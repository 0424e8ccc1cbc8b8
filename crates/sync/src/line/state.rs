//! What the LINE destination remembers per segment (in the store's destination state): the
//! core's [`LineAudienceState`] plus the runner's own bookkeeping — exits already folded into
//! a replacement, an interrupted create to reconcile, and a parked refusal.

use crate::error::SyncError;
use audience_core::plan::line::LineAudienceState;
use audience_core::Millis;
use audience_store::StateStore;
use serde::{Deserialize, Serialize};

/// The destination kind in the outbox, ledger and destination state.
pub const KIND: &str = "line";

/// Stored state of one segment's LINE audience.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredLineState {
    /// What the planner reads.
    #[serde(flatten)]
    pub audience: LineAudienceState,
    /// Exits acknowledged because a replacement built without them was accepted by LINE, but
    /// not yet effective (the replacement is not READY). They still count for the policy if
    /// the replacement fails.
    #[serde(default)]
    pub exits_owed: u64,
    /// When the oldest owed exit happened.
    #[serde(default)]
    pub exits_owed_since: Option<Millis>,
    /// A create that was started and not recorded as finished (a crash in between is
    /// reconciled by looking the audience up by this description).
    #[serde(default)]
    pub creating: Option<CreateIntent>,
    /// A permanent refusal: the segment is not synced until `--retry-parked`.
    #[serde(default)]
    pub parked: Option<Parked>,
}

/// A create in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateIntent {
    /// `create` (the segment's audience) or `rotate` (a replacement).
    pub kind: String,
    /// The deterministic description.
    pub description: String,
    /// The generation it would have.
    pub generation: u32,
    /// When it was started.
    pub at: Millis,
}

/// A parked refusal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parked {
    /// When.
    pub at: Millis,
    /// The refused action.
    pub action: String,
    /// The audience concerned.
    pub audience_id: Option<i64>,
    /// LINE's message, details and request ID.
    pub reason: String,
}

/// Loads a segment's state (default when never stored).
pub async fn load(store: &dyn StateStore, segment: &str) -> Result<StoredLineState, SyncError> {
    crate::destination_state::load(store, KIND, segment).await
}

/// Saves a segment's state.
pub async fn save(
    store: &dyn StateStore,
    segment: &str,
    state: &StoredLineState,
) -> Result<(), SyncError> {
    crate::destination_state::save(store, KIND, segment, state).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_core_only_state() {
        let mut s = StoredLineState::default();
        s.audience.audience_id = Some(5);
        s.exits_owed = 3;
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["audience_id"], 5);
        let back: StoredLineState = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
        let core_only: StoredLineState =
            serde_json::from_str(r#"{"audience_id": 9, "created_by_us": true}"#).unwrap();
        assert_eq!(core_only.audience.audience_id, Some(9));
    }
}
