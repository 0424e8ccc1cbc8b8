//! The Kinesis partition key of a collected event: its `userId`, else `anonymousId`, else
//! `previousId` (so one user's events stay in order on one shard), else a hash of the event's
//! bytes. A key longer than Kinesis allows (256 characters) is replaced by its hash, which
//! keeps the user's events together.

use audience_kinesis::MAX_KEY_CHARS;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The fields tried, in order.
pub const KEY_FIELDS: [&str; 3] = ["userId", "anonymousId", "previousId"];

/// The partition key for `event`, whose serialized form is `bytes`.
pub fn partition_key(event: &Map<String, Value>, bytes: &[u8]) -> String {
    let from_field = KEY_FIELDS.iter().find_map(|field| match event.get(*field) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    });
    key_for(from_field.as_deref(), bytes)
}

/// The partition key for a record of user `id` (if known) whose bytes are `bytes`: the ID
/// when Kinesis allows it, else its hash; with no ID, a hash of the bytes.
pub fn key_for(id: Option<&str>, bytes: &[u8]) -> String {
    match id {
        Some(key) if !key.is_empty() && key.chars().count() <= MAX_KEY_CHARS => key.to_string(),
        Some(long) if !long.is_empty() => format!("sha256:{}", short_hash(long.as_bytes())),
        _ => format!("sha256:{}", short_hash(bytes)),
    }
}

/// The first 16 bytes of SHA-256, in hex.
fn short_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(v: Value) -> String {
        let bytes = serde_json::to_vec(&v).unwrap();
        partition_key(v.as_object().unwrap(), &bytes)
    }

    #[test]
    fn user_id_then_anonymous_id_then_previous_id() {
        assert_eq!(
            key(json!({"userId": "u1", "anonymousId": "a1", "previousId": "p1"})),
            "u1"
        );
        assert_eq!(key(json!({"anonymousId": "a1", "previousId": "p1"})), "a1");
        assert_eq!(key(json!({"userId": "", "anonymousId": "a1"})), "a1");
        assert_eq!(key(json!({"userId": null, "previousId": "p1"})), "p1");
        assert_eq!(key(json!({"userId": 42})), "42");
    }

    #[test]
    fn no_key_hashes_the_event_bytes() {
        let a = key(json!({"type": "track", "event": "A"}));
        let b = key(json!({"type": "track", "event": "B"}));
        assert!(a.starts_with("sha256:") && a.len() == 7 + 32, "{a}");
        assert_ne!(a, b);
        assert_eq!(a, key(json!({"type": "track", "event": "A"})));
    }

    #[test]
    fn an_overlong_key_is_hashed_but_stays_per_user() {
        let long = "u".repeat(MAX_KEY_CHARS + 1);
        let k1 = key(json!({"userId": long, "event": "A"}));
        let k2 = key(json!({"userId": long, "event": "B"}));
        assert_eq!(k1, k2);
        assert!(k1.chars().count() <= MAX_KEY_CHARS);
        let exact = "u".repeat(MAX_KEY_CHARS);
        assert_eq!(key(json!({ "userId": exact })), exact);
    }
}
