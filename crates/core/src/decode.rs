//! Record decoding: Base64 → UTF-8 → JSON → [`PinpointEvent`] → user key.
//!
//! Decoding never panics and never fails a batch: each failure is a [`DecodeError`] naming the
//! record and the cause, so the caller can set the record aside and go on.

use crate::event::{Endpoint, PinpointEvent};
use crate::record::{Payload, RawRecord, RecordId};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which field names the user, tried in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyField {
    /// `endpoint.User.UserId`
    UserId,
    /// `endpoint.Id`
    EndpointId,
    /// `client.client_id`
    ClientId,
}

/// Decoding limits and choices.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeOptions {
    /// Largest accepted decoded event, in bytes (default 1 MiB).
    pub max_bytes: usize,
    /// Deepest JSON nesting reported as such when a record fails to parse (default 64);
    /// subtrees the event model does not read are skipped without recursion.
    pub max_depth: usize,
    /// User-key fields, tried in order (default user ID, endpoint ID, client ID).
    pub key_order: Vec<KeyField>,
    /// The user attribute holding the LINE user ID (default `lineUserId`).
    pub line_user_id_attribute: String,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_bytes: 1 << 20,
            max_depth: 64,
            key_order: vec![KeyField::UserId, KeyField::EndpointId, KeyField::ClientId],
            line_user_id_attribute: "lineUserId".to_string(),
        }
    }
}

/// Whose event this is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UserKey {
    /// The key value.
    pub id: String,
    /// Which field it came from.
    pub field: KeyField,
}

impl UserKey {
    /// True when the key is an endpoint or client ID, which a known link may map to a user.
    pub fn is_endpoint(&self) -> bool {
        self.field != KeyField::UserId
    }
}

impl PartialOrd for KeyField {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KeyField {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (*self as u8).cmp(&(*other as u8))
    }
}

/// A decoded record, ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedEvent {
    /// Where it came from.
    pub record: RecordId,
    /// Whose it is.
    pub key: UserKey,
    /// The event, with a campaign/journey endpoint string already decoded into `endpoint`.
    pub event: PinpointEvent,
    /// Kinesis arrival time, epoch ms, when known.
    pub arrival_ms: Option<i64>,
}

impl DecodedEvent {
    /// The identity links this event shows: endpoint ID → user, and `line:<LINE user ID>` →
    /// user when the user attributes carry a valid LINE ID under `line_attr`.
    pub fn links(&self, line_attr: &str) -> Vec<(String, String)> {
        let Some(endpoint) = self.event.endpoint.as_ref() else {
            return Vec::new();
        };
        let Some(user) = endpoint.user.as_ref() else {
            return Vec::new();
        };
        let Some(user_id) = user.user_id.as_deref().filter(|u| !u.is_empty()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(id) = endpoint
            .id
            .as_deref()
            .filter(|id| !id.is_empty() && *id != user_id)
        {
            out.push((id.to_string(), user_id.to_string()));
        }
        if let Some(line) = user
            .user_attributes
            .get(line_attr)
            .and_then(|v| v.iter().find(|l| is_line_user_id(l)))
        {
            out.push((format!("{LINE_KEY_PREFIX}{line}"), user_id.to_string()));
        }
        out
    }
}

/// Prefix of the identity key of a LINE user ID (webhook events are keyed `line:U…`).
pub const LINE_KEY_PREFIX: &str = "line:";

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// `data` is not standard Base64.
    #[error("data is not Base64: {0}")]
    NotBase64(String),
    /// The bytes are not UTF-8.
    #[error("data is not UTF-8 (invalid byte at offset {0})")]
    NotUtf8(usize),
    /// The text is not JSON.
    #[error("data is not JSON: {0}")]
    NotJson(String),
    /// The JSON is not an object.
    #[error("event is JSON {0}, not an object")]
    NotObject(&'static str),
    /// A known field has the wrong type.
    #[error("field `{field}` has the wrong type: {message}")]
    WrongType {
        /// The JSON path of the field.
        field: String,
        /// What serde said.
        message: String,
    },
    /// No configured user-key field is present.
    #[error("no user key: none of {0} is present")]
    NoUserKey(String),
    /// The decoded event is larger than the limit.
    #[error("decoded size {size} bytes is over the {limit}-byte limit")]
    TooLarge {
        /// Decoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The JSON nests deeper than the limit.
    #[error("JSON nests deeper than {0} levels")]
    TooDeep(usize),
}

impl DecodeErrorKind {
    /// A short stable reason code (`not_base64`, `not_json`, …) for counting and dead letters.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeErrorKind::NotBase64(_) => "not_base64",
            DecodeErrorKind::NotUtf8(_) => "not_utf8",
            DecodeErrorKind::NotJson(_) => "not_json",
            DecodeErrorKind::NotObject(_) => "not_object",
            DecodeErrorKind::WrongType { .. } => "wrong_type",
            DecodeErrorKind::NoUserKey(_) => "no_user_key",
            DecodeErrorKind::TooLarge { .. } => "too_large",
            DecodeErrorKind::TooDeep(_) => "too_deep",
        }
    }
}

/// A record that could not be decoded, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    /// The record.
    pub record: RecordId,
    /// The cause.
    pub kind: DecodeErrorKind,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {}: {}", self.record, self.kind)
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one raw record.
pub fn decode_record(raw: &RawRecord, opts: &DecodeOptions) -> Result<DecodedEvent, DecodeError> {
    let fail = |kind| DecodeError {
        record: raw.id.clone(),
        kind,
    };
    let bytes: std::borrow::Cow<'_, [u8]> = match &raw.payload {
        Payload::Base64(text) => {
            // Base64 of N bytes is 4*ceil(N/3) characters: refuse oversize input before decoding.
            let approx = text.len() / 4 * 3;
            if approx > opts.max_bytes + 3 {
                return Err(fail(DecodeErrorKind::TooLarge {
                    size: approx,
                    limit: opts.max_bytes,
                }));
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| fail(DecodeErrorKind::NotBase64(e.to_string())))?;
            std::borrow::Cow::Owned(decoded)
        }
        Payload::Json(bytes) => std::borrow::Cow::Borrowed(bytes.as_slice()),
    };
    let event = decode_event_bytes(&bytes, opts).map_err(fail)?;
    let key = user_key(&event, &opts.key_order).ok_or_else(|| {
        fail(DecodeErrorKind::NoUserKey(
            opts.key_order
                .iter()
                .map(|f| match f {
                    KeyField::UserId => "endpoint.User.UserId",
                    KeyField::EndpointId => "endpoint.Id",
                    KeyField::ClientId => "client.client_id",
                })
                .collect::<Vec<_>>()
                .join(", "),
        ))
    })?;
    Ok(DecodedEvent {
        record: raw.id.clone(),
        key,
        event,
        arrival_ms: raw.arrival_ms,
    })
}

/// Decodes the JSON bytes of one event (size, UTF-8, depth, JSON, types, embedded endpoint).
pub fn decode_event_bytes(
    bytes: &[u8],
    opts: &DecodeOptions,
) -> Result<PinpointEvent, DecodeErrorKind> {
    if bytes.len() > opts.max_bytes {
        return Err(DecodeErrorKind::TooLarge {
            size: bytes.len(),
            limit: opts.max_bytes,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeErrorKind::NotUtf8(e.valid_up_to()))?;
    let first = text.trim_start().as_bytes().first().copied();
    if first != Some(b'{') {
        check_depth(text.as_bytes(), opts.max_depth)?;
        return Err(classify_non_object(text));
    }
    // Nesting is checked only when parsing fails: the fields that are read nest shallowly and
    // serde_json stops at 128 levels, and subtrees that are not read are skipped without
    // recursion, so a valid event pays no extra pass over its bytes.
    let mut event: PinpointEvent = match serde_json::from_str(text) {
        Ok(event) => event,
        Err(e) => {
            check_depth(text.as_bytes(), opts.max_depth)?;
            return Err(if e.is_data() {
                wrong_type(text)
            } else {
                DecodeErrorKind::NotJson(e.to_string())
            });
        }
    };
    if event.endpoint.is_none() {
        if let Some(embedded) = event.client_context.custom.endpoint.take() {
            let endpoint: Endpoint =
                serde_json::from_str(&embedded).map_err(|e| DecodeErrorKind::WrongType {
                    field: "client_context.custom.endpoint".to_string(),
                    message: format!("not a JSON endpoint object: {e}"),
                })?;
            event.endpoint = Some(endpoint);
        }
    }
    Ok(event)
}

/// The user key of an event, trying `order` in turn. Empty strings do not count.
pub fn user_key(event: &PinpointEvent, order: &[KeyField]) -> Option<UserKey> {
    order.iter().find_map(|field| {
        let value = match field {
            KeyField::UserId => event
                .endpoint
                .as_ref()
                .and_then(|e| e.user.as_ref())
                .and_then(|u| u.user_id.as_deref()),
            KeyField::EndpointId => event.endpoint.as_ref().and_then(|e| e.id.as_deref()),
            KeyField::ClientId => event.client.client_id.as_deref(),
        }?;
        let value = value.trim();
        (!value.is_empty()).then(|| UserKey {
            id: value.to_string(),
            field: *field,
        })
    })
}

/// Re-reads a document that failed with a data error to name the field that was wrong.
fn wrong_type(text: &str) -> DecodeErrorKind {
    let mut de = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, PinpointEvent>(&mut de) {
        Err(e) => DecodeErrorKind::WrongType {
            field: e.path().to_string(),
            message: e.inner().to_string(),
        },
        Ok(_) => DecodeErrorKind::WrongType {
            field: ".".to_string(),
            message: "document did not match the event shape".to_string(),
        },
    }
}

/// Tells "valid JSON but not an object" from "not JSON at all".
fn classify_non_object(text: &str) -> DecodeErrorKind {
    match serde_json::from_str::<serde::de::IgnoredAny>(text) {
        Ok(_) => {
            let kind = match text.trim_start().as_bytes().first() {
                Some(b'[') => "array",
                Some(b'"') => "string",
                Some(b't') | Some(b'f') => "boolean",
                Some(b'n') => "null",
                _ => "number",
            };
            DecodeErrorKind::NotObject(kind)
        }
        Err(e) => DecodeErrorKind::NotJson(e.to_string()),
    }
}

/// Rejects JSON nested deeper than `max` without parsing it (strings are skipped).
fn check_depth(bytes: &[u8], max: usize) -> Result<(), DecodeErrorKind> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return Err(DecodeErrorKind::TooDeep(max));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Validates a LINE user ID: `U` followed by 32 lowercase hex digits.
pub fn is_line_user_id(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 33
        && bytes[0] == b'U'
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}
