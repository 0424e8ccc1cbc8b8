//! Record decoding: Base64 → UTF-8 → JSON → [`PinpointEvent`] → user key, then admission:
//! bounded keys, values and times, trusted LINE identities, and the event's fingerprint.
//!
//! Decoding never panics and never fails a batch: each failure is a [`DecodeError`] naming the
//! record and the cause, so the caller can set the record aside and go on. Valid JSON can still
//! be absurd (a metric of 1e300, an event dated 2100, a 2 KB key, a forged LINE identity):
//! such records are set aside here, before anything reaches state (see crate::limits).

use crate::event::{Endpoint, EventKind, PinpointEvent};
use crate::formats::{decode_other, InputFormat, InputSettings};
use crate::hash::Fnv64;
use crate::limits::{
    key_problem, LINE_KEY_PREFIX as LINE_PREFIX, MAX_ATTRIBUTE_VALUES, MAX_METRIC_ABS,
    MAX_VALUE_BYTES,
};
use crate::record::{KeptPayload, Payload, RawRecord, RecordId};
use crate::signature::{verify_line_event, RecordKey};
use crate::time::{check_event_time, Clock, RuleDuration, TimeBounds};
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

/// Where a LINE user ID may be learned from. The operator declares them in the rules file
/// (`settings.line_user_id_sources`); anything else that names a LINE ID is not believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineIdSource {
    /// The endpoint's user attribute named by `line_user_id_attribute` (default `lineUserId`),
    /// set by the app through Pinpoint's UpdateEndpoint or an attribute import.
    UserAttribute,
    /// `line.follow` / `line.unfollow` records written by the LINE webhook function, which
    /// verified LINE's `x-line-signature` and signs each record it puts on the stream.
    SignedWebhook,
    /// Any event's `line_user_id` attribute. Unsafe: any app client can send one and attach
    /// someone else's LINE account; only for streams written by trusted backends.
    EventAttribute,
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
    /// Where LINE user IDs may come from (default: the user attribute and the signed webhook).
    pub line_sources: Vec<LineIdSource>,
    /// The key the webhook function signs its records with; without it no webhook record is
    /// trusted (they are set aside as `untrusted_line_event`).
    pub record_key: Option<RecordKey>,
    /// How far event times may lie from arrival.
    pub time_bounds: TimeBounds,
    /// Which producers' format records are read as (`settings.input`).
    pub input: InputSettings,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_bytes: 1 << 20,
            max_depth: 64,
            key_order: vec![KeyField::UserId, KeyField::EndpointId, KeyField::ClientId],
            line_user_id_attribute: "lineUserId".to_string(),
            line_sources: vec![LineIdSource::UserAttribute, LineIdSource::SignedWebhook],
            record_key: None,
            time_bounds: TimeBounds {
                max_ahead: RuleDuration::days(1),
                max_behind: RuleDuration::days(430),
            },
            input: InputSettings::default(),
        }
    }
}

impl DecodeOptions {
    /// Whether LINE IDs may be taken from this source.
    pub fn trusts(&self, source: LineIdSource) -> bool {
        self.line_sources.contains(&source)
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
    /// The event's identity, the same however often and under whatever record it arrives
    /// (see [`fingerprint`]): exactly-once counting keys on it.
    pub fingerprint: u64,
    /// A record of the LINE webhook function with a valid signature: its LINE fields
    /// (`line_user_id`, follow/unfollow) may be believed.
    pub line_trusted: bool,
}

impl DecodedEvent {
    /// The LINE user ID this event may set, under the declared sources: a signed webhook
    /// record's `line_user_id`, the endpoint's user attribute, or (opt-in) any event attribute.
    pub fn line_user_id<'a>(&'a self, opts: &DecodeOptions) -> Option<&'a str> {
        if self.line_trusted || opts.trusts(LineIdSource::EventAttribute) {
            if let Some(id) = self
                .event
                .attributes
                .get("line_user_id")
                .filter(|id| is_line_user_id(id))
            {
                return Some(id);
            }
        }
        if opts.trusts(LineIdSource::UserAttribute) {
            return self
                .event
                .endpoint
                .as_ref()
                .and_then(|e| e.user.as_ref())
                .and_then(|u| u.user_attributes.get(&opts.line_user_id_attribute))
                .and_then(|v| v.iter().find(|l| is_line_user_id(l)))
                .map(String::as_str);
        }
        None
    }

    /// The identity links this event shows: endpoint ID → user, and `line:<LINE user ID>` →
    /// user when the user attributes carry a valid LINE ID and that source is trusted.
    pub fn links(&self, opts: &DecodeOptions) -> Vec<(String, String)> {
        let line_attr = opts.line_user_id_attribute.as_str();
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
            .filter(|_| opts.trusts(LineIdSource::UserAttribute))
        {
            out.push((format!("{LINE_KEY_PREFIX}{line}"), user_id.to_string()));
        }
        out
    }
}

/// Prefix of the identity key of a LINE user ID (webhook events are keyed `line:U…`).
pub const LINE_KEY_PREFIX: &str = LINE_PREFIX;

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
    /// A user key, endpoint ID or client ID is longer than the store can key.
    #[error("`{field}` is {bytes} bytes, over the {limit}-byte key limit")]
    KeyTooLong {
        /// The field.
        field: String,
        /// Its length in bytes.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The event time is implausibly far from the record's arrival or the wall clock.
    #[error("{0}")]
    TimeOutOfRange(String),
    /// A number is absurd (a metric beyond ±1e15).
    #[error("`{field}` = {value} is outside ±{limit:e}")]
    ValueOutOfRange {
        /// The field.
        field: String,
        /// The value as read.
        value: String,
        /// The bound.
        limit: f64,
    },
    /// A value that would be stored is too large (an attribute value, an address).
    #[error("`{field}` is too large: {detail}")]
    ValueTooLarge {
        /// The field.
        field: String,
        /// Size and limit.
        detail: String,
    },
    /// A record claims a LINE identity without the webhook function's signature.
    #[error("{0}")]
    UntrustedLine(String),
    /// A JSON object that matches none of the input formats.
    #[error("{0}")]
    UnknownFormat(String),
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
            DecodeErrorKind::KeyTooLong { .. } => "key_too_long",
            DecodeErrorKind::TimeOutOfRange(_) => "time_out_of_range",
            DecodeErrorKind::ValueOutOfRange { .. } => "value_out_of_range",
            DecodeErrorKind::ValueTooLarge { .. } => "value_too_large",
            DecodeErrorKind::UntrustedLine(_) => "untrusted_line_event",
            DecodeErrorKind::UnknownFormat(_) => "unknown_format",
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

/// Decodes one raw record and admits it (keys, values, time, LINE trust) at `clock`.
///
/// To decode many records, [`Decoder`] reuses one buffer for the Base64-decoded bytes and
/// can consume the records (moving their IDs instead of copying them).
pub fn decode_record(
    raw: &RawRecord,
    opts: &DecodeOptions,
    clock: Clock,
) -> Result<DecodedEvent, DecodeError> {
    Decoder::new(opts, clock).decode(raw)
}

/// Decodes records one after another at one `clock`, with one reused buffer for the
/// Base64-decoded bytes of each record (no allocation per record for them).
#[derive(Debug)]
pub struct Decoder<'a> {
    opts: &'a DecodeOptions,
    clock: Clock,
    buf: Vec<u8>,
}

/// A record set aside by [`Decoder::decode_keeping_bytes`]: why, and its payload as it came.
#[derive(Debug, Clone)]
pub struct SetAside {
    /// The record and the cause.
    pub error: DecodeError,
    /// The payload as received (for the dead letter).
    pub payload: Payload,
}

/// What decoding found in a record, before the record's ID is attached.
struct Decoded {
    key: UserKey,
    event: PinpointEvent,
    fingerprint: u64,
    line_trusted: bool,
}

impl<'a> Decoder<'a> {
    /// A decoder with the given options at `clock`.
    pub fn new(opts: &'a DecodeOptions, clock: Clock) -> Self {
        Decoder {
            opts,
            clock,
            buf: Vec::new(),
        }
    }

    /// Decodes and admits one record (as [`decode_record`]).
    pub fn decode(&mut self, raw: &RawRecord) -> Result<DecodedEvent, DecodeError> {
        match self.decode_parts(&raw.payload, raw.arrival_ms) {
            Ok(d) => Ok(DecodedEvent {
                record: raw.id.clone(),
                key: d.key,
                event: d.event,
                arrival_ms: raw.arrival_ms,
                fingerprint: d.fingerprint,
                line_trusted: d.line_trusted,
            }),
            Err(kind) => Err(DecodeError {
                record: raw.id.clone(),
                kind,
            }),
        }
    }

    /// Decodes and admits one record, consuming it (its ID moves into the result) and keeping
    /// its payload in a compact form: on success the event comes with the payload's JSON
    /// bytes (a Base64 payload decoded: 3/4 of its size, and encoding it again gives back the
    /// `data` as received), for a caller that may still need the original payload (a dead
    /// letter) after the Base64 text is gone. A record set aside gets its payload back as it
    /// came (boxed: set-aside records are rare).
    pub fn decode_keeping_bytes(
        &mut self,
        raw: RawRecord,
    ) -> Result<(DecodedEvent, KeptPayload), Box<SetAside>> {
        let RawRecord {
            id,
            payload,
            arrival_ms,
        } = raw;
        let kept = match payload {
            Payload::Base64(text) => {
                let mut bytes = Vec::new();
                match too_large_base64(&text, self.opts)
                    .and_then(|()| decode_base64(text.trim(), &mut bytes))
                {
                    Ok(()) => KeptPayload {
                        bytes,
                        base64: true,
                    },
                    Err(kind) => {
                        return Err(Box::new(SetAside {
                            error: DecodeError { record: id, kind },
                            payload: Payload::Base64(text),
                        }))
                    }
                }
            }
            Payload::Json(bytes) => KeptPayload {
                bytes,
                base64: false,
            },
        };
        let parsed = decode_bytes(&kept.bytes, arrival_ms, self.opts, self.clock);
        match parsed {
            Ok(d) => Ok((
                DecodedEvent {
                    record: id,
                    key: d.key,
                    event: d.event,
                    arrival_ms,
                    fingerprint: d.fingerprint,
                    line_trusted: d.line_trusted,
                },
                kept,
            )),
            Err(kind) => Err(Box::new(SetAside {
                error: DecodeError { record: id, kind },
                payload: kept.into_payload(),
            })),
        }
    }

    fn decode_parts(
        &mut self,
        payload: &Payload,
        arrival_ms: Option<i64>,
    ) -> Result<Decoded, DecodeErrorKind> {
        let opts = self.opts;
        let bytes: &[u8] = match payload {
            Payload::Base64(text) => {
                too_large_base64(text, opts)?;
                self.buf.clear();
                decode_base64(text.trim(), &mut self.buf)?;
                &self.buf
            }
            Payload::Json(bytes) => bytes.as_slice(),
        };
        decode_bytes(bytes, arrival_ms, opts, self.clock)
    }
}

/// Decodes and admits the JSON bytes of one record.
fn decode_bytes(
    bytes: &[u8],
    arrival_ms: Option<i64>,
    opts: &DecodeOptions,
    clock: Clock,
) -> Result<Decoded, DecodeErrorKind> {
    let event = decode_event_bytes(bytes, opts)?;
    let key = user_key(&event, &opts.key_order).ok_or_else(|| {
        DecodeErrorKind::NoUserKey(
            opts.key_order
                .iter()
                .map(|f| match f {
                    KeyField::UserId => "endpoint.User.UserId",
                    KeyField::EndpointId => "endpoint.Id",
                    KeyField::ClientId => "client.client_id",
                })
                .collect::<Vec<_>>()
                .join(", "),
        )
    })?;
    let line_trusted = admit(&event, &key, arrival_ms, opts, clock)?;
    Ok(Decoded {
        fingerprint: fingerprint(&event),
        key,
        event,
        line_trusted,
    })
}

/// Base64 of N bytes is 4*ceil(N/3) characters: oversize input is refused before decoding.
fn too_large_base64(text: &str, opts: &DecodeOptions) -> Result<(), DecodeErrorKind> {
    let approx = text.len() / 4 * 3;
    if approx > opts.max_bytes + 3 {
        return Err(DecodeErrorKind::TooLarge {
            size: approx,
            limit: opts.max_bytes,
        });
    }
    Ok(())
}

/// Standard Base64 (padded, canonical) into `out`, with SIMD where the CPU has it.
///
/// It accepts what the `base64` crate's `STANDARD` engine accepts (a property test in
/// `tests/core/decode.rs` holds that both agree); on a failure that crate decodes again, so
/// the error names the offending byte as before.
pub fn decode_base64(text: &str, out: &mut Vec<u8>) -> Result<(), DecodeErrorKind> {
    let start = out.len();
    if base64_simd::STANDARD.decode_append(text, out).is_ok() {
        return Ok(());
    }
    out.truncate(start);
    base64::engine::general_purpose::STANDARD
        .decode_vec(text, out)
        .map_err(|e| DecodeErrorKind::NotBase64(e.to_string()))
}

/// Admission of a decoded event: bounded keys, values and time, and whether its LINE fields
/// come from the signed webhook (the returned flag). `line:` keys and `line.*` events are
/// the webhook's alone.
fn admit(
    event: &PinpointEvent,
    key: &UserKey,
    arrival: Option<i64>,
    opts: &DecodeOptions,
    clock: Clock,
) -> Result<bool, DecodeErrorKind> {
    let endpoint = event.endpoint.as_ref();
    let keys = [
        ("user key", Some(key.id.as_str())),
        ("endpoint.Id", endpoint.and_then(|e| e.id.as_deref())),
        (
            "endpoint.User.UserId",
            endpoint
                .and_then(|e| e.user.as_ref())
                .and_then(|u| u.user_id.as_deref()),
        ),
        ("client.client_id", event.client.client_id.as_deref()),
    ];
    for (field, value) in keys {
        if let Some(v) = value {
            if key_problem(v).is_some() {
                return Err(DecodeErrorKind::KeyTooLong {
                    field: field.to_string(),
                    bytes: v.len(),
                    limit: crate::limits::MAX_KEY_BYTES,
                });
            }
        }
    }
    for (name, v) in &event.metrics {
        if !v.is_finite() || v.abs() > MAX_METRIC_ABS {
            return Err(DecodeErrorKind::ValueOutOfRange {
                field: format!("metrics.{name}"),
                value: v.to_string(),
                limit: MAX_METRIC_ABS,
            });
        }
    }
    if let Some(e) = endpoint {
        check_stored_values(e)?;
    }
    // The event's own arrival time (Pinpoint's receipt) first: a backfill through Kinesis
    // keeps it, while the Kinesis arrival is the backfill's.
    check_event_time(
        event.event_timestamp,
        event.arrival_timestamp.or(arrival),
        clock,
        &opts.time_bounds,
    )
    .map_err(|e| DecodeErrorKind::TimeOutOfRange(e.why))?;
    let signed = event.line_signature.as_deref().is_some_and(|sig| {
        opts.record_key
            .as_ref()
            .is_some_and(|k| verify_line_event(k, event, sig))
    });
    let trusted = signed && opts.trusts(LineIdSource::SignedWebhook);
    if !trusted {
        if EventKind::of(&event.event_type) == EventKind::Line {
            return Err(DecodeErrorKind::UntrustedLine(format!(
                "`{}` is a LINE webhook event type, but the record {}",
                event.event_type,
                untrusted_why(event, opts, signed)
            )));
        }
        for (field, value) in keys {
            if value.is_some_and(|v| v.starts_with(LINE_PREFIX)) {
                return Err(DecodeErrorKind::UntrustedLine(format!(
                    "`{field}` uses the `{LINE_PREFIX}` namespace of the LINE webhook, but the record {}",
                    untrusted_why(event, opts, signed)
                )));
            }
        }
    }
    Ok(trusted)
}

fn untrusted_why(event: &PinpointEvent, opts: &DecodeOptions, signed: bool) -> &'static str {
    if signed {
        "comes from the signed webhook, which the rules do not list in line_user_id_sources"
    } else if event.line_signature.is_none() {
        "has no webhook signature"
    } else if opts.record_key.is_none() {
        "is signed and no record key is configured to check it"
    } else {
        "has a webhook signature that does not verify"
    }
}

/// Endpoint values that may be stored: addresses, channel types and attribute lists.
fn check_stored_values(e: &Endpoint) -> Result<(), DecodeErrorKind> {
    let too_large =
        |field: String, detail: String| DecodeErrorKind::ValueTooLarge { field, detail };
    for (field, v) in [
        ("endpoint.Address", &e.address),
        ("endpoint.ChannelType", &e.channel_type),
    ] {
        if let Some(v) = v.as_deref().filter(|v| v.len() > MAX_VALUE_BYTES) {
            return Err(too_large(
                field.to_string(),
                format!("{} bytes, over {MAX_VALUE_BYTES}", v.len()),
            ));
        }
    }
    let user_attrs = e.user.as_ref().map(|u| &u.user_attributes);
    let maps = [
        ("endpoint.Attributes", Some(&e.attributes)),
        ("endpoint.User.UserAttributes", user_attrs),
    ];
    for (scope, map) in maps {
        for (name, values) in map.into_iter().flatten() {
            if name.len() > MAX_VALUE_BYTES {
                return Err(too_large(
                    format!("{scope} name"),
                    format!("{} bytes, over {MAX_VALUE_BYTES}", name.len()),
                ));
            }
            if values.len() > MAX_ATTRIBUTE_VALUES {
                return Err(too_large(
                    format!("{scope}.{name}"),
                    format!("{} values, over {MAX_ATTRIBUTE_VALUES}", values.len()),
                ));
            }
            if let Some(v) = values.iter().find(|v| v.len() > MAX_VALUE_BYTES) {
                return Err(too_large(
                    format!("{scope}.{name}"),
                    format!("a value of {} bytes, over {MAX_VALUE_BYTES}", v.len()),
                ));
            }
        }
    }
    Ok(())
}

/// An event's identity, independent of the record it came in (sequence number, shard, stream)
/// and of the time it arrived: a producer's retry, a backfill through Kinesis and a
/// dead-letter reprocessing all yield the same value.
///
/// LINE webhook events use LINE's `webhookEventId`. Pinpoint events carry no event ID, so the
/// fingerprint is a hash of what identifies the event: type, device time (ms), client ID,
/// session ID, endpoint ID, user ID, event attributes and metrics. Two events identical in
/// all of these (same user, type, millisecond, session, attributes and metrics) are
/// indistinguishable and counted once. Arrival time and the endpoint's profile (attributes,
/// address) are left out: they may differ between two deliveries of one event.
pub fn fingerprint(event: &PinpointEvent) -> u64 {
    let mut h = Fnv64::new();
    if let Some(id) = &event.event_id {
        h.field(b"event-id");
        h.field(id.as_bytes());
        return h.finish();
    }
    if let Some(id) = event
        .attributes
        .get("webhook_event_id")
        .filter(|_| EventKind::of(&event.event_type) == EventKind::Line)
    {
        h.field(b"line-webhook");
        h.field(id.as_bytes());
        return h.finish();
    }
    h.field(event.event_type.as_bytes());
    h.field(&event.event_timestamp.to_le_bytes());
    fn opt(v: Option<&String>) -> &[u8] {
        v.map_or(&b""[..], |s| s.as_bytes())
    }
    h.field(opt(event.client.client_id.as_ref()));
    h.field(opt(event.session.session_id.as_ref()));
    let endpoint = event.endpoint.as_ref();
    h.field(opt(endpoint.and_then(|e| e.id.as_ref())));
    h.field(opt(endpoint
        .and_then(|e| e.user.as_ref())
        .and_then(|u| u.user_id.as_ref())));
    h.field(&(event.attributes.len() as u64).to_le_bytes());
    for (k, v) in &event.attributes {
        h.field(k.as_bytes());
        h.field(v.as_bytes());
    }
    h.field(&(event.metrics.len() as u64).to_le_bytes());
    for (k, v) in &event.metrics {
        h.field(k.as_bytes());
        h.field(&v.to_bits().to_le_bytes());
    }
    h.finish()
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
    let read_other = |opts: &DecodeOptions| {
        decode_other(text, &opts.input, &opts.line_user_id_attribute, || {
            wrong_type(text)
        })
    };
    if matches!(
        opts.input.format,
        InputFormat::Segment | InputFormat::Mapped
    ) {
        return read_other(opts).or_else(|e| {
            check_depth(text.as_bytes(), opts.max_depth)?;
            Err(e)
        });
    }
    let mut event: PinpointEvent = match serde_json::from_str(text) {
        Ok(event) => event,
        Err(e) => {
            check_depth(text.as_bytes(), opts.max_depth)?;
            return if !e.is_data() {
                Err(DecodeErrorKind::NotJson(e.to_string()))
            } else if opts.input.format == InputFormat::Pinpoint {
                Err(wrong_type(text))
            } else {
                // `auto`: not a Pinpoint event; perhaps a Segment call or a mapped event.
                read_other(opts)
            };
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
