//! Segment-spec calls (the track/identify format Segment, RudderStack and Jitsu share) read
//! into the event model.
//!
//! | Segment | event model |
//! |---|---|
//! | `userId` | `endpoint.User.UserId` (user key `user_id`) |
//! | `anonymousId` (`alias`: `previousId`) | `endpoint.Id` (user key `endpoint_id`; linked to `userId` when both are present, as an endpoint is linked to its user) |
//! | `track`'s `event` | `event_type` |
//! | `identify`, `alias`, `page`, `screen` | `event_type` `_identify`, `_alias`, `_page`, `_screen` (`identify` and `alias` update the profile and do not count as activity) |
//! | `properties` | strings and booleans → event attributes, numbers → event metrics (`page`/`screen` `name` → attribute `name`) |
//! | `traits` (identify) and `context.traits` | user attributes, and the endpoint's too, so `user_attribute` and `endpoint_attribute` conditions both read them |
//! | `timestamp` (else `originalTimestamp`, `sentAt`, `receivedAt`) | `event_timestamp` |
//! | `receivedAt` | `arrival_timestamp` |
//! | `messageId` | the event's identity: a call re-sent with the same `messageId` is counted once |
//!
//! Nested objects inside `properties` and `traits` are not read (declare a mapping for them).

use super::value::{
    attribute_values, id_text, instant_ms, profile_endpoint, scalar_text, wrong_type, TimeFormat,
};
use crate::decode::DecodeErrorKind;
use crate::event::{ListMap, PinpointEvent};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The Segment calls read.
pub const CALLS: [&str; 5] = ["track", "identify", "page", "screen", "alias"];

/// Whether a document is a Segment call this decoder reads (its `type` names one).
pub fn is_segment_call(doc: &Value) -> bool {
    doc.get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| CALLS.contains(&t))
}

/// Reads one Segment call.
pub fn to_event(doc: &Value) -> Result<PinpointEvent, DecodeErrorKind> {
    let Some(obj) = doc.as_object() else {
        return Err(wrong_type(".", "an object", doc));
    };
    let call = match obj.get("type") {
        Some(Value::String(t)) if CALLS.contains(&t.as_str()) => t.as_str(),
        Some(Value::String(t)) => {
            return Err(DecodeErrorKind::WrongType {
                field: "type".to_string(),
                message: format!("`{t}` calls are not read (only {} are)", CALLS.join(", ")),
            })
        }
        Some(other) => return Err(wrong_type("type", "a string", other)),
        None => return Err(wrong_type("type", "a Segment call type", &Value::Null)),
    };
    let event_type = match call {
        "track" => match obj.get("event") {
            Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
            Some(other) => return Err(wrong_type("event", "a non-empty event name", other)),
            None => {
                return Err(wrong_type(
                    "event",
                    "a track call's event name",
                    &Value::Null,
                ))
            }
        },
        other => format!("_{other}"),
    };
    let user_id = id_text(obj.get("userId"), "userId")?;
    let anonymous_field = if call == "alias" {
        "previousId"
    } else {
        "anonymousId"
    };
    let anonymous_id = id_text(obj.get(anonymous_field), anonymous_field)?;
    let event_timestamp = event_time(obj)?;
    let arrival_timestamp = match obj.get("receivedAt") {
        Some(v) if !v.is_null() => Some(instant_ms(v, TimeFormat::Auto, "receivedAt")?),
        _ => None,
    };
    let mut attributes = BTreeMap::new();
    let mut metrics = BTreeMap::new();
    if let Some(props) = obj.get("properties") {
        read_properties(props, &mut attributes, &mut metrics)?;
    }
    if matches!(call, "page" | "screen") {
        if let Some(name) = obj.get("name").and_then(scalar_text) {
            attributes.insert("name".to_string(), name);
        }
    }
    let mut traits = ListMap::new();
    if let Some(t) = obj.get("context").and_then(|c| c.get("traits")) {
        read_traits(t, "context.traits", &mut traits)?;
    }
    if let Some(t) = obj.get("traits") {
        read_traits(t, "traits", &mut traits)?;
    }
    let event_id = match obj.get("messageId") {
        Some(v) => scalar_text(v).filter(|s| !s.is_empty()),
        None => None,
    };
    Ok(PinpointEvent {
        event_type,
        event_timestamp,
        arrival_timestamp,
        attributes,
        metrics,
        endpoint: Some(profile_endpoint(user_id, anonymous_id, traits)),
        event_id,
        ..PinpointEvent::default()
    })
}

/// The call's time: `timestamp`, else `originalTimestamp`, `sentAt`, `receivedAt`.
fn event_time(obj: &Map<String, Value>) -> Result<i64, DecodeErrorKind> {
    for field in ["timestamp", "originalTimestamp", "sentAt", "receivedAt"] {
        if let Some(v) = obj.get(field).filter(|v| !v.is_null()) {
            return instant_ms(v, TimeFormat::Auto, field);
        }
    }
    Err(wrong_type(
        "timestamp",
        "a time (timestamp, originalTimestamp, sentAt or receivedAt)",
        &Value::Null,
    ))
}

fn read_properties(
    props: &Value,
    attributes: &mut BTreeMap<String, String>,
    metrics: &mut BTreeMap<String, f64>,
) -> Result<(), DecodeErrorKind> {
    let map = match props {
        Value::Null => return Ok(()),
        Value::Object(map) => map,
        other => return Err(wrong_type("properties", "an object", other)),
    };
    for (name, v) in map {
        match v {
            Value::Number(n) => {
                metrics.insert(name.clone(), n.as_f64().unwrap_or(f64::NAN));
            }
            other => {
                if let Some(text) = scalar_text(other) {
                    attributes.insert(name.clone(), text);
                }
            }
        }
    }
    Ok(())
}

fn read_traits(traits: &Value, field: &str, out: &mut ListMap) -> Result<(), DecodeErrorKind> {
    let map = match traits {
        Value::Null => return Ok(()),
        Value::Object(map) => map,
        other => return Err(wrong_type(field, "an object", other)),
    };
    for (name, v) in map {
        if let Some(values) = attribute_values(v) {
            out.insert(name.clone(), values);
        }
    }
    Ok(())
}
