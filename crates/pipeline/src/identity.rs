//! Identity resolution: which user an endpoint-keyed event (email, SMS) belongs to, from
//! links learned in this batch and links the store already holds.

use audience_core::{DecodeOptions, DecodedEvent};
use audience_store::{StateStore, StoreResult};
use std::collections::{BTreeMap, HashMap};

/// The user each event belongs to, and the links this batch reveals (endpoint → user).
pub struct Resolved {
    /// Final user key per event, same order as the input: `None` when it is the event's own
    /// key (`event.key.id`; most events), so no key is copied for those.
    pub users: Vec<Option<String>>,
    /// Links seen in this batch and not yet stored: endpoint → user.
    pub new_links: BTreeMap<String, String>,
}

/// Resolves every event's user key.
pub async fn resolve(
    store: &dyn StateStore,
    events: &[DecodedEvent],
    opts: &DecodeOptions,
) -> StoreResult<Resolved> {
    let mut batch_links: BTreeMap<String, String> = BTreeMap::new();
    // The newest event that names both an endpoint and a user decides the link.
    let mut link_time: HashMap<String, i64> = HashMap::new();
    for ev in events {
        for (endpoint, user) in ev.links(opts) {
            let t = ev.event.event_timestamp;
            if link_time.get(&endpoint).is_none_or(|old| t >= *old) {
                link_time.insert(endpoint.clone(), t);
                batch_links.insert(endpoint, user);
            }
        }
    }
    let mut wanted: Vec<String> = events
        .iter()
        .filter(|e| e.key.is_endpoint())
        .map(|e| e.key.id.clone())
        .chain(batch_links.keys().cloned())
        .collect();
    wanted.sort();
    wanted.dedup();
    let stored = if wanted.is_empty() {
        HashMap::new()
    } else {
        store.load_links(&wanted).await?
    };
    let users = events
        .iter()
        .map(|e| {
            if e.key.is_endpoint() {
                batch_links
                    .get(&e.key.id)
                    .or_else(|| stored.get(&e.key.id))
                    .filter(|user| **user != e.key.id)
                    .cloned()
            } else {
                None
            }
        })
        .collect();
    let new_links = batch_links
        .into_iter()
        .filter(|(endpoint, user)| stored.get(endpoint) != Some(user))
        .collect();
    Ok(Resolved { users, new_links })
}
