//! Input formats: Segment-spec calls and mapped JSON read into the same event model as
//! Pinpoint events — the same segments come out of the shipped fixtures in all three forms.

use crate::util::{clock, rules, NOW};
use audience_core::decode::fingerprint;
use audience_core::record::{Payload, RawRecord, RecordId};
use audience_core::{apply, decode_record, Clock, DecodeOptions, DecodedEvent, Rules, UserState};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

fn raw(value: &Value, seq: usize) -> RawRecord {
    RawRecord {
        id: RecordId::new("s", seq.to_string()),
        payload: Payload::Json(serde_json::to_vec(value).unwrap_or_default()),
        arrival_ms: None,
    }
}

fn decode(value: &Value, opts: &DecodeOptions) -> Result<DecodedEvent, String> {
    decode_record(&raw(value, 1), opts, clock()).map_err(|e| format!("{} | {e}", e.kind.reason()))
}

fn iso(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(UtcOffset::from_hms(9, 0, 0).unwrap_or(UtcOffset::UTC));
    t.format(&Rfc3339).unwrap_or_default()
}

#[test]
fn a_segment_track_call_reads_as_an_event_with_traits_properties_and_its_message_id() {
    let call = json!({
        "type": "track", "event": "Order Completed", "userId": "u-1", "anonymousId": "anon-1",
        "messageId": "m-1", "timestamp": iso(NOW - 3_600_000),
        "receivedAt": iso(NOW - 3_599_000),
        "properties": {"revenue": 1200.5, "currency": "JPY", "gift": true, "items": [1, 2]},
        "context": {"traits": {"pref": "兵庫県", "tags": ["a", "b"], "address": {"city": "Kobe"}}}
    });
    let ev = decode(&call, &DecodeOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ev.key.id, "u-1");
    assert_eq!(ev.event.event_type, "Order Completed");
    assert_eq!(ev.event.event_timestamp, NOW - 3_600_000);
    assert_eq!(ev.event.arrival_timestamp, Some(NOW - 3_599_000));
    assert_eq!(ev.event.metrics.get("revenue"), Some(&1200.5));
    assert_eq!(
        ev.event.attributes.get("currency").map(String::as_str),
        Some("JPY")
    );
    assert_eq!(
        ev.event.attributes.get("gift").map(String::as_str),
        Some("true")
    );
    assert!(
        !ev.event.attributes.contains_key("items"),
        "arrays are not read"
    );
    let endpoint = ev
        .event
        .endpoint
        .as_ref()
        .unwrap_or_else(|| panic!("no endpoint"));
    assert_eq!(
        endpoint.attributes.get("pref"),
        Some(&vec!["兵庫県".to_string()])
    );
    let user = endpoint.user.as_ref().unwrap_or_else(|| panic!("no user"));
    assert_eq!(
        user.user_attributes.get("tags"),
        Some(&vec!["a".into(), "b".into()])
    );
    assert!(!user.user_attributes.contains_key("address"));
    // anonymousId → userId is an identity link, as endpoint → user.
    let opts = DecodeOptions::default();
    assert_eq!(
        ev.links(&opts),
        vec![("anon-1".to_string(), "u-1".to_string())]
    );

    // The same messageId under another record and arrival is the same event; another is not.
    let mut again = call.clone();
    again["receivedAt"] = json!(iso(NOW));
    let again = decode(&again, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.fingerprint, ev.fingerprint);
    let mut other = call.clone();
    other["messageId"] = json!("m-2");
    assert_ne!(
        decode(&other, &opts).map(|e| e.fingerprint),
        Ok(ev.fingerprint)
    );
}

#[test]
fn identify_and_alias_update_the_profile_without_counting_as_activity() {
    let r = rules(
        r#"
segments:
  - id: gold
    condition: { user_attribute: { name: plan, eq: gold } }
  - id: active
    condition: { last_seen: { event_type: "*", newer_than: 7d } }
"#,
    );
    let identify = json!({
        "type": "identify", "userId": "u-9", "timestamp": iso(NOW - 1000),
        "messageId": "i-1", "traits": {"plan": "gold"}
    });
    let alias = json!({
        "type": "alias", "userId": "u-9", "previousId": "anon-9",
        "timestamp": iso(NOW - 500), "messageId": "a-1"
    });
    let ident = decode(&identify, &r.decode).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ident.event.event_type, "_identify");
    let alias = decode(&alias, &r.decode).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        alias.links(&r.decode),
        vec![("anon-9".into(), "u-9".into())]
    );
    let out = apply(&UserState::new("u-9"), &[ident, alias], &r, NOW);
    let members: Vec<&String> = out.state.memberships.keys().collect();
    assert_eq!(
        members,
        vec!["gold"],
        "identify sets traits; neither call is activity"
    );
}

#[test]
fn segment_calls_that_cannot_be_read_are_set_aside_with_the_field_named() {
    let opts = DecodeOptions::default();
    let cases = [
        (
            json!({"type": "track", "userId": "u", "timestamp": iso(NOW)}),
            "wrong_type | record s:1: field `event`",
        ),
        (
            json!({"type": "track", "event": "x", "userId": "u", "timestamp": "yesterday"}),
            "wrong_type | record s:1: field `timestamp`",
        ),
        (
            json!({"type": "track", "event": "x", "timestamp": iso(NOW)}),
            "no_user_key",
        ),
        (
            json!({"type": "track", "event": "x", "userId": ["u"], "timestamp": iso(NOW)}),
            "wrong_type | record s:1: field `userId`",
        ),
        (json!({"type": "group", "groupId": "g"}), "unknown_format"),
        (json!({"hello": "world"}), "unknown_format"),
        (
            json!({"type": "track", "event": "x", "userId": "u", "timestamp": iso(NOW), "properties": {"n": 1e300}}),
            "value_out_of_range",
        ),
        (
            json!({"type": "track", "event": "x", "userId": "u", "timestamp": "2100-01-01T00:00:00Z"}),
            "time_out_of_range",
        ),
    ];
    for (doc, want) in cases {
        let got = decode(&doc, &opts).map(|e| e.event.event_type).unwrap_err();
        assert!(got.starts_with(want), "{doc}: got `{got}`, want `{want}…`");
    }
    // Declared `pinpoint`: a Segment call is not read.
    let pinpoint_only = rules(&format!(
        "settings: {{ input: {{ format: pinpoint }} }}\n{ANY}"
    ));
    let call = json!({"type": "track", "event": "x", "userId": "u", "timestamp": iso(NOW)});
    assert!(decode(&call, &pinpoint_only.decode)
        .unwrap_err()
        .starts_with("wrong_type"));
    // A Pinpoint event with a wrong field still names that field under `auto`.
    let bad = json!({"event_type": "x", "event_timestamp": "soon"});
    let err = decode(&bad, &opts).unwrap_err();
    assert!(err.contains("event_timestamp"), "{err}");
}

/// A rules file needs a segment.
const ANY: &str =
    "segments: [{ id: any, condition: { last_seen: { event_type: \"*\", newer_than: 1d } } }]\n";

const MAPPING: &str = r#"
settings:
  input:
    format: mapped
    mapping:
      user_id: /who/id
      anonymous_id: /who/device
      event_type: /what
      time: /at
      time_format: epoch_s
      arrival_time: /received
      event_id: /id
      attributes: { _currency: /props/currency, _product_id: /props/product }
      metrics: { _item_price: /nums/price, _quantity: /nums/qty }
      user_attributes: { pref: /who/traits/pref, plan: /who/traits/plan }
      line_user_id: /who/line
"#;

#[test]
fn a_declared_mapping_reads_any_json_and_names_the_path_that_is_wrong() {
    let r = rules(&format!("{MAPPING}{ANY}"));
    let doc = json!({
        "who": {"id": 42, "device": "d-1", "line": "U4239fc7c63bf2315a140cbf1052291ef",
                "traits": {"pref": "兵庫県", "plan": ["gold", "vip"]}},
        "what": "_monetization.purchase", "at": (NOW - 2500) as f64 / 1000.0,
        "received": (NOW - 1000) / 1000, "id": "evt-1",
        "props": {"currency": "JPY"}, "nums": {"price": 980, "qty": 2}
    });
    let ev = decode(&doc, &r.decode).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ev.key.id, "42");
    assert_eq!(ev.event.event_timestamp, NOW - 2500);
    assert_eq!(ev.event.arrival_timestamp, Some(NOW - 1000));
    assert_eq!(ev.event.metrics.get("_quantity"), Some(&2.0));
    assert_eq!(
        ev.event.attributes.get("_currency").map(String::as_str),
        Some("JPY")
    );
    assert!(
        !ev.event.attributes.contains_key("_product_id"),
        "absent paths are left out"
    );
    assert_eq!(
        ev.line_user_id(&r.decode),
        Some("U4239fc7c63bf2315a140cbf1052291ef")
    );
    let user = ev.event.endpoint.as_ref().and_then(|e| e.user.as_ref());
    assert_eq!(
        user.and_then(|u| u.user_attributes.get("plan"))
            .map(Vec::len),
        Some(2)
    );

    let mut bad = doc.clone();
    bad["nums"]["qty"] = json!("two");
    let err = decode(&bad, &r.decode).unwrap_err();
    assert!(
        err.starts_with("wrong_type") && err.contains("/nums/qty"),
        "{err}"
    );
    let mut bad = doc.clone();
    bad.as_object_mut().map(|o| o.remove("at"));
    let err = decode(&bad, &r.decode).unwrap_err();
    assert!(err.contains("/at"), "{err}");
}

#[test]
fn a_mapping_is_checked_when_the_rules_load() {
    let cases = [
        ("settings: { input: { format: mapped } }", "needs a `mapping`"),
        ("settings: { input: { mapping: { event_type: /t, time: /t } } }", "`user_id` or `anonymous_id`"),
        ("settings: { input: { mapping: { user_id: user.id, event_type: /t, time: /t } } }", "not a JSON Pointer"),
        ("settings: { input: { mapping: { user_id: /u, time: /t } } }", "`event_type` (a path) or `event_type_value`"),
        ("settings: { input: { mapping: { user_id: /u, event_type: /e, time: /t, metrics: { m: /a~2 } } } }", "~"),
        ("settings: { input: { format: csv } }", "unknown variant `csv`"),
    ];
    for (settings, want) in cases {
        let text = format!("{settings}\n{ANY}");
        let err = Rules::load(&text, "r.yaml")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{settings}: got `{err}`, want `{want}`");
    }
}

/// The shipped fixture events as Pinpoint events, and converted to Segment calls and to a
/// mapped JSON shape.
struct ThreeForms {
    pinpoint: Vec<Value>,
    segment: Vec<Value>,
    mapped: Vec<Value>,
}

fn three_forms() -> ThreeForms {
    let text = include_str!("../../../../fixtures/events.jsonl");
    let mut forms = ThreeForms {
        pinpoint: vec![],
        segment: vec![],
        mapped: vec![],
    };
    let opts = DecodeOptions::default();
    for (i, line) in text.lines().enumerate() {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {i}: {e}"));
        // Read the Pinpoint event as the decoder does (campaign events embed their endpoint).
        let Ok(ev) = decode_record(&raw(&value, i), &opts, Clock::at(i64::MAX / 4)) else {
            continue;
        };
        let e = &ev.event;
        let endpoint = e.endpoint.clone().unwrap_or_default();
        let user = endpoint.user.clone().unwrap_or_default();
        let anonymous = endpoint.id.clone().or_else(|| e.client.client_id.clone());
        let mut traits = Map::new();
        for (k, v) in endpoint
            .attributes
            .iter()
            .chain(user.user_attributes.iter())
        {
            traits.insert(k.clone(), json!(v));
        }
        let id = format!("{:016x}", fingerprint(e));
        let mut props = Map::new();
        for (k, v) in &e.attributes {
            props.insert(k.clone(), json!(v));
        }
        for (k, v) in &e.metrics {
            props.insert(k.clone(), json!(v));
        }
        forms.segment.push(json!({
            "type": "track", "event": e.event_type, "userId": user.user_id,
            "anonymousId": anonymous, "messageId": id, "timestamp": iso(e.event_timestamp),
            "receivedAt": e.arrival_timestamp.map(iso), "properties": props,
            "context": {"traits": traits}
        }));
        forms.mapped.push(json!({
            "who": {"id": user.user_id, "device": anonymous, "traits": traits,
                    "line": user.user_attributes.get("lineUserId").and_then(|v| v.first())},
            "what": e.event_type, "at": e.event_timestamp as f64 / 1000.0,
            "received": e.arrival_timestamp.map(|t| t as f64 / 1000.0), "id": id,
            "props": {"currency": e.attributes.get("_currency"), "product": e.attributes.get("_product_id")},
            "nums": {"price": e.metrics.get("_item_price"), "qty": e.metrics.get("_quantity")}
        }));
        forms.pinpoint.push(value);
    }
    forms
}

/// Decodes, groups by user key and applies in one batch per user; returns each user's
/// segments at the newest event time.
fn memberships(events: &[Value], r: &Rules) -> BTreeMap<String, BTreeSet<String>> {
    let mut decoded: Vec<DecodedEvent> = Vec::new();
    for (i, v) in events.iter().enumerate() {
        let ev = decode_record(&raw(v, i), &r.decode, Clock::at(i64::MAX / 4))
            .unwrap_or_else(|e| panic!("{e}"));
        decoded.push(ev);
    }
    let now = decoded
        .iter()
        .map(|e| e.event.event_timestamp)
        .max()
        .unwrap_or(NOW);
    let mut by_user: BTreeMap<String, Vec<DecodedEvent>> = BTreeMap::new();
    for ev in decoded {
        by_user.entry(ev.key.id.clone()).or_default().push(ev);
    }
    by_user
        .into_iter()
        .map(|(user, evs)| {
            let out = apply(&UserState::new(user.clone()), &evs, r, now);
            (user, out.state.memberships.keys().cloned().collect())
        })
        .collect()
}

#[test]
fn the_shipped_fixtures_give_the_same_segments_as_pinpoint_segment_and_mapped_events() {
    let shipped = include_str!("../../../../fixtures/segments.yaml");
    let pinpoint_rules = rules(shipped);
    let segment_rules = rules(&format!(
        "settings: {{ input: {{ format: segment }} }}\n{shipped}"
    ));
    let mapped_rules = rules(&format!("{MAPPING}{shipped}"));
    let forms = three_forms();
    assert!(
        forms.pinpoint.len() > 2500,
        "{} fixture events",
        forms.pinpoint.len()
    );

    let from_pinpoint = memberships(&forms.pinpoint, &pinpoint_rules);
    let from_segment = memberships(&forms.segment, &segment_rules);
    let from_mapped = memberships(&forms.mapped, &mapped_rules);
    let mut per_segment: BTreeMap<&str, usize> = BTreeMap::new();
    for segs in from_pinpoint.values() {
        for s in segs {
            *per_segment.entry(s.as_str()).or_default() += 1;
        }
    }
    for seg in [
        "hyogo",
        "recent-buyers",
        "big-spenders",
        "line-linked",
        "hyogo-line-buyers",
    ] {
        assert!(
            per_segment.get(seg).copied().unwrap_or(0) > 0,
            "no member of {seg}: {per_segment:?}"
        );
    }
    assert_eq!(from_segment, from_pinpoint, "Segment-spec form");
    assert_eq!(from_mapped, from_pinpoint, "mapped form");
}
