//! Signatures of the records the LINE webhook function puts on the stream.
//!
//! LINE signs each webhook call (`x-line-signature`, checked by the webhook function), but the
//! consumer only sees Kinesis records, which any producer with write access (an app using
//! Amplify's Kinesis provider, for one) could forge. So the webhook function signs the fields
//! that carry identity (HMAC-SHA256 under a record key shared with the consumer, kept in
//! Secrets Manager), and the consumer believes a `line.*` event or a `line:` key only when the
//! signature verifies. Pure computation: the key is passed in.

use crate::event::PinpointEvent;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// The event field that holds the signature (top level of the event JSON).
pub const SIGNATURE_FIELD: &str = "audience_stream_signature";

/// The secret key records are signed with. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordKey(Vec<u8>);

impl RecordKey {
    /// A key from its bytes (at least 16).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<RecordKey, String> {
        let bytes = bytes.into();
        if bytes.len() < 16 {
            return Err(format!(
                "the record signing key has {} bytes; at least 16 are needed",
                bytes.len()
            ));
        }
        Ok(RecordKey(bytes))
    }
}

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecordKey(<redacted>)")
    }
}

/// The signed text: every field that decides whose event this is and what it says.
fn canonical(
    event_type: &str,
    timestamp: i64,
    client_id: &str,
    line_user_id: &str,
    webhook_event_id: &str,
) -> String {
    format!("audience-stream/line-webhook/v1\n{event_type}\n{timestamp}\n{client_id}\n{line_user_id}\n{webhook_event_id}")
}

/// The HMAC of a canonical text under `key` (HMAC takes keys of any length).
fn mac(key: &RecordKey, text: &str) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(&key.0).ok()?;
    mac.update(text.as_bytes());
    Some(mac)
}

/// The signature the webhook function attaches to a record with these fields.
pub fn sign_line_event(
    key: &RecordKey,
    event_type: &str,
    timestamp: i64,
    client_id: &str,
    line_user_id: &str,
    webhook_event_id: &str,
) -> String {
    let text = canonical(
        event_type,
        timestamp,
        client_id,
        line_user_id,
        webhook_event_id,
    );
    mac(key, &text).map_or_else(String::new, |m| STANDARD.encode(m.finalize().into_bytes()))
}

/// True when `signature` signs this event's identity fields under `key` (constant time).
pub fn verify_line_event(key: &RecordKey, event: &PinpointEvent, signature: &str) -> bool {
    let Ok(expected) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    let attr = |name: &str| event.attributes.get(name).map_or("", String::as_str);
    let text = canonical(
        &event.event_type,
        event.event_timestamp,
        event.client.client_id.as_deref().unwrap_or(""),
        attr("line_user_id"),
        attr("webhook_event_id"),
    );
    mac(key, &text).is_some_and(|m| m.verify_slice(&expected).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(line: &str) -> PinpointEvent {
        let mut e = PinpointEvent {
            event_type: "line.follow".into(),
            event_timestamp: 1_700_000_000_000,
            ..PinpointEvent::default()
        };
        e.client.client_id = Some(format!("line:{line}"));
        e.attributes.insert("line_user_id".into(), line.into());
        e.attributes
            .insert("webhook_event_id".into(), "01HXYZ".into());
        e
    }

    #[test]
    fn a_signed_event_verifies_and_a_changed_one_does_not() {
        let key = RecordKey::new(b"0123456789abcdef0123".to_vec()).unwrap();
        let line = "U0123456789abcdef0123456789abcdef";
        let e = event(line);
        let sig = sign_line_event(
            &key,
            "line.follow",
            e.event_timestamp,
            &format!("line:{line}"),
            line,
            "01HXYZ",
        );
        assert!(verify_line_event(&key, &e, &sig));
        let other = event("Uffffffffffffffffffffffffffffffff");
        assert!(
            !verify_line_event(&key, &other, &sig),
            "another LINE ID must not verify"
        );
        let wrong_key = RecordKey::new(b"another key of 16+ bytes".to_vec()).unwrap();
        assert!(!verify_line_event(&wrong_key, &e, &sig));
        assert!(!verify_line_event(&key, &e, "not base64!"));
    }

    #[test]
    fn keys_are_never_printed() {
        let key = RecordKey::new(b"super-secret-key-bytes".to_vec()).unwrap();
        assert!(!format!("{key:?}").contains("secret"));
        assert!(RecordKey::new(b"short".to_vec()).is_err());
    }
}
