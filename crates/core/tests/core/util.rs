//! Helpers shared by the core's integration tests: event builders and a small rules file.

#![allow(dead_code)]

use audience_core::record::{Payload, RawRecord, RecordId};
use audience_core::{decode_record, Clock, DecodeOptions, DecodedEvent, Rules};
use serde_json::{json, Value};

pub const DAY: i64 = 86_400_000;
/// 2025-12-01T00:00:00Z
pub const NOW: i64 = 1_764_547_200_000;

/// The tests' clock: evaluation time and wall clock at [`NOW`].
pub fn clock() -> Clock {
    Clock::at(NOW)
}

pub fn rules(yaml: &str) -> Rules {
    Rules::load(yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"))
}

/// An app event for `user` with endpoint attributes.
pub fn app_event(user: &str, event_type: &str, t: i64) -> Value {
    json!({
        "event_type": event_type,
        "event_timestamp": t,
        "arrival_timestamp": t.saturating_add(1000),
        "event_version": "3.1",
        "application": {"app_id": "app"},
        "client": {"client_id": format!("ep-{user}")},
        "attributes": {},
        "metrics": {},
        "endpoint": {
            "Id": format!("ep-{user}"),
            "ChannelType": "GCM",
            "Address": format!("token-{user}"),
            "Attributes": {"pref": ["兵庫県"]},
            "User": {"UserId": user, "UserAttributes": {"plan": ["gold"]}}
        }
    })
}

pub fn purchase(user: &str, t: i64, price: f64, qty: f64) -> Value {
    let mut e = app_event(user, "_monetization.purchase", t);
    e["attributes"] = json!({"_currency": "JPY", "_product_id": "p1"});
    e["metrics"] = json!({"_item_price": price, "_quantity": qty});
    e
}

pub fn decoded(value: &Value, shard: &str, seq: u64) -> DecodedEvent {
    let raw = RawRecord {
        id: RecordId::new(shard, seq.to_string()),
        payload: Payload::Json(serde_json::to_vec(value).unwrap()),
        arrival_ms: None,
    };
    decode_record(&raw, &DecodeOptions::default(), clock()).unwrap_or_else(|e| panic!("{e}"))
}

/// The key the tests' "webhook function" signs LINE records with.
pub fn record_key() -> audience_core::signature::RecordKey {
    audience_core::signature::RecordKey::new(b"core-tests-record-key-0123".to_vec())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A `line.follow` / `line.unfollow` record as the webhook function writes it (signed),
/// decoded with the tests' record key.
pub fn line_event(event_type: &str, line: &str, t: i64, seq: u64) -> DecodedEvent {
    let client = format!("line:{line}");
    let event_id = format!("webhook-{seq}");
    let sig = audience_core::signature::sign_line_event(
        &record_key(),
        event_type,
        t,
        &client,
        line,
        &event_id,
    );
    let value = json!({
        "event_type": event_type, "event_timestamp": t, "arrival_timestamp": t,
        "client": {"client_id": client},
        "attributes": {"line_user_id": line, "webhook_event_id": event_id},
        "audience_stream_signature": sig,
    });
    let raw = RawRecord {
        id: RecordId::new("line-webhook", seq.to_string()),
        payload: Payload::Json(serde_json::to_vec(&value).unwrap_or_default()),
        arrival_ms: None,
    };
    let opts = DecodeOptions {
        record_key: Some(record_key()),
        ..DecodeOptions::default()
    };
    decode_record(&raw, &opts, clock()).unwrap_or_else(|e| panic!("{e}"))
}
