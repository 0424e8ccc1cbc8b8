//! User-attribute rows — the export shape of the original LINE-audience article,
//! `{"id": "123", "pref": "兵庫県"}` — and how one row becomes an `_import.attributes` event,
//! so attribute files loaded by `replay` and by the S3 attribute loader in AWS go through the
//! same decoding and apply as every other event.
//!
//! A [`RowMapping`] says which column names the user and what it holds (an app user ID or a
//! LINE user ID), which column holds a LINE user ID and which an endpoint ID; every other
//! column becomes an endpoint attribute (lists kept, scalars as text).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::time::Millis;

/// Whose ID an attribute file's ID column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// An app user ID (`User.UserId`).
    #[default]
    User,
    /// A LINE user ID (`U` + 32 hex): the row's user is keyed by it and it is their LINE ID,
    /// so rows like `{"id": "U…", "pref": "兵庫県"}` build LINE audiences.
    Line,
}

impl std::str::FromStr for IdKind {
    type Err = String;
    fn from_str(s: &str) -> Result<IdKind, String> {
        match s {
            "user" => Ok(IdKind::User),
            "line" => Ok(IdKind::Line),
            other => Err(format!("`{other}` is not an ID kind (user or line)")),
        }
    }
}

/// How one attribute row becomes an `_import.attributes` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowMapping {
    /// The column naming the user.
    pub id_column: String,
    /// What that column holds.
    pub id_kind: IdKind,
    /// The column holding a LINE user ID.
    pub line_user_id_column: String,
    /// The column holding an endpoint ID.
    pub endpoint_id_column: String,
    /// The user attribute the rules read the LINE user ID from.
    pub line_attr: String,
}

impl RowMapping {
    /// The default columns (`id`, `endpointId`, the LINE attribute itself) for rules whose
    /// LINE user ID attribute is `line_attr`.
    pub fn new(line_attr: &str) -> RowMapping {
        RowMapping {
            id_column: "id".into(),
            id_kind: IdKind::User,
            line_user_id_column: line_attr.to_string(),
            endpoint_id_column: "endpointId".into(),
            line_attr: line_attr.to_string(),
        }
    }
}

/// One line of an attribute file as read: a JSON object, or why it is not one.
pub fn parse_row(line: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(row)) => Ok(row),
        Ok(other) => Err(format!(
            "an attribute row must be a JSON object, not {}",
            json_kind(&other)
        )),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

/// The row's user ID as text (`None` when the ID column is missing, empty or not a scalar).
pub fn row_user_id(row: &Map<String, Value>, mapping: &RowMapping) -> Option<String> {
    row.get(&mapping.id_column)
        .and_then(text)
        .filter(|s| !s.is_empty())
}

/// The `_import.attributes` event (JSON) for `row` at time `at`. The ID column names the user
/// (with [`IdKind::Line`] the LINE user ID is the user key and the user's LINE ID); the LINE
/// user ID column goes to the user attribute the rules read it from; the endpoint ID column
/// links an endpoint; every other field becomes an endpoint attribute.
pub fn row_event(row: Map<String, Value>, at: Millis, mapping: &RowMapping) -> Vec<u8> {
    let mut attrs = Map::new();
    let mut user_attrs = Map::new();
    let mut user_id = Value::Null;
    let mut endpoint_id = Value::Null;
    for (k, v) in row {
        if k == mapping.id_column {
            user_id = text(&v).map(Value::String).unwrap_or(Value::Null);
            if mapping.id_kind == IdKind::Line && !user_id.is_null() {
                user_attrs.insert(
                    mapping.line_attr.clone(),
                    Value::Array(vec![user_id.clone()]),
                );
            }
            continue;
        }
        if k == mapping.endpoint_id_column {
            endpoint_id = text(&v).map(Value::String).unwrap_or(Value::Null);
            continue;
        }
        let values: Vec<Value> = match &v {
            Value::Array(a) => a.iter().filter_map(text).map(Value::String).collect(),
            other => text(other).map(Value::String).into_iter().collect(),
        };
        if k == mapping.line_user_id_column || k == mapping.line_attr {
            // The ID column of a LINE-keyed file wins over a second LINE column.
            if !(mapping.id_kind == IdKind::Line && user_attrs.contains_key(&mapping.line_attr)) {
                user_attrs.insert(mapping.line_attr.clone(), Value::Array(values));
            }
        } else {
            attrs.insert(k, Value::Array(values));
        }
    }
    let event = json!({
        "event_type": "_import.attributes",
        "event_timestamp": at,
        "endpoint": {
            "Id": endpoint_id,
            "Attributes": attrs,
            "User": {"UserId": user_id, "UserAttributes": user_attrs}
        }
    });
    event.to_string().into_bytes()
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn event(v: Value, mapping: &RowMapping) -> Value {
        serde_json::from_slice(&row_event(row(v), 1_000, mapping)).unwrap_or(Value::Null)
    }

    #[test]
    fn app_user_rows_keep_other_columns_as_endpoint_attributes() {
        let e = event(
            json!({"id": 123, "pref": "兵庫県", "tags": ["a", 1, null]}),
            &RowMapping::new("lineUserId"),
        );
        assert_eq!(e["event_type"], "_import.attributes");
        assert_eq!(e["event_timestamp"], 1_000);
        assert_eq!(e["endpoint"]["User"]["UserId"], "123");
        assert_eq!(e["endpoint"]["Attributes"]["pref"], json!(["兵庫県"]));
        assert_eq!(e["endpoint"]["Attributes"]["tags"], json!(["a", "1"]));
    }

    #[test]
    fn line_keyed_rows_set_the_line_attribute() {
        let mapping = RowMapping {
            id_kind: IdKind::Line,
            ..RowMapping::new("lineUserId")
        };
        let id = format!("U{}", "a".repeat(32));
        let e = event(json!({"id": id, "lineUserId": "Uother"}), &mapping);
        assert_eq!(e["endpoint"]["User"]["UserId"], json!(id));
        assert_eq!(
            e["endpoint"]["User"]["UserAttributes"]["lineUserId"],
            json!([id])
        );
    }

    #[test]
    fn rows_that_are_not_objects_say_what_they_are() {
        assert!(parse_row(b"[1,2]").unwrap_err().contains("an array"));
        assert!(parse_row(b"{oops").unwrap_err().starts_with("not JSON"));
        assert!(parse_row(br#"{"id":"1"}"#).is_ok());
    }

    #[test]
    fn user_id_is_missing_when_empty_or_not_a_scalar() {
        let m = RowMapping::new("lineUserId");
        assert_eq!(row_user_id(&row(json!({"id": ""})), &m), None);
        assert_eq!(row_user_id(&row(json!({"id": {"x": 1}})), &m), None);
        assert_eq!(
            row_user_id(&row(json!({"id": 7})), &m).as_deref(),
            Some("7")
        );
    }
}
