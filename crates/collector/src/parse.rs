//! A request body read into events (pure, no I/O): a Segment batch
//! (`{"batch": [...], "context": {...}}`), a single call object, or JSON Lines (one object a
//! line), chosen by the Content-Type (`application/x-ndjson`, `application/jsonl`) or by
//! shape. Each item becomes one stream record or one [`Rejection`] naming its index and
//! reason; nothing is dropped silently. A body that cannot be read at all is a [`BodyError`].
//!
//! Each accepted item gets the batch's top-level `context` keys it lacks (as Segment's HTTP API
//! merges them), the call type of a `/v1/<type>` path when it has no `type`, and `receivedAt`
//! (the collector's clock) when it has none; its size is judged as written to the stream.

use serde_json::{Map, Value};

use crate::limits::Limits;
use crate::partition::partition_key;

/// How the body was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `{"batch": [...]}`.
    Batch,
    /// One call object.
    Single,
    /// One JSON object a line.
    JsonLines,
}

impl BodyFormat {
    /// The name used in logs.
    pub fn name(self) -> &'static str {
        match self {
            BodyFormat::Batch => "batch",
            BodyFormat::Single => "single",
            BodyFormat::JsonLines => "jsonl",
        }
    }
}

/// One event ready for the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectedEvent {
    /// Its position in the request (batch index, or 0-based line number for JSON Lines).
    pub index: usize,
    /// The Kinesis partition key ([`crate::partition`]).
    pub partition_key: String,
    /// The event's JSON, as written to the stream.
    pub bytes: Vec<u8>,
}

/// An item not accepted, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    /// Its position in the request (batch index, or 0-based line number for JSON Lines).
    pub index: usize,
    /// Why.
    pub reason: String,
}

/// What a body held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// How it was read.
    pub format: BodyFormat,
    /// The events to write, in request order.
    pub events: Vec<CollectedEvent>,
    /// The items rejected one by one, in request order.
    pub rejected: Vec<Rejection>,
}

/// Why a whole body is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Over [`Limits::max_body_bytes`].
    #[error("the body is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Bytes received.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Over [`Limits::max_events`].
    #[error("the body holds {count} events, over the limit of {limit} a request")]
    TooManyEvents {
        /// Items in the body.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a batch, a call object or JSON Lines.
    #[error("{0}")]
    Malformed(String),
}

impl BodyError {
    /// The HTTP status for it: 413 for the limits, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge { .. } | BodyError::TooManyEvents { .. } => 413,
            BodyError::Malformed(_) => 400,
        }
    }
}

/// True for the JSON Lines media types (`application/x-ndjson`, `application/jsonl`,
/// `application/x-jsonlines`, `application/jsonlines`), parameters ignored.
pub fn is_json_lines_type(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        media.as_str(),
        "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonl"
            | "application/jsonlines"
            | "application/x-jsonlines"
    )
}

/// What every item is finished with.
struct Finish<'a> {
    limits: &'a Limits,
    received_at: &'a str,
    call_type: Option<&'a str>,
}

/// Reads `body`. `content_type` is the request's Content-Type; `call_type` the Segment call
/// type its path names (`/v1/track` → `track`), given to items without a `type`;
/// `received_at` the collector's clock (RFC 3339).
pub fn parse_body(
    body: &[u8],
    content_type: Option<&str>,
    call_type: Option<&str>,
    limits: &Limits,
    received_at: &str,
) -> Result<Parsed, BodyError> {
    if body.len() > limits.max_body_bytes {
        return Err(BodyError::TooLarge {
            size: body.len(),
            limit: limits.max_body_bytes,
        });
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Malformed("the body is empty".into()));
    }
    let finish = Finish {
        limits,
        received_at,
        call_type,
    };
    if content_type.is_some_and(is_json_lines_type) {
        return json_lines(body, &finish);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut call)) => match call.remove("batch") {
            Some(items) => batch(items, call.remove("context"), &finish),
            None => Ok(single(call, &finish)),
        },
        Ok(Value::Array(_)) => Err(BodyError::Malformed(
            "the body is a JSON array: send several events as {\"batch\": [...]} or as JSON Lines"
                .into(),
        )),
        Ok(other) => Err(BodyError::Malformed(format!(
            "the body is a JSON {}, not an object",
            kind_name(&other)
        ))),
        // Several lines, each of which may be JSON: read as JSON Lines.
        Err(_) if non_blank_lines(body).nth(1).is_some() => json_lines(body, &finish),
        Err(e) => Err(BodyError::Malformed(format!("the body is not JSON: {e}"))),
    }
}

fn batch(items: Value, context: Option<Value>, finish: &Finish) -> Result<Parsed, BodyError> {
    let Value::Array(items) = items else {
        return Err(BodyError::Malformed(format!(
            "`batch` is a JSON {}, not an array of events",
            kind_name(&items)
        )));
    };
    let context = match context {
        None | Some(Value::Null) => None,
        Some(Value::Object(c)) => Some(c),
        Some(other) => {
            return Err(BodyError::Malformed(format!(
                "the batch's `context` is a JSON {}, not an object",
                kind_name(&other)
            )))
        }
    };
    check_count(items.len(), finish.limits)?;
    let mut parsed = Parsed {
        format: BodyFormat::Batch,
        events: Vec::with_capacity(items.len()),
        rejected: Vec::new(),
    };
    for (index, item) in items.into_iter().enumerate() {
        parsed.push(finish_item(index, item, context.as_ref(), finish));
    }
    Ok(parsed)
}

fn single(call: Map<String, Value>, finish: &Finish) -> Parsed {
    let mut parsed = Parsed {
        format: BodyFormat::Single,
        events: Vec::with_capacity(1),
        rejected: Vec::new(),
    };
    parsed.push(finish_item(0, Value::Object(call), None, finish));
    parsed
}

/// Non-blank lines with their 0-based line numbers (a trailing `\r` removed).
fn non_blank_lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    body.split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, line)| (i, line.strip_suffix(b"\r").unwrap_or(line)))
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
}

fn json_lines(body: &[u8], finish: &Finish) -> Result<Parsed, BodyError> {
    check_count(non_blank_lines(body).count(), finish.limits)?;
    let mut parsed = Parsed {
        format: BodyFormat::JsonLines,
        events: Vec::new(),
        rejected: Vec::new(),
    };
    let mut any_json = false;
    let mut first_error = None;
    for (line_no, line) in non_blank_lines(body) {
        match serde_json::from_slice::<Value>(line) {
            Ok(item) => {
                any_json = true;
                parsed.push(finish_item(line_no, item, None, finish));
            }
            Err(e) => {
                let reason = format!("not JSON: {e}");
                first_error.get_or_insert_with(|| format!("line {}: {reason}", line_no + 1));
                parsed.rejected.push(Rejection {
                    index: line_no,
                    reason,
                });
            }
        }
    }
    if !any_json {
        return Err(BodyError::Malformed(format!(
            "the body is neither JSON nor JSON Lines ({})",
            first_error.unwrap_or_else(|| "no line".into())
        )));
    }
    Ok(parsed)
}

fn check_count(count: usize, limits: &Limits) -> Result<(), BodyError> {
    if count > limits.max_events {
        return Err(BodyError::TooManyEvents {
            count,
            limit: limits.max_events,
        });
    }
    Ok(())
}

impl Parsed {
    fn push(&mut self, item: Result<CollectedEvent, Rejection>) {
        match item {
            Ok(event) => self.events.push(event),
            Err(rejection) => self.rejected.push(rejection),
        }
    }
}

/// One item: an object, the context merged in, `type` and `receivedAt` added, within the size
/// limit.
fn finish_item(
    index: usize,
    item: Value,
    context: Option<&Map<String, Value>>,
    finish: &Finish,
) -> Result<CollectedEvent, Rejection> {
    let reject = |reason: String| Rejection { index, reason };
    let Value::Object(mut event) = item else {
        return Err(reject(format!(
            "not a JSON object (a {})",
            kind_name(&item)
        )));
    };
    if let Some(context) = context {
        merge_context(&mut event, context);
    }
    if let Some(call_type) = finish.call_type {
        if is_absent(event.get("type")) {
            event.insert("type".into(), Value::String(call_type.into()));
        }
    }
    if is_absent(event.get("receivedAt")) {
        event.insert(
            "receivedAt".into(),
            Value::String(finish.received_at.into()),
        );
    }
    let bytes = serde_json::to_vec(&event)
        .map_err(|e| reject(format!("cannot be written as JSON: {e}")))?;
    if bytes.len() > finish.limits.max_event_bytes {
        return Err(reject(format!(
            "the event is {} bytes, over the limit of {}",
            bytes.len(),
            finish.limits.max_event_bytes
        )));
    }
    Ok(CollectedEvent {
        index,
        partition_key: partition_key(&event, &bytes),
        bytes,
    })
}

/// Adds the batch context's keys the event's own `context` lacks (the event's values win). An
/// event whose `context` is not an object keeps it.
fn merge_context(event: &mut Map<String, Value>, context: &Map<String, Value>) {
    match event.get_mut("context") {
        None | Some(Value::Null) => {
            event.insert("context".into(), Value::Object(context.clone()));
        }
        Some(Value::Object(own)) => {
            for (key, value) in context {
                if !own.contains_key(key) {
                    own.insert(key.clone(), value.clone());
                }
            }
        }
        Some(_) => {}
    }
}

fn is_absent(value: Option<&Value>) -> bool {
    matches!(value, None | Some(Value::Null))
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
