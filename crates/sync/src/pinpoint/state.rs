//! What the Pinpoint destination remembers per segment: the core's [`PinpointSegmentState`]
//! (segment ID, running job, last completion, version) plus the running import's file and
//! counts, whether a re-import is owed because the last one failed, and an import job being
//! started whose ID is not known yet.

use crate::error::SyncError;
use audience_core::plan::pinpoint::PinpointSegmentState;
use audience_core::Millis;
use audience_store::StateStore;
use serde::{Deserialize, Serialize};

/// The destination kind in the outbox, ledger and destination state.
pub const KIND: &str = "pinpoint";

/// Stored state of one segment's Pinpoint imports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredPinpointState {
    /// What the planner reads.
    #[serde(flatten)]
    pub import: PinpointSegmentState,
    /// The last import failed after its changes were acknowledged: import again.
    #[serde(default)]
    pub reimport_owed: bool,
    /// `s3://` URL of the running (or last) import file.
    #[serde(default)]
    pub s3_url: Option<String>,
    /// Endpoint rows in that file.
    #[serde(default)]
    pub rows: u64,
    /// Members left out of it (no endpoint with an address).
    #[serde(default)]
    pub skipped_users: u64,
    /// When the running job was created.
    #[serde(default)]
    pub started_at: Option<Millis>,
    /// Recorded just before CreateImportJob and cleared once the job's ID is saved: when a
    /// run finds it, a job for this file may exist that no run knows of (see `intent.rs`).
    #[serde(default)]
    pub starting: Option<ImportIntent>,
}

/// An import job about to be created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportIntent {
    /// The import version it starts.
    pub version: u32,
    /// `s3://` URL of its file (how the job is found again).
    pub s3_url: String,
    /// When CreateImportJob was about to be called (epoch ms).
    pub at: Millis,
    /// Endpoint rows in its file.
    #[serde(default)]
    pub rows: u64,
    /// Members left out of it (no endpoint with an address).
    #[serde(default)]
    pub skipped_users: u64,
}

/// Loads a segment's state (default when never stored).
pub async fn load(store: &dyn StateStore, segment: &str) -> Result<StoredPinpointState, SyncError> {
    crate::destination_state::load(store, KIND, segment).await
}

/// Saves a segment's state.
pub async fn save(
    store: &dyn StateStore,
    segment: &str,
    state: &StoredPinpointState,
) -> Result<(), SyncError> {
    crate::destination_state::save(store, KIND, segment, state).await
}
