//! Helpers shared by the core's integration tests: event builders and a small rules file.

#![allow(dead_code)]

use audience_core::record::{Payload, RawRecord, RecordId};
use audience_core::{decode_record, DecodeOptions, DecodedEvent, Rules};
use serde_json::{json, Value};

pub const DAY: i64 = 86_400_000;
/// 2025-12-01T00:00:00Z
pub const NOW: i64 = 1_764_547_200_000;

pub fn rules(yaml: &str) -> Rules {
    Rules::load(yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"))
}

/// An app event for `user` with endpoint attributes.
pub fn app_event(user: &str, event_type: &str, t: i64) -> Value {
    json!({
        "event_type": event_type,
        "event_timestamp": t,
        "arrival_timestamp": t + 1000,
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
    decode_record(&raw, &DecodeOptions::default()).unwrap()
}
