//! Reading JSON values the way every input format needs: scalars as text, attribute lists,
//! numbers for metrics and instants (epoch ms, epoch s or RFC 3339) as epoch milliseconds.

use crate::decode::DecodeErrorKind;
use crate::event::{Endpoint, EndpointUser, ListMap};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A string, number or boolean as text; `None` for null, objects and arrays.
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An attribute's values: one scalar, or an array of scalars (other members skipped).
pub(crate) fn attribute_values(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Array(items) => {
            let values: Vec<String> = items.iter().filter_map(scalar_text).collect();
            (!values.is_empty()).then_some(values)
        }
        other => scalar_text(other).map(|s| vec![s]),
    }
}

/// A user or anonymous ID: a non-empty string, or a number as its text.
pub(crate) fn id_text(v: Option<&Value>, field: &str) -> Result<Option<String>, DecodeErrorKind> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok((!s.trim().is_empty()).then(|| s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(wrong_type(field, "a string", other)),
    }
}

/// How an instant is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// Numbers: epoch seconds below 1e11, epoch milliseconds from it; strings: RFC 3339.
    #[default]
    Auto,
    /// Epoch milliseconds.
    EpochMs,
    /// Epoch seconds (fractions kept to the millisecond).
    EpochS,
    /// An RFC 3339 / ISO 8601 date-time with an offset (`2026-12-07T09:00:00+09:00`).
    Rfc3339,
}

/// Epoch seconds below this are read as seconds under [`TimeFormat::Auto`] (1e11 s is the
/// year 5138; 1e11 ms is 1973).
const SECONDS_BELOW: f64 = 1e11;

/// Reads an instant as epoch milliseconds.
pub(crate) fn instant_ms(
    v: &Value,
    format: TimeFormat,
    field: &str,
) -> Result<i64, DecodeErrorKind> {
    let from_number = |n: f64, seconds: bool| -> Result<i64, DecodeErrorKind> {
        let ms = if seconds { n * 1000.0 } else { n };
        // A finite value within ±2^53 ms converts exactly enough; beyond it is absurd anyway.
        if ms.is_finite() && ms.abs() < 9.0e15 {
            Ok(ms.round() as i64)
        } else {
            Err(DecodeErrorKind::ValueOutOfRange {
                field: field.to_string(),
                value: n.to_string(),
                limit: 9.0e15,
            })
        }
    };
    match (v, format) {
        (Value::Number(n), TimeFormat::Auto | TimeFormat::EpochMs | TimeFormat::EpochS) => {
            let n = n.as_f64().unwrap_or(f64::NAN);
            let seconds = match format {
                TimeFormat::EpochS => true,
                TimeFormat::EpochMs => false,
                _ => n.abs() < SECONDS_BELOW,
            };
            from_number(n, seconds)
        }
        (Value::String(s), TimeFormat::Auto | TimeFormat::Rfc3339) => {
            let t = OffsetDateTime::parse(s.trim(), &Rfc3339).map_err(|e| {
                DecodeErrorKind::WrongType {
                    field: field.to_string(),
                    message: format!("`{}` is not an RFC 3339 date-time: {e}", clip(s)),
                }
            })?;
            i64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|_| {
                DecodeErrorKind::ValueOutOfRange {
                    field: field.to_string(),
                    value: clip(s),
                    limit: 9.0e15,
                }
            })
        }
        (other, TimeFormat::Rfc3339) => Err(wrong_type(field, "an RFC 3339 string", other)),
        (other, _) => Err(wrong_type(
            field,
            "a time (number or RFC 3339 string)",
            other,
        )),
    }
}

/// A `wrong_type` error naming the field, what was expected and what was found.
pub(crate) fn wrong_type(field: &str, expected: &str, found: &Value) -> DecodeErrorKind {
    let kind = match found {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    DecodeErrorKind::WrongType {
        field: field.to_string(),
        message: format!("expected {expected}, found {kind}"),
    }
}

/// At most 64 characters of a value, for error messages.
fn clip(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The endpoint a non-Pinpoint event stands for: the anonymous ID as the endpoint ID, the user
/// ID as its user, and the traits as both the user's and the endpoint's attributes (so
/// `user_attribute` and `endpoint_attribute` conditions both read them).
pub(crate) fn profile_endpoint(
    user_id: Option<String>,
    anonymous_id: Option<String>,
    traits: ListMap,
) -> Endpoint {
    Endpoint {
        id: anonymous_id,
        attributes: traits.clone(),
        user: Some(EndpointUser {
            user_id,
            user_attributes: traits,
        }),
        ..Endpoint::default()
    }
}
