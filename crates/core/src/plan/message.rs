//! Messages on segment entry and exit (LINE push and multicast), planned without I/O: message
//! templates (`{{attr}}`, `{{attr|fallback}}`) checked at load and rendered per user from the
//! user's attributes, message objects (Flex, …) checked against LINE's shape and limits and
//! passed through, users receiving the same rendered messages grouped into multicasts of at
//! most [`MAX_MULTICAST`] (a push for a single recipient), and every request's retry key
//! derived from what it sends, so a re-sent request carries the same `X-Line-Retry-Key`.
//! Quiet hours are decided here too ([`QuietHours`]).

use crate::rules::{AttrScope, Cond};
use crate::{ChangeKind, Millis, UserState, Zone};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Most message objects in one request (LINE's `maxItems`).
pub const MAX_MESSAGES: usize = 5;
/// Most characters in a text message.
pub const MAX_TEXT_CHARS: usize = 5_000;
/// Most characters in a Flex message's `altText`.
pub const MAX_ALT_TEXT_CHARS: usize = 1_500;
/// Most user IDs in one multicast.
pub const MAX_MULTICAST: usize = 500;
/// Most bytes of one message object as JSON (LINE refuses Flex contents over 30 KB; the
/// same bound keeps a planned request well inside the store's item limit).
pub const MAX_OBJECT_BYTES: usize = 30 * 1024;
/// The message types LINE's `Message` discriminator knows (messaging-api.yml).
pub const MESSAGE_TYPES: [&str; 11] = [
    "text", "textV2", "sticker", "image", "video", "audio", "location", "imagemap", "template",
    "flex", "coupon",
];

/// One piece of a text template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field {
        name: String,
        fallback: Option<String>,
    },
}

/// A text message with placeholders: `{{name}}` is the user attribute `name` (its values
/// joined by `, `), `{{name|fallback}}` the fallback when the user has no such value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses a template; the message says what is wrong (an unclosed `{{`, an empty name).
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("`{{{{` without a closing `}}}}` in {text:?}"))?;
            let inner = &after[..close];
            let (name, fallback) = match inner.split_once('|') {
                Some((n, f)) => (n.trim(), Some(f.to_string())),
                None => (inner.trim(), None),
            };
            if name.is_empty() || name.contains(['{', '}']) {
                return Err(format!(
                    "placeholder `{{{{{inner}}}}}` needs an attribute name: {{{{name}}}} or {{{{name|fallback}}}}"
                ));
            }
            pieces.push(Piece::Field {
                name: name.to_string(),
                fallback,
            });
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        let t = Template { pieces };
        if t.pieces.is_empty() {
            return Err("a text message must not be empty".into());
        }
        Ok(t)
    }

    /// The attributes the template reads, with whether each has a fallback.
    pub fn fields(&self) -> impl Iterator<Item = (&str, bool)> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Field { name, fallback } => Some((name.as_str(), fallback.is_some())),
            Piece::Text(_) => None,
        })
    }

    /// The characters of the template with every placeholder at its fallback (or nothing):
    /// the shortest text it can render to.
    fn fixed_chars(&self) -> usize {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.chars().count(),
                Piece::Field { fallback, .. } => {
                    fallback.as_deref().map_or(0, |f| f.chars().count())
                }
            })
            .sum()
    }

    /// Fills the placeholders; `Err(name)` names the first attribute with no value and no
    /// fallback (the message is not sent with a hole in it).
    pub fn render(&self, value: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field { name, fallback } => match (value(name), fallback) {
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(f)) => out.push_str(f),
                    (None, None) => return Err(name.clone()),
                },
            }
        }
        Ok(out)
    }
}

/// A declared message: a text template, or a message object passed through as given.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageSpec {
    /// `type: text` with the rendered template as `text`.
    Text(Template),
    /// A LINE message object (Flex, image, sticker, …), sent as written.
    Object(Value),
}

impl MessageSpec {
    /// Reads one declared message: a string is a text template, an object a message object
    /// (checked: a known `type`, text and `altText` lengths, size).
    pub fn read(value: &Value) -> Result<MessageSpec, String> {
        match value {
            Value::String(text) => {
                let t = Template::parse(text)?;
                let chars = t.fixed_chars();
                if chars > MAX_TEXT_CHARS {
                    return Err(format!(
                        "text message of {chars} characters is over LINE's {MAX_TEXT_CHARS}"
                    ));
                }
                Ok(MessageSpec::Text(t))
            }
            Value::Object(_) => {
                check_message_object(value)?;
                Ok(MessageSpec::Object(value.clone()))
            }
            other => Err(format!(
                "a message is a text (with {{{{placeholders}}}}) or a LINE message object, not {other}"
            )),
        }
    }
}

/// Checks a message object against LINE's `Message` shape and limits (messaging-api.yml):
/// a known `type`; `text` 1–5,000 characters for text messages; `altText` 1–1,500 characters
/// and an object `contents` for Flex; at most [`MAX_OBJECT_BYTES`] as JSON.
pub fn check_message_object(value: &Value) -> Result<(), String> {
    let ty = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or("a message object needs a `type` (text, flex, image, sticker, …)")?;
    if !MESSAGE_TYPES.contains(&ty) {
        return Err(format!(
            "unknown message type `{ty}` (LINE's types: {})",
            MESSAGE_TYPES.join(", ")
        ));
    }
    let bounded = |field: &str, max: usize| -> Result<(), String> {
        let text = value
            .get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("a `{ty}` message needs a string `{field}`"))?;
        let chars = text.chars().count();
        if chars == 0 || chars > max {
            return Err(format!(
                "`{field}` of a `{ty}` message must be 1–{max} characters, it has {chars}"
            ));
        }
        Ok(())
    };
    match ty {
        "text" | "textV2" => bounded("text", MAX_TEXT_CHARS)?,
        "flex" => {
            bounded("altText", MAX_ALT_TEXT_CHARS)?;
            if !value.get("contents").is_some_and(Value::is_object) {
                return Err(
                    "a `flex` message needs an object `contents` (bubble or carousel)".into(),
                );
            }
        }
        _ => {}
    }
    let bytes = value.to_string().len();
    if bytes > MAX_OBJECT_BYTES {
        return Err(format!(
            "message object of {bytes} bytes is over {MAX_OBJECT_BYTES}"
        ));
    }
    Ok(())
}

/// Reads a list of 1–5 declared messages.
pub fn read_messages(list: &[Value]) -> Result<Vec<MessageSpec>, String> {
    if list.is_empty() || list.len() > MAX_MESSAGES {
        return Err(format!(
            "1–{MAX_MESSAGES} messages (LINE's limit per request), not {}",
            list.len()
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, v)| MessageSpec::read(v).map_err(|m| format!("message {}: {m}", i + 1)))
        .collect()
}

/// Whether every user in a segment with condition `cond` has a value of user attribute
/// `name`: the condition (or a member of its top-level `all`) tests that attribute with an
/// operator that only holds when a value exists.
pub fn guarantees_attribute(cond: &Cond, name: &str) -> bool {
    match cond {
        Cond::All(children) => children.iter().any(|c| guarantees_attribute(c, name)),
        Cond::Attr(AttrScope::User, t) if t.name == name => {
            t.eq.is_some()
                || t.in_.is_some()
                || t.exists == Some(true)
                || t.gt.is_some()
                || t.gte.is_some()
                || t.lt.is_some()
                || t.lte.is_some()
                || t.contains.is_some()
                || t.starts_with.is_some()
        }
        _ => false,
    }
}

/// A user's attribute as a placeholder value: the values of user attribute `name` joined by
/// `, `; `None` when absent or empty.
pub fn attribute_value(state: &UserState, name: &str) -> Option<String> {
    let key = format!("{}{name}", AttrScope::User.prefix());
    state
        .attr(&key)
        .filter(|v| v.iter().any(|s| !s.is_empty()))
        .map(|v| v.join(", "))
}

/// Renders messages for one user; the error names the attribute missing without fallback or
/// the limit the rendered text broke.
pub fn render(
    specs: &[MessageSpec],
    value: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Value>, String> {
    specs
        .iter()
        .map(|s| match s {
            MessageSpec::Object(v) => Ok(v.clone()),
            MessageSpec::Text(t) => {
                let text = t
                    .render(value)
                    .map_err(|name| format!("attribute `{name}` has no value and no fallback"))?;
                let chars = text.chars().count();
                if chars == 0 || chars > MAX_TEXT_CHARS {
                    return Err(format!(
                        "rendered text has {chars} characters; LINE takes 1–{MAX_TEXT_CHARS}"
                    ));
                }
                Ok(serde_json::json!({ "type": "text", "text": text }))
            }
        })
        .collect()
}

/// One recipient of rendered messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// Index of its outbox entry in the caller's list.
    pub entry: usize,
    /// The entry's change ID.
    pub change_id: String,
    /// The user's LINE user ID.
    pub line_user_id: String,
}

/// Push (one recipient) or multicast (several).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendKind {
    /// `POST /v2/bot/message/push`.
    Push,
    /// `POST /v2/bot/message/multicast`.
    Multicast,
}

impl SendKind {
    /// The ledger action and report name.
    pub fn as_str(self) -> &'static str {
        match self {
            SendKind::Push => "push",
            SendKind::Multicast => "multicast",
        }
    }
}

/// One request to send.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedMessage {
    /// Push or multicast.
    pub kind: SendKind,
    /// Distinct LINE user IDs, sorted (one for a push, ≤ 500 for a multicast).
    pub to: Vec<String>,
    /// Outbox entries it delivers (indices into the caller's list).
    pub entries: Vec<usize>,
    /// The rendered message objects.
    pub messages: Vec<Value>,
    /// `X-Line-Retry-Key`: [`retry_key`] of what it sends.
    pub retry_key: String,
}

/// Recipients of one set of rendered messages: the messages, and LINE ID → its recipients.
type Group = (Vec<Value>, BTreeMap<String, Vec<Recipient>>);

/// Groups recipients by identical rendered messages (in the order the distinct message sets
/// first appear) and splits each group into requests of at most [`MAX_MULTICAST`] distinct
/// LINE IDs, sorted; a request with one recipient is a push. Several entries with one LINE
/// ID (identities folded into one account) ride the same request, so the account gets the
/// messages once. `op` (entered/exited) and `segment` go into the retry keys.
pub fn plan_messages(
    segment: &str,
    op: ChangeKind,
    rendered: Vec<(Recipient, Vec<Value>)>,
) -> Vec<PlannedMessage> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for (recipient, messages) in rendered {
        let canonical = Value::Array(messages.clone()).to_string();
        let group = groups.entry(canonical.clone()).or_insert_with(|| {
            order.push(canonical);
            (messages, BTreeMap::new())
        });
        group
            .1
            .entry(recipient.line_user_id.clone())
            .or_default()
            .push(recipient);
    }
    let mut out = Vec::new();
    for canonical in order {
        let Some((messages, by_id)) = groups.remove(&canonical) else {
            continue;
        };
        let ids: Vec<(String, Vec<Recipient>)> = by_id.into_iter().collect();
        for chunk in ids.chunks(MAX_MULTICAST) {
            let to: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
            let recipients: Vec<&Recipient> = chunk.iter().flat_map(|(_, r)| r).collect();
            let mut entries: Vec<usize> = recipients.iter().map(|r| r.entry).collect();
            entries.sort_unstable();
            let mut change_ids: Vec<&str> =
                recipients.iter().map(|r| r.change_id.as_str()).collect();
            let kind = if to.len() == 1 {
                SendKind::Push
            } else {
                SendKind::Multicast
            };
            change_ids.sort_unstable();
            out.push(PlannedMessage {
                kind,
                retry_key: retry_key(segment, op, &change_ids, &canonical),
                to,
                entries,
                messages: messages.clone(),
            });
        }
    }
    out
}

/// A UUID (RFC 4122 layout, version 8 "custom": the bits come from SHA-256) of the segment,
/// the change kind, the sorted change IDs and the messages' JSON: the same request planned
/// again gets the same key, any difference in what it sends a different one.
pub fn retry_key(
    segment: &str,
    op: ChangeKind,
    sorted_change_ids: &[&str],
    messages: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(b"audience-stream line_message v1\x1e");
    h.update(segment.as_bytes());
    h.update(b"\x1e");
    h.update(match op {
        ChangeKind::Entered => b"entered".as_slice(),
        ChangeKind::Exited => b"exited".as_slice(),
    });
    for id in sorted_change_ids {
        h.update(b"\x1f");
        h.update(id.as_bytes());
    }
    h.update(b"\x1e");
    h.update(messages.as_bytes());
    let digest = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Quiet hours in the rules' time zone: no message between `from` and `to` (local time of
/// day; `from` after `to` spans midnight). Changes that wait longer than `expire` are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// Start, minutes after local midnight.
    pub from_minute: u32,
    /// End, minutes after local midnight.
    pub to_minute: u32,
    /// How long a held change may wait, ms.
    pub expire_ms: Millis,
}

/// What quiet hours say about sending now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuietDecision {
    /// Send.
    Send,
    /// Hold until about this instant (epoch ms; the next local `to`).
    HoldUntil(Millis),
}

const MINUTE_MS: Millis = 60_000;
const DAY_MS: Millis = 86_400_000;

/// Reads `HH:MM` (00:00–23:59) as minutes after midnight.
pub fn parse_clock(text: &str) -> Result<u32, String> {
    let bad = || format!("`{text}` is not a time of day HH:MM (00:00–23:59)");
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl QuietHours {
    /// Whether to send at `now` in `zone`.
    pub fn decide(&self, now: Millis, zone: &Zone) -> QuietDecision {
        let local = now.saturating_add(zone.offset_ms(now)).rem_euclid(DAY_MS);
        let minute = (local / MINUTE_MS) as u32;
        let (from, to) = (self.from_minute, self.to_minute);
        let quiet = if from <= to {
            minute >= from && minute < to
        } else {
            minute >= from || minute < to
        };
        if !quiet || from == to {
            return QuietDecision::Send;
        }
        let to_ms = Millis::from(to) * MINUTE_MS;
        let wait = (to_ms - local).rem_euclid(DAY_MS);
        QuietDecision::HoldUntil(now.saturating_add(wait))
    }

    /// Whether a change made at `at` waited too long to be sent at `now`.
    pub fn expired(&self, at: Millis, now: Millis) -> bool {
        now.saturating_sub(at) > self.expire_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn value_of<'a>(map: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            map.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn templates_fill_values_and_fallbacks() {
        let t = Template::parse("Hi {{ name }}, {{tier|friend}}! {{city|}}.").unwrap();
        assert_eq!(
            t.render(&value_of(&[("name", "Aiko"), ("tier", "gold")])),
            Ok("Hi Aiko, gold! .".into())
        );
        assert_eq!(
            t.render(&value_of(&[("name", "Aiko")])),
            Ok("Hi Aiko, friend! .".into())
        );
        assert_eq!(t.render(&value_of(&[])), Err("name".into()));
        let fields: Vec<(&str, bool)> = t.fields().collect();
        assert_eq!(
            fields,
            vec![("name", false), ("tier", true), ("city", true)]
        );
    }

    #[test]
    fn bad_templates_are_refused() {
        assert!(Template::parse("Hi {{name")
            .unwrap_err()
            .contains("closing"));
        assert!(Template::parse("Hi {{ |x}}")
            .unwrap_err()
            .contains("attribute name"));
        assert!(Template::parse("").is_err());
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        assert!(MessageSpec::read(&json!(long))
            .unwrap_err()
            .contains("5000"));
        assert!(read_messages(&[]).is_err());
        assert!(read_messages(&vec![json!("a"); 6])
            .unwrap_err()
            .contains("not 6"));
    }

    #[test]
    fn message_objects_are_checked_against_lines_shape() {
        let flex = json!({"type": "flex", "altText": "Coupon", "contents": {"type": "bubble"}});
        assert!(check_message_object(&flex).is_ok());
        assert!(check_message_object(&json!({"type": "flex", "altText": "x"})).is_err());
        assert!(check_message_object(&json!({"type": "flex", "contents": {}})).is_err());
        assert!(check_message_object(&json!({"type": "fax"}))
            .unwrap_err()
            .contains("unknown"));
        assert!(check_message_object(&json!({"text": "no type"})).is_err());
        assert!(check_message_object(&json!({"type": "text", "text": ""})).is_err());
        let big = json!({"type": "sticker", "x": "y".repeat(MAX_OBJECT_BYTES)});
        assert!(check_message_object(&big).unwrap_err().contains("bytes"));
    }

    #[test]
    fn rendering_never_leaves_a_hole_or_breaks_the_limit() {
        let specs = read_messages(&[json!("Hi {{name}}")]).unwrap();
        assert!(render(&specs, &value_of(&[]))
            .unwrap_err()
            .contains("`name`"));
        let long = "y".repeat(MAX_TEXT_CHARS);
        assert!(render(&specs, &value_of(&[("name", long.as_str())]))
            .unwrap_err()
            .contains("characters"));
        assert_eq!(
            render(&specs, &value_of(&[("name", "Aiko")])).unwrap(),
            vec![json!({"type": "text", "text": "Hi Aiko"})]
        );
    }

    fn recipient(i: usize, id: &str) -> Recipient {
        Recipient {
            entry: i,
            change_id: format!("c{i}"),
            line_user_id: id.to_string(),
        }
    }

    #[test]
    fn same_messages_multicast_in_500s_and_single_recipients_push() {
        let same = vec![json!({"type": "text", "text": "hi"})];
        let mut rendered: Vec<(Recipient, Vec<Value>)> = (0..1001)
            .map(|i| (recipient(i, &format!("U{i:032x}")), same.clone()))
            .collect();
        rendered.push((
            recipient(2000, "Uaaaa"),
            vec![json!({"type": "text", "text": "personal"})],
        ));
        let plan = plan_messages("vip", ChangeKind::Entered, rendered);
        let sizes: Vec<(SendKind, usize)> = plan.iter().map(|p| (p.kind, p.to.len())).collect();
        assert_eq!(
            sizes,
            vec![
                (SendKind::Multicast, 500),
                (SendKind::Multicast, 500),
                (SendKind::Push, 1),
                (SendKind::Push, 1)
            ]
        );
        assert_eq!(plan[3].entries, vec![2000]);
        let keys: std::collections::BTreeSet<&str> =
            plan.iter().map(|p| p.retry_key.as_str()).collect();
        assert_eq!(keys.len(), 4);
    }

    #[test]
    fn entries_sharing_a_line_id_ride_one_request() {
        let m = vec![json!({"type": "text", "text": "hi"})];
        let plan = plan_messages(
            "vip",
            ChangeKind::Entered,
            vec![(recipient(0, "Ua"), m.clone()), (recipient(1, "Ua"), m)],
        );
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].kind, SendKind::Push);
        assert_eq!(plan[0].entries, vec![0, 1]);
    }

    #[test]
    fn retry_keys_are_uuids_of_what_is_sent() {
        let k = retry_key("vip", ChangeKind::Entered, &["a", "b"], "[1]");
        assert_eq!(k.len(), 36);
        assert_eq!(&k[14..15], "8");
        assert!(matches!(&k[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(k, retry_key("vip", ChangeKind::Entered, &["a", "b"], "[1]"));
        assert_ne!(k, retry_key("vip", ChangeKind::Exited, &["a", "b"], "[1]"));
        assert_ne!(k, retry_key("vip", ChangeKind::Entered, &["a"], "[1]"));
        assert_ne!(k, retry_key("vip", ChangeKind::Entered, &["a", "b"], "[2]"));
        assert_ne!(k, retry_key("vap", ChangeKind::Entered, &["a", "b"], "[1]"));
    }

    #[test]
    fn quiet_hours_hold_until_the_local_end_and_span_midnight() {
        let tokyo = Zone::named("Asia/Tokyo").unwrap();
        let q = QuietHours {
            from_minute: parse_clock("22:00").unwrap(),
            to_minute: parse_clock("08:00").unwrap(),
            expire_ms: DAY_MS,
        };
        // 2025-12-01T14:00Z = 23:00 in Tokyo: held until 08:00 Tokyo = 23:00Z.
        let at = 1_764_597_600_000;
        assert_eq!(
            q.decide(at, &tokyo),
            QuietDecision::HoldUntil(at + 9 * 3_600_000)
        );
        // 03:00Z = 12:00 Tokyo: send.
        assert_eq!(q.decide(at + 13 * 3_600_000, &tokyo), QuietDecision::Send);
        assert!(q.expired(0, DAY_MS + 1));
        assert!(!q.expired(0, DAY_MS));
        assert!(parse_clock("24:00").is_err());
        assert!(parse_clock("7:00").is_err());
    }
}
