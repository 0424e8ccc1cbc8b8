//! Any JSON event read through a mapping declared in the rules (`settings.input.mapping`):
//! JSON Pointer paths (RFC 6901, e.g. `/user/id`) to the user key, event type, time, event ID,
//! attributes, metrics and LINE user ID.
//!
//! ```yaml
//! settings:
//!   input:
//!     format: mapped
//!     mapping:
//!       user_id: /user/id            # or anonymous_id, or both (then they are linked)
//!       event_type: /name            # or event_type_value: purchase
//!       time: /ts                    # time_format: auto | epoch_ms | epoch_s | rfc3339
//!       event_id: /id                # optional: a re-sent event with the same ID counts once
//!       attributes: { plan: /props/plan }
//!       metrics: { _item_price: /props/price }
//!       user_attributes: { pref: /user/pref }
//!       line_user_id: /user/line_id  # stored as the line_user_id_attribute user attribute
//! ```
//!
//! Paths that are absent in a record leave that value out; only the user key (one of
//! `user_id`, `anonymous_id`), the event type and the time are required. User attributes go to
//! the user and to its endpoint, so `user_attribute` and `endpoint_attribute` conditions both
//! read them.

use super::value::{
    attribute_values, id_text, instant_ms, profile_endpoint, scalar_text, wrong_type, TimeFormat,
};
use crate::decode::DecodeErrorKind;
use crate::event::{ListMap, PinpointEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `settings.input.mapping`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventMapping {
    /// The app's user ID.
    #[serde(default)]
    pub user_id: Option<String>,
    /// An anonymous or device ID, keyed as an endpoint ID (linked to `user_id` when both).
    #[serde(default)]
    pub anonymous_id: Option<String>,
    /// The event type's path.
    #[serde(default)]
    pub event_type: Option<String>,
    /// One event type for every record (instead of `event_type`).
    #[serde(default)]
    pub event_type_value: Option<String>,
    /// The event time's path.
    pub time: String,
    /// How the time is written (default `auto`).
    #[serde(default)]
    pub time_format: TimeFormat,
    /// The arrival time's path (optional; otherwise the Kinesis arrival).
    #[serde(default)]
    pub arrival_time: Option<String>,
    /// A producer's event ID: the event's identity for exactly-once counting.
    #[serde(default)]
    pub event_id: Option<String>,
    /// Event attributes: name → path of a string, number or boolean.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Event metrics: name → path of a number.
    #[serde(default)]
    pub metrics: BTreeMap<String, String>,
    /// User attributes: name → path of a scalar or an array of scalars.
    #[serde(default)]
    pub user_attributes: BTreeMap<String, String>,
    /// The LINE user ID's path; it is stored as the `line_user_id_attribute` user attribute
    /// (trusted when `user_attribute` is among `line_user_id_sources`).
    #[serde(default)]
    pub line_user_id: Option<String>,
}

impl EventMapping {
    /// Checks paths and required fields; the message names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.user_id.is_none() && self.anonymous_id.is_none() {
            return Err("declare `user_id` or `anonymous_id` (or both)".to_string());
        }
        match (&self.event_type, &self.event_type_value) {
            (Some(_), Some(_)) => {
                return Err("declare `event_type` (a path) or `event_type_value`, not both".into())
            }
            (None, None) => {
                return Err("declare `event_type` (a path) or `event_type_value`".into())
            }
            (None, Some(v)) if v.trim().is_empty() => {
                return Err("`event_type_value` is empty".into())
            }
            _ => {}
        }
        let single = [
            ("user_id", self.user_id.as_ref()),
            ("anonymous_id", self.anonymous_id.as_ref()),
            ("event_type", self.event_type.as_ref()),
            ("time", Some(&self.time)),
            ("arrival_time", self.arrival_time.as_ref()),
            ("event_id", self.event_id.as_ref()),
            ("line_user_id", self.line_user_id.as_ref()),
        ];
        for (field, path) in single {
            if let Some(p) = path {
                check_pointer(p).map_err(|m| format!("`{field}`: {m}"))?;
            }
        }
        let maps = [
            ("attributes", &self.attributes),
            ("metrics", &self.metrics),
            ("user_attributes", &self.user_attributes),
        ];
        for (field, map) in maps {
            for (name, p) in map {
                if name.is_empty() {
                    return Err(format!("`{field}` holds an empty name"));
                }
                check_pointer(p).map_err(|m| format!("`{field}.{name}`: {m}"))?;
            }
        }
        Ok(())
    }

    /// Reads one JSON event through the mapping; a LINE user ID is stored as the user
    /// attribute `line_attribute` (the rules' `line_user_id_attribute`).
    pub fn to_event(
        &self,
        doc: &Value,
        line_attribute: &str,
    ) -> Result<PinpointEvent, DecodeErrorKind> {
        if !doc.is_object() {
            return Err(wrong_type(".", "an object", doc));
        }
        let at = |p: &Option<String>| p.as_deref().and_then(|p| doc.pointer(p));
        let user_id = id_text(at(&self.user_id), self.user_id.as_deref().unwrap_or(""))?;
        let anonymous_id = id_text(
            at(&self.anonymous_id),
            self.anonymous_id.as_deref().unwrap_or(""),
        )?;
        let event_type = match (&self.event_type, &self.event_type_value) {
            (Some(path), _) => match doc.pointer(path).and_then(scalar_text) {
                Some(t) if !t.trim().is_empty() => t,
                Some(_) => return Err(wrong_type(path, "a non-empty event type", &Value::Null)),
                None => {
                    let found = doc.pointer(path).unwrap_or(&Value::Null);
                    return Err(wrong_type(path, "an event type", found));
                }
            },
            (None, Some(value)) => value.clone(),
            (None, None) => return Err(wrong_type("event_type", "a mapping", &Value::Null)),
        };
        let event_timestamp = match doc.pointer(&self.time) {
            Some(v) if !v.is_null() => instant_ms(v, self.time_format, &self.time)?,
            _ => return Err(wrong_type(&self.time, "the event time", &Value::Null)),
        };
        let arrival_timestamp = match at(&self.arrival_time).filter(|v| !v.is_null()) {
            Some(v) => Some(instant_ms(
                v,
                self.time_format,
                self.arrival_time.as_deref().unwrap_or(""),
            )?),
            None => None,
        };
        let mut attributes = BTreeMap::new();
        for (name, path) in &self.attributes {
            if let Some(text) = doc.pointer(path).and_then(scalar_text) {
                attributes.insert(name.clone(), text);
            }
        }
        let mut metrics = BTreeMap::new();
        for (name, path) in &self.metrics {
            match doc.pointer(path) {
                None | Some(Value::Null) => {}
                Some(Value::Number(n)) => {
                    metrics.insert(name.clone(), n.as_f64().unwrap_or(f64::NAN));
                }
                Some(other) => return Err(wrong_type(path, "a number", other)),
            }
        }
        let mut traits = ListMap::new();
        for (name, path) in &self.user_attributes {
            if let Some(values) = doc.pointer(path).and_then(attribute_values) {
                traits.insert(name.clone(), values);
            }
        }
        if let Some(line) = at(&self.line_user_id).and_then(scalar_text) {
            traits.insert(line_attribute.to_string(), vec![line]);
        }
        Ok(PinpointEvent {
            event_type,
            event_timestamp,
            arrival_timestamp,
            attributes,
            metrics,
            endpoint: Some(profile_endpoint(user_id, anonymous_id, traits)),
            event_id: at(&self.event_id)
                .and_then(scalar_text)
                .filter(|s| !s.is_empty()),
            ..PinpointEvent::default()
        })
    }
}

/// A JSON Pointer (RFC 6901): empty (the whole document) is refused, otherwise it starts with
/// `/`, and `~` is only followed by `0` or `1`.
fn check_pointer(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!(
            "`{p}` is not a JSON Pointer (it starts with `/`, e.g. `/user/id`)"
        ));
    }
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.peek(), Some('0') | Some('1')) {
            return Err(format!("`{p}`: `~` must be followed by 0 or 1 (RFC 6901)"));
        }
    }
    Ok(())
}
