//! Typed load/save of a destination's remembered state for a segment (audience IDs, running
//! import jobs…), shared by every destination kind.

use crate::SyncError;
use audience_store::StateStore;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Loads `kind`'s state of `segment` (the default when never stored).
pub async fn load<T: DeserializeOwned + Default>(
    store: &dyn StateStore,
    kind: &'static str,
    segment: &str,
) -> Result<T, SyncError> {
    match store.destination_state(kind, segment).await? {
        None => Ok(T::default()),
        Some(v) => serde_json::from_value(v).map_err(|e| SyncError::State {
            destination: kind,
            segment: segment.to_string(),
            message: e.to_string(),
        }),
    }
}

/// Saves `kind`'s state of `segment`.
pub async fn save<T: Serialize>(
    store: &dyn StateStore,
    kind: &'static str,
    segment: &str,
    state: &T,
) -> Result<(), SyncError> {
    let value = serde_json::to_value(state).map_err(|e| SyncError::State {
        destination: kind,
        segment: segment.to_string(),
        message: e.to_string(),
    })?;
    store.put_destination_state(kind, segment, &value).await?;
    Ok(())
}
