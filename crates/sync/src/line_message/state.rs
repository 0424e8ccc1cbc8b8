//! What the message destination remembers per segment (the store's destination state,
//! kind `line_message`): the requests planned and not yet known to be sent — written before
//! the first of them is sent, so a run that stops in between re-sends exactly these (same
//! recipients, same messages, same retry key) — and a parked refusal.
//!
//! One batch of planned requests is kept at a time, at most [`MAX_PLANNED_BYTES`] of JSON,
//! well inside DynamoDB's 400 KB item.

use crate::error::SyncError;
use crate::line::state::Parked;
use audience_core::plan::message::SendKind;
use audience_core::Millis;
use audience_store::{OutboxEntry, StateStore};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most bytes of planned requests kept at once (one request is always kept, whatever its
/// size: ≤ 500 recipients and 5 messages of ≤ 30 KB stay under 250 KB).
pub const MAX_PLANNED_BYTES: usize = 256 * 1024;

/// Stored state of one segment's messages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredMessageState {
    /// Requests planned and not yet confirmed sent (2xx, or 409 on their retry key).
    #[serde(default)]
    pub planned: Vec<PlannedRequest>,
    /// A permanent refusal or an exhausted quota: nothing is sent until `--retry-parked`.
    #[serde(default)]
    pub parked: Option<Parked>,
}

/// One push or multicast, as planned and sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedRequest {
    /// Push or multicast.
    pub kind: SendKind,
    /// LINE user IDs.
    pub to: Vec<String>,
    /// Rendered message objects.
    pub messages: Vec<Value>,
    /// `X-Line-Retry-Key`.
    pub retry_key: String,
    /// `notificationDisabled`.
    pub notification_disabled: bool,
    /// `customAggregationUnits`.
    pub aggregation_unit: Option<String>,
    /// The outbox entries it delivers (acknowledged once it is sent).
    pub entries: Vec<OutboxEntry>,
    /// When it was planned.
    pub planned_at: Millis,
}

impl PlannedRequest {
    /// Its size as stored.
    pub fn stored_bytes(&self) -> usize {
        serde_json::to_vec(self).map_or(usize::MAX, |v| v.len())
    }
}

/// Loads a segment's state (default when never stored).
pub async fn load(store: &dyn StateStore, segment: &str) -> Result<StoredMessageState, SyncError> {
    crate::destination_state::load(store, super::KIND, segment).await
}

/// Saves a segment's state.
pub async fn save(
    store: &dyn StateStore,
    segment: &str,
    state: &StoredMessageState,
) -> Result<(), SyncError> {
    crate::destination_state::save(store, super::KIND, segment, state).await
}
