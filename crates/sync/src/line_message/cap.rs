//! The frequency cap (`cap: 7d`): at most one message per user per segment within the window.
//!
//! "When was this user last messaged for this segment" is kept by this destination, one small
//! record per (segment, user), in the store's destination state — not in the segment's own
//! state, which one item must hold (DynamoDB's 400 KB) while a segment has millions of users.
//! Records are spread over [`SHARDS`] keys per segment (`line_message.sent/<segment>/<nn>`,
//! the user key as the item's sort key) so a large send does not write one DynamoDB partition.
//!
//! A record is written just before the request that messages the user is sent (and again if
//! the request is re-sent), and removed when LINE refuses that request: a crash can leave a
//! record for a message that is sent by the next run's re-send, never a message without one.

use crate::error::SyncError;
use audience_core::hash::fnv1a64;
use audience_core::Millis;
use audience_store::StateStore;
use futures::future::try_join_all;
use std::collections::HashMap;

/// Keys per segment over which the records are spread.
pub const SHARDS: u64 = 32;
/// Records read or written at once.
const CONCURRENCY: usize = 16;

/// The destination-state key of a user's record.
fn key(segment: &str, user: &str) -> String {
    format!(
        "{}.sent/{segment}/{:02}",
        super::KIND,
        fnv1a64(user.as_bytes()) % SHARDS
    )
}

/// When each of `users` was last messaged for `segment` (users never messaged are absent).
pub async fn last_sent(
    store: &dyn StateStore,
    segment: &str,
    users: &[String],
) -> Result<HashMap<String, Millis>, SyncError> {
    let mut out = HashMap::new();
    for chunk in users.chunks(CONCURRENCY) {
        let found = try_join_all(chunk.iter().map(|u| read_one(store, segment, u))).await?;
        out.extend(
            chunk
                .iter()
                .zip(found)
                .filter_map(|(u, at)| at.map(|at| (u.clone(), at))),
        );
    }
    Ok(out)
}

async fn read_one(
    store: &dyn StateStore,
    segment: &str,
    user: &str,
) -> Result<Option<Millis>, SyncError> {
    let v = store.destination_state(&key(segment, user), user).await?;
    Ok(v.as_ref()
        .and_then(|v| v.get("at"))
        .and_then(serde_json::Value::as_i64))
}

/// Records that `users` are messaged at `at` by the request with `retry_key`.
pub async fn mark(
    store: &dyn StateStore,
    segment: &str,
    users: &[&str],
    at: Millis,
    retry_key: &str,
) -> Result<(), SyncError> {
    let value = serde_json::json!({ "at": at, "retry_key": retry_key });
    put_all(store, segment, users, &value).await
}

/// Forgets the records of a request LINE refused (nothing was sent).
pub async fn unmark(
    store: &dyn StateStore,
    segment: &str,
    users: &[&str],
) -> Result<(), SyncError> {
    put_all(store, segment, users, &serde_json::Value::Null).await
}

async fn put_all(
    store: &dyn StateStore,
    segment: &str,
    users: &[&str],
    value: &serde_json::Value,
) -> Result<(), SyncError> {
    for chunk in users.chunks(CONCURRENCY) {
        try_join_all(chunk.iter().map(|u| put_one(store, segment, u, value))).await?;
    }
    Ok(())
}

async fn put_one(
    store: &dyn StateStore,
    segment: &str,
    user: &str,
    value: &serde_json::Value,
) -> Result<(), SyncError> {
    store
        .put_destination_state(&key(segment, user), user, value)
        .await?;
    Ok(())
}
