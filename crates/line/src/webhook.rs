//! LINE webhook support: signature verification and a small typed parse of follow/unfollow.
//!
//! `x-line-signature` is Base64(HMAC-SHA256(channel secret, raw body)); it must be checked
//! on the raw bytes before any JSON parsing, and compared in constant time.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Name of the signature header (HTTP header names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "x-line-signature";

type HmacSha256 = Hmac<Sha256>;

/// True when `header_value` is the Base64 HMAC-SHA256 of `raw_body` under `channel_secret`.
/// Constant-time comparison; any malformed header is simply `false`.
pub fn verify_signature(channel_secret: &[u8], raw_body: &[u8], header_value: &str) -> bool {
    let Ok(expected) = STANDARD.decode(header_value.trim()) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(channel_secret) else {
        return false;
    };
    mac.update(raw_body);
    mac.verify_slice(&expected).is_ok()
}

/// The signature LINE would send for `raw_body` (for tests, fakes and replay tools).
pub fn sign(channel_secret: &[u8], raw_body: &[u8]) -> String {
    // HMAC accepts keys of any length; an (impossible) key error yields a non-matching "".
    let Ok(mut mac) = HmacSha256::new_from_slice(channel_secret) else {
        return String::new();
    };
    mac.update(raw_body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Follow or unfollow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowKind {
    /// The user added the account as a friend (or unblocked it).
    Follow,
    /// The user blocked the account.
    Unfollow,
}

/// A follow/unfollow event from a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowEvent {
    /// The LINE user ID (`source.userId`).
    pub user_id: String,
    /// Follow or unfollow.
    pub kind: FollowKind,
    /// Event time in milliseconds since the UNIX epoch.
    pub timestamp: i64,
    /// `webhookEventId` (ULID), unique per event: use it to drop redeliveries.
    pub webhook_event_id: Option<String>,
    /// `deliveryContext.isRedelivery`.
    pub is_redelivery: bool,
    /// `follow.isUnblocked` on follow events.
    pub is_unblocked: Option<bool>,
}

/// A webhook body that is not LINE's callback JSON.
#[derive(Debug, thiserror::Error)]
#[error("webhook body is not a LINE callback request: {0}")]
pub struct WebhookParseError(#[from] serde_json::Error);

#[derive(Deserialize)]
struct Callback {
    #[allow(dead_code)]
    destination: String,
    events: Vec<RawEvent>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    source: Option<RawSource>,
    timestamp: i64,
    #[serde(default)]
    webhook_event_id: Option<String>,
    #[serde(default)]
    delivery_context: Option<RawDelivery>,
    #[serde(default)]
    follow: Option<RawFollow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSource {
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDelivery {
    #[serde(default)]
    is_redelivery: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFollow {
    #[serde(default)]
    is_unblocked: Option<bool>,
}

/// Parses a (verified) callback body and returns its follow/unfollow events from users, in
/// order. Other event types, and events without a user ID, are skipped.
pub fn parse_follow_events(raw_body: &[u8]) -> Result<Vec<FollowEvent>, WebhookParseError> {
    let callback: Callback = serde_json::from_slice(raw_body)?;
    Ok(callback
        .events
        .into_iter()
        .filter_map(|e| {
            let kind = match e.event_type.as_str() {
                "follow" => FollowKind::Follow,
                "unfollow" => FollowKind::Unfollow,
                _ => return None,
            };
            let user_id = e.source?.user_id?;
            Some(FollowEvent {
                user_id,
                kind,
                timestamp: e.timestamp,
                webhook_event_id: e.webhook_event_id,
                is_redelivery: e.delivery_context.is_some_and(|d| d.is_redelivery),
                is_unblocked: e.follow.and_then(|f| f.is_unblocked),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"destination":"U8e742f61d673b39c7fff3cecb7536ef0","events":[]}"#;
    const SECRET: &str = "8c570fa6dd201bb328f1c1eac23a96d8";
    const SIG: &str = "GhRKmvmHys4Pi8DxkF4+EayaH0OqtJtaZxgTD9fMDLs=";

    #[test]
    fn known_vector_verifies() {
        assert!(verify_signature(SECRET.as_bytes(), BODY.as_bytes(), SIG));
        assert_eq!(sign(SECRET.as_bytes(), BODY.as_bytes()), SIG);
    }

    #[test]
    fn tampering_fails() {
        let tampered = BODY.replace("[]", "[ ]");
        assert!(!verify_signature(
            SECRET.as_bytes(),
            tampered.as_bytes(),
            SIG
        ));
        assert!(!verify_signature(b"other-secret", BODY.as_bytes(), SIG));
        assert!(!verify_signature(
            SECRET.as_bytes(),
            BODY.as_bytes(),
            "not base64!"
        ));
        assert!(!verify_signature(SECRET.as_bytes(), BODY.as_bytes(), ""));
        let mut truncated = SIG.to_string();
        truncated.truncate(20);
        assert!(!verify_signature(
            SECRET.as_bytes(),
            BODY.as_bytes(),
            &truncated
        ));
    }

    #[test]
    fn parses_follow_and_unfollow_only() {
        let body = r#"{"destination":"U8e742f61d673b39c7fff3cecb7536ef0","events":[
          {"type":"follow","mode":"active","timestamp":1462629479859,
           "source":{"type":"user","userId":"U4af4980629aaaaaaaaaaaaaaaaaaaaaaa"},
           "webhookEventId":"01FZ74A0TDDPYRVKNK77XKC3ZR","deliveryContext":{"isRedelivery":false},
           "replyToken":"r","follow":{"isUnblocked":false}},
          {"type":"message","mode":"active","timestamp":1462629479860,
           "source":{"type":"user","userId":"U4af4980629bbbbbbbbbbbbbbbbbbbbbbb"},
           "webhookEventId":"01FZ74A0TDDPYRVKNK77XKC3ZS","deliveryContext":{"isRedelivery":false}},
          {"type":"unfollow","mode":"active","timestamp":1462629479861,
           "source":{"type":"user","userId":"U4af4980629ccccccccccccccccccccccc"},
           "webhookEventId":"01FZ74A0TDDPYRVKNK77XKC3ZT","deliveryContext":{"isRedelivery":true}},
          {"type":"unfollow","mode":"active","timestamp":1462629479862,
           "source":{"type":"group","groupId":"Cxxx"},
           "webhookEventId":"01FZ74A0TDDPYRVKNK77XKC3ZU","deliveryContext":{"isRedelivery":false}}
        ]}"#;
        let events = parse_follow_events(body.as_bytes()).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].kind, FollowKind::Follow);
        assert_eq!(events[0].user_id, "U4af4980629aaaaaaaaaaaaaaaaaaaaaaa");
        assert_eq!(events[0].timestamp, 1462629479859);
        assert_eq!(events[0].is_unblocked, Some(false));
        assert_eq!(events[1].kind, FollowKind::Unfollow);
        assert!(events[1].is_redelivery);
        assert!(parse_follow_events(b"not json").is_err());
        assert!(parse_follow_events(BODY.as_bytes()).unwrap().is_empty());
    }
}
