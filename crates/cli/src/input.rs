//! Reading replay input files and detecting their format: Lambda Kinesis events, JSON Lines
//! of raw Pinpoint events, or JSON Lines of user-attribute rows (the export shape of the original LINE-audience article: `{"id": …, "pref": …}`).
//!
//! A file that cannot be read at all is an error naming the file. A bad record or line inside
//! a readable file is not: it becomes a record that decoding sets aside, named by file and
//! line (or shard and sequence number).

use anyhow::{bail, Context, Result};
use audience_core::{Millis, Payload, RawRecord, RecordId};
use serde_json::{json, Map, Value};
use std::path::Path;

/// An input file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// A Lambda Kinesis event: {"Records":[{"kinesis":{"data":"<Base64>",...},...}]}.
    Kinesis,
    /// JSON Lines, one raw Pinpoint event per line.
    Events,
    /// JSON Lines of user-attribute rows: {"id":"123","pref":"兵庫県"}.
    Attributes,
}

/// One input file's records.
pub struct InputFile {
    /// Detected or forced format.
    pub format: Format,
    /// Records in file order. Attribute rows are kept as JSON until `now` is known.
    pub records: Vec<InputRecord>,
}

/// A record of an input file.
pub enum InputRecord {
    /// A record ready to decode.
    Raw(RawRecord),
    /// A user-attribute row (line number, parsed row or the raw line if it is not JSON).
    Row(RecordId, Result<Map<String, Value>, String>),
}

/// Reads a file, detecting its format unless `forced`.
pub fn read_input(path: &Path, forced: Option<Format>) -> Result<InputFile> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read input file {}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let format = match forced {
        Some(f) => f,
        None => detect(&text)
            .with_context(|| format!("cannot tell the format of {}", path.display()))?,
    };
    let records = match format {
        Format::Kinesis => kinesis_records(&text)
            .with_context(|| format!("{} is not a Lambda Kinesis event", path.display()))?,
        Format::Events => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| {
                InputRecord::Raw(RawRecord {
                    id: RecordId::new(format!("file:{name}"), (n + 1).to_string()),
                    payload: Payload::Json(l.as_bytes().to_vec()),
                    arrival_ms: None,
                })
            })
            .collect(),
        Format::Attributes => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| {
                let id = RecordId::new(format!("file:{name}"), (n + 1).to_string());
                let row = match serde_json::from_str::<Value>(l) {
                    Ok(Value::Object(m)) => Ok(m),
                    _ => Err(l.to_string()),
                };
                InputRecord::Row(id, row)
            })
            .collect(),
    };
    Ok(InputFile { format, records })
}

fn detect(text: &str) -> Result<Format> {
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        bail!("the file is empty");
    }
    if trimmed.starts_with('{') {
        if let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(trimmed) {
            if obj.contains_key("Records") {
                return Ok(Format::Kinesis);
            }
        }
    }
    let first = trimmed.lines().next().unwrap_or("");
    match serde_json::from_str::<Value>(first) {
        Ok(Value::Object(obj)) if obj.contains_key("event_type") => Ok(Format::Events),
        Ok(Value::Object(obj)) if obj.contains_key("id") => Ok(Format::Attributes),
        Ok(_) => bail!("the first line is JSON but neither a Pinpoint event (event_type) nor a user-attribute row (id); use --format"),
        Err(_) => Ok(Format::Events),
    }
}

fn kinesis_records(text: &str) -> Result<Vec<InputRecord>> {
    let doc: Value = serde_json::from_str(text).context("not JSON")?;
    let records = doc
        .get("Records")
        .and_then(Value::as_array)
        .context("no `Records` array")?;
    let mut out = Vec::with_capacity(records.len());
    for (i, rec) in records.iter().enumerate() {
        let kinesis = rec.get("kinesis");
        let seq = kinesis
            .and_then(|k| k.get("sequenceNumber"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("record-{i}"));
        let shard = rec
            .get("eventID")
            .and_then(Value::as_str)
            .and_then(|id| id.split_once(':').map(|(s, _)| s.to_string()))
            .unwrap_or_else(|| "shardId-unknown".to_string());
        let data = kinesis
            .and_then(|k| k.get("data"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let arrival = kinesis
            .and_then(|k| k.get("approximateArrivalTimestamp"))
            .and_then(Value::as_f64)
            .map(|s| (s * 1000.0).round() as Millis);
        out.push(InputRecord::Raw(RawRecord {
            id: RecordId::new(shard, seq),
            payload: Payload::Base64(data.to_string()),
            arrival_ms: arrival,
        }));
    }
    Ok(out)
}

/// Turns a user-attribute row into an `_import.attributes` event at time `at`: `id` names the
/// user, the LINE attribute goes to user attributes, `endpointId` links an endpoint, every
/// other field becomes an endpoint attribute (lists kept, scalars as text).
pub fn row_to_record(
    id: RecordId,
    row: Result<Map<String, Value>, String>,
    at: Millis,
    line_attr: &str,
) -> RawRecord {
    let payload = match row {
        Err(line) => Payload::Json(line.into_bytes()),
        Ok(row) => {
            let mut attrs = Map::new();
            let mut user_attrs = Map::new();
            let mut user_id = Value::Null;
            let mut endpoint_id = Value::Null;
            for (k, v) in row {
                match k.as_str() {
                    "id" => user_id = text(&v).map(Value::String).unwrap_or(Value::Null),
                    "endpointId" => {
                        endpoint_id = text(&v).map(Value::String).unwrap_or(Value::Null)
                    }
                    _ => {
                        let values: Vec<Value> = match &v {
                            Value::Array(a) => {
                                a.iter().filter_map(text).map(Value::String).collect()
                            }
                            other => text(other).map(Value::String).into_iter().collect(),
                        };
                        if k == line_attr {
                            user_attrs.insert(k, Value::Array(values));
                        } else {
                            attrs.insert(k, Value::Array(values));
                        }
                    }
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
            Payload::Json(event.to_string().into_bytes())
        }
    };
    RawRecord {
        id,
        payload,
        arrival_ms: None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
