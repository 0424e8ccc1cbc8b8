//! The typed Pinpoint event-stream event (event_version 3.0/3.1).
//!
//! Only the fields the system reads are typed; every other field is ignored, so a new field
//! from AWS is never an error. Maps that are `null` are read as empty.

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// A string → list-of-strings map, as Pinpoint endpoint and user attributes are.
pub type ListMap = BTreeMap<String, Vec<String>>;

/// One Pinpoint event as written to the Kinesis stream.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct PinpointEvent {
    /// `_session.start`, `_monetization.purchase`, `_email.open`, a custom name, …
    pub event_type: String,
    /// When the event happened on the device, epoch ms.
    pub event_timestamp: i64,
    /// When Pinpoint received it, epoch ms.
    #[serde(default)]
    pub arrival_timestamp: Option<i64>,
    /// `3.0` or `3.1`.
    #[serde(default)]
    pub event_version: Option<String>,
    /// The Pinpoint project.
    #[serde(default, deserialize_with = "null_default")]
    pub application: Application,
    /// The client (for email/SMS: the endpoint ID).
    #[serde(default, deserialize_with = "null_default")]
    pub client: Client,
    /// Campaign and journey events carry the endpoint here, JSON-encoded in a string.
    #[serde(default, deserialize_with = "null_default")]
    pub client_context: ClientContext,
    /// The app session, when there is one.
    #[serde(default, deserialize_with = "null_default")]
    pub session: Session,
    /// Event attributes (string values; numbers and booleans are kept as their text).
    #[serde(default, deserialize_with = "scalar_map")]
    pub attributes: BTreeMap<String, String>,
    /// Event metrics.
    #[serde(default, deserialize_with = "null_default")]
    pub metrics: BTreeMap<String, f64>,
    /// The endpoint object of app events.
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    /// The LINE webhook function's signature of a `line.*` record (see `signature`).
    #[serde(
        default,
        rename = "audience_stream_signature",
        skip_serializing_if = "Option::is_none"
    )]
    pub line_signature: Option<String>,
    /// The producer's own event ID (Segment's `messageId`, a mapping's `event_id`): when
    /// present it is the event's identity for exactly-once counting. Pinpoint events carry
    /// none; it is set by the input formats only, never read from a Pinpoint record.
    #[serde(skip)]
    pub event_id: Option<String>,
}

/// `application` of an event.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Application {
    /// The Pinpoint project (application) ID.
    #[serde(default)]
    pub app_id: Option<String>,
}

/// `client` of an event.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Client {
    /// The client ID; for email and SMS events the endpoint ID.
    #[serde(default)]
    pub client_id: Option<String>,
}

/// `client_context` of campaign and journey events.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct ClientContext {
    /// `custom.endpoint` holds the endpoint as a JSON string.
    #[serde(default, deserialize_with = "null_default")]
    pub custom: ClientContextCustom,
}

/// `client_context.custom`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct ClientContextCustom {
    /// The endpoint object, JSON-encoded in a string.
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// `session` of an event.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Session {
    /// The session ID.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Session start, epoch ms.
    #[serde(default)]
    pub start_timestamp: Option<i64>,
    /// Session stop, epoch ms.
    #[serde(default)]
    pub stop_timestamp: Option<i64>,
}

/// A Pinpoint endpoint (PascalCase keys, as on the wire).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Endpoint {
    /// The endpoint ID.
    #[serde(default)]
    pub id: Option<String>,
    /// `APNS`, `GCM`, `EMAIL`, `SMS`, …
    #[serde(default)]
    pub channel_type: Option<String>,
    /// The address on that channel (token, e-mail address, phone number).
    #[serde(default)]
    pub address: Option<String>,
    /// `ACTIVE` or `INACTIVE`.
    #[serde(default)]
    pub endpoint_status: Option<String>,
    /// `ALL` or `NONE`.
    #[serde(default)]
    pub opt_out: Option<String>,
    /// The user the endpoint belongs to.
    #[serde(default)]
    pub user: Option<EndpointUser>,
    /// Endpoint attributes.
    #[serde(default, deserialize_with = "null_default")]
    pub attributes: ListMap,
    /// Endpoint metrics.
    #[serde(default, deserialize_with = "null_default")]
    pub metrics: BTreeMap<String, f64>,
    // `Demographic` and `Location` are not read: nothing decides on them, so they are skipped
    // while parsing instead of being copied into every event (the record's payload, which
    // dead letters keep, still has them).
}

/// `endpoint.User`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointUser {
    /// The app's user ID.
    #[serde(default)]
    pub user_id: Option<String>,
    /// User attributes.
    #[serde(default, deserialize_with = "null_default")]
    pub user_attributes: ListMap,
}

/// What kind of event this is, for the decisions that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `_session.*`
    Session,
    /// `_monetization.purchase`
    Purchase,
    /// `_userauth.*`
    UserAuth,
    /// `_campaign.*`
    Campaign,
    /// `_journey.*`
    Journey,
    /// `_email.*`
    Email,
    /// `_SMS.*`
    Sms,
    /// `line.follow` / `line.unfollow` from the LINE webhook.
    Line,
    /// `_import.*`: attributes imported from a file (user-attribute rows); they carry
    /// attributes only and do not count as activity.
    Import,
    /// `_identify` / `_alias` from a Segment-spec producer: profile updates and identity
    /// links; like imports they carry attributes only and do not count as activity.
    Profile,
    /// Anything else: an app's custom event.
    Custom,
}

impl EventKind {
    /// Whether events of this kind count as the user's activity (first/last seen).
    pub fn is_activity(self) -> bool {
        !matches!(self, EventKind::Import | EventKind::Profile)
    }

    /// Classifies an `event_type`.
    pub fn of(event_type: &str) -> EventKind {
        let prefix = event_type.split('.').next().unwrap_or("");
        match prefix {
            "_session" => EventKind::Session,
            "_monetization" => EventKind::Purchase,
            "_userauth" => EventKind::UserAuth,
            "_campaign" => EventKind::Campaign,
            "_journey" => EventKind::Journey,
            "_email" => EventKind::Email,
            "_SMS" | "_sms" => EventKind::Sms,
            "line" => EventKind::Line,
            "_import" => EventKind::Import,
            "_identify" | "_alias" => EventKind::Profile,
            _ => EventKind::Custom,
        }
    }
}

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A map whose values may be strings, numbers or booleans (kept as text); `null` values are
/// dropped; `null` for the whole map is empty. Objects or arrays as values are a type error.
fn scalar_map<'de, D>(d: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    struct MapVisitor;
    impl<'de> Visitor<'de> for MapVisitor {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map of strings, numbers or booleans")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = map.next_key::<String>()? {
                if let Some(ScalarText(text)) = map.next_value::<Option<ScalarText>>()? {
                    out.insert(key, text);
                }
            }
            Ok(out)
        }
    }
    d.deserialize_option(MapVisitor)
}

/// A string, number or boolean, as text.
struct ScalarText(String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ScalarText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<ScalarText, E> {
                Ok(ScalarText(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}
