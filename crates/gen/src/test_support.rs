//! Shared helpers of the unit tests: the fixtures' options and an independent way to tell
//! which user an event belongs to.

use crate::options::GenOptions;
use crate::users::build_users;
use serde_json::Value;
use std::collections::BTreeMap;

/// `end_ms` of the fixtures: 2025-12-01T00:00:00Z.
pub(crate) const END_MS: i64 = 1_764_547_200_000;

/// The fixtures' options with `events` events.
pub(crate) fn opts(events: usize) -> GenOptions {
    GenOptions {
        seed: 7,
        users: 240,
        events,
        end_ms: END_MS,
        days: 120,
        shards: 4,
    }
}

/// Every event kind the generator produces.
pub(crate) const ALL_KINDS: &[&str] = &[
    "view_item",
    "add_to_cart",
    "search",
    "_session.start",
    "_session.stop",
    "_monetization.purchase",
    "_userauth.sign_in",
    "_campaign.send",
    "_campaign.opened_notification",
    "_journey.send",
    "_email.send",
    "_email.delivered",
    "_email.open",
    "_SMS.SUCCESS",
];

/// The user an event belongs to: the endpoint's user ID, the embedded endpoint's, or the
/// user owning `client.client_id`.
pub(crate) fn user_of(e: &Value, by_endpoint: &BTreeMap<String, String>) -> Option<String> {
    if let Some(id) = e["endpoint"]["User"]["UserId"].as_str() {
        return Some(id.to_string());
    }
    if let Some(text) = e["client_context"]["custom"]["endpoint"].as_str() {
        let inner: Value = serde_json::from_str(text).unwrap();
        if let Some(id) = inner["User"]["UserId"].as_str() {
            return Some(id.to_string());
        }
    }
    let client = e["client"]["client_id"].as_str()?;
    by_endpoint.get(client).cloned()
}

/// Endpoint ID → user ID of every generated user.
pub(crate) fn endpoint_owners(o: &GenOptions) -> BTreeMap<String, String> {
    build_users(o)
        .into_iter()
        .map(|u| (u.endpoint_id, u.id))
        .collect()
}
