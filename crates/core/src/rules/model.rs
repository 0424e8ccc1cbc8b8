//! The rules file as written (YAML): segments, conditions, destinations, settings.
//!
//! Every struct denies unknown keys, so a typo is an error at load time, not a silently
//! ignored condition. The reference with examples is docs/rules.md.

use crate::decode::{KeyField, LineIdSource};
use crate::formats::InputSettings;
use crate::time::RuleDuration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// File format version; only 1 exists.
    #[serde(default = "one")]
    pub version: u32,
    /// Settings shared by all segments.
    #[serde(default)]
    pub settings: Settings,
    /// The segments.
    pub segments: Vec<SegmentDef>,
}

fn one() -> u32 {
    1
}

/// Settings shared by all segments.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Which fields name the user, in order (default: user_id, endpoint_id, client_id).
    pub user_key: Vec<KeyField>,
    /// The user attribute that holds the LINE user ID (default `lineUserId`).
    pub line_user_id_attribute: String,
    /// Where a LINE user ID may be learned from (default: `user_attribute` and
    /// `signed_webhook`; `event_attribute` is opt-in and unsafe with app-written streams).
    pub line_user_id_sources: Vec<LineIdSource>,
    /// Attribute names (user or endpoint) kept in each user's state besides those a condition
    /// reads: columns exported to Pinpoint, placeholders of messages. `"*"` keeps every
    /// attribute (at most 64 per user, by name).
    pub keep_attributes: Vec<String>,
    /// How far an event's time may lie from its arrival; beyond it the record is set aside as
    /// `time_out_of_range`. Default: 1 day ahead, and behind by the longest window or recency
    /// bound of the rules plus 30 days.
    pub event_time: Option<EventTimeSettings>,
    /// The calendar time zone (IANA name, default `UTC`): the days of the daily enter/exit
    /// history, "today" and the dashboards follow it. Windows are not affected.
    pub timezone: Option<String>,
    /// The stream's event format: `auto` (default: Pinpoint, Segment spec, or the declared
    /// mapping, per record), `pinpoint`, `segment` or `mapped` with a JSON Pointer mapping.
    pub input: InputSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            user_key: vec![KeyField::UserId, KeyField::EndpointId, KeyField::ClientId],
            line_user_id_attribute: "lineUserId".to_string(),
            line_user_id_sources: vec![LineIdSource::UserAttribute, LineIdSource::SignedWebhook],
            keep_attributes: Vec::new(),
            event_time: None,
            timezone: None,
            input: InputSettings::default(),
        }
    }
}

/// `settings.event_time`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventTimeSettings {
    /// Largest time ahead of arrival (default 1d).
    #[serde(default)]
    pub max_ahead: Option<RuleDuration>,
    /// Largest time behind arrival (default: longest rule duration + 30d).
    #[serde(default)]
    pub max_behind: Option<RuleDuration>,
}

/// One segment.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentDef {
    /// Stable identifier: lowercase letters, digits, `-` and `_`, ≤ 64 characters.
    pub id: String,
    /// What the segment means, for people.
    #[serde(default)]
    pub description: String,
    /// Who is in it. Conditions are written as single-key maps (`all: [...]`), not YAML tags.
    #[serde(with = "serde_yaml_ng::with::singleton_map_recursive")]
    pub condition: Condition,
    /// Where its membership is sent.
    #[serde(default)]
    pub destinations: Destinations,
    /// Flag a sudden change of its size (`alert: { change_pct: 50, change_abs: 1000,
    /// within: 1h }`): `stats`, the dashboard and the sweep's metrics report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<crate::alert::SizeAlert>,
}

/// Where a segment's membership goes: destination kind (`line`, `pinpoint`, `eventbridge`, …)
/// → that destination's settings for the segment.
///
/// The set of kinds is open: the core knows no destination by name. Each destination crate
/// reads and checks its own settings (`audience_sync::spec::SegmentSettings`), and the programs
/// that sync refuse a kind no destination is registered for, so a typo is still an error at
/// load time.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Destinations(pub BTreeMap<String, serde_json::Value>);

impl Destinations {
    /// The destination kinds of the segment, in name order.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Whether the segment goes to a destination of this kind.
    pub fn has(&self, kind: &str) -> bool {
        self.0.contains_key(kind)
    }

    /// The raw settings of one kind.
    pub fn get(&self, kind: &str) -> Option<&serde_json::Value> {
        self.0.get(kind)
    }
}

/// A condition on a user's state.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Every condition holds.
    All(Vec<Condition>),
    /// At least one condition holds.
    Any(Vec<Condition>),
    /// The condition does not hold.
    Not(Box<Condition>),
    /// A comparison on `endpoint.User.UserAttributes`.
    UserAttribute(AttributeTest),
    /// A comparison on `endpoint.Attributes`.
    EndpointAttribute(AttributeTest),
    /// How many matching events happened within a window.
    EventCount(EventCountTest),
    /// The sum of a metric over matching events within a window.
    MetricSum(MetricTest),
    /// The largest value of a metric over matching events within a window.
    MetricMax(MetricTest),
    /// When a matching event last happened.
    LastSeen(RecencyTest),
    /// When a matching event first happened.
    FirstSeen(RecencyTest),
    /// Membership of another segment.
    InSegment(String),
    /// The user has (true) or has not (false) a LINE user ID and follows the account.
    LineLinked(bool),
}

/// A comparison on a list-valued attribute; holds when any value satisfies it.
/// Exactly one operator is given.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeTest {
    /// Attribute name.
    pub name: String,
    /// Equal to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eq: Option<String>,
    /// No value equals this (also holds when the attribute is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ne: Option<String>,
    /// Equal to one of these.
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub in_: Option<Vec<String>>,
    /// The attribute is present (true) or absent (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// Numerically greater than.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    /// Numerically greater than or equal to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<f64>,
    /// Numerically less than.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<f64>,
    /// Numerically less than or equal to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<f64>,
    /// Contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// Starts with this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_with: Option<String>,
}

/// Count of events within a window.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventCountTest {
    /// The event type to count.
    pub event_type: String,
    /// Event attributes that must equal these values.
    #[serde(default, rename = "where")]
    pub where_: BTreeMap<String, String>,
    /// The window, in whole days (≤ 400d).
    pub within: RuleDuration,
    /// At least this many.
    #[serde(default)]
    pub min: Option<u64>,
    /// At most this many.
    #[serde(default)]
    pub max: Option<u64>,
}

/// Sum or maximum of a metric within a window.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricTest {
    /// The event type.
    pub event_type: String,
    /// A metric name, or a product of metric names: `_item_price * _quantity`.
    pub metric: String,
    /// Event attributes that must equal these values.
    #[serde(default, rename = "where")]
    pub where_: BTreeMap<String, String>,
    /// The window, in whole days (≤ 400d).
    pub within: RuleDuration,
    /// At least this much.
    #[serde(default)]
    pub min: Option<f64>,
    /// At most this much.
    #[serde(default)]
    pub max: Option<f64>,
}

/// When an event last (or first) happened, relative to now. Exactly one bound.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecencyTest {
    /// The event type; absent means any event.
    #[serde(default)]
    pub event_type: Option<String>,
    /// Happened at least this long ago.
    #[serde(default)]
    pub older_than: Option<RuleDuration>,
    /// Happened less than this long ago.
    #[serde(default)]
    pub newer_than: Option<RuleDuration>,
    /// Whether a user who never had such an event counts as `older_than` (default false).
    #[serde(default)]
    pub include_never: bool,
}
