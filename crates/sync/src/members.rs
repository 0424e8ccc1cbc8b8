//! Reading a segment's full current membership with each member's state, a page at a time
//! (rotation files and import CSVs are built from it).

use audience_core::UserState;
use audience_store::{StateStore, StoreResult};
use std::collections::HashMap;

/// Members listed per page.
const PAGE: usize = 1_000;
/// Users loaded per call.
const LOAD_CHUNK: usize = 100;

/// Calls `each` with every current member's state, in key order. Members whose state is
/// missing (deleted meanwhile) are skipped. Membership is read strongly consistent
/// ([`StateStore::list_members_consistent`]): what is built from it (a replacement audience,
/// an import file) must not miss a member who entered just before.
pub async fn for_each_member(
    store: &dyn StateStore,
    segment: &str,
    mut each: impl FnMut(&UserState),
) -> StoreResult<u64> {
    let mut after: Option<String> = None;
    let mut seen = 0u64;
    loop {
        let page = store
            .list_members_consistent(segment, after.as_deref(), PAGE)
            .await?;
        if page.is_empty() {
            return Ok(seen);
        }
        for chunk in page.chunks(LOAD_CHUNK) {
            let users = store.load_users(chunk).await?;
            warn_unreadable(&users);
            for key in chunk {
                if let Some(state) = users.states.get(key) {
                    seen += 1;
                    each(state);
                }
            }
        }
        let full = page.len() == PAGE;
        after = page.last().cloned();
        if !full {
            return Ok(seen);
        }
    }
}

/// Loads many users, in chunks.
pub async fn load_users(
    store: &dyn StateStore,
    keys: &[String],
) -> StoreResult<HashMap<String, UserState>> {
    let mut out = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(LOAD_CHUNK) {
        let users = store.load_users(chunk).await?;
        warn_unreadable(&users);
        out.extend(users.states);
    }
    Ok(out)
}

/// Users whose state cannot be read are skipped (the consumer quarantines them); the sync
/// goes on for everyone else.
fn warn_unreadable(users: &audience_store::UserLoad) {
    for (user, why) in &users.unreadable {
        tracing::warn!(user = %user, error = %why, "skipping a user whose state is unreadable");
    }
}
