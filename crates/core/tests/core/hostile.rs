//! Hostile values: valid JSON that is absurd (inf products, years 2100 and i64::MIN, 2 KB keys,
//! forged LINE identities, the same event twice under new sequence numbers, thousands of event
//! types, a heavy user) is set aside at decode or bounded in state, never stored non-finite.

use crate::util::*;
use audience_core::codec::{decode_state, encode_state};
use audience_core::record::{Payload, RawRecord, RecordId};
use audience_core::signature::{sign_line_event, RecordKey};
use audience_core::{
    apply, decode_record, reevaluate, Cause, Clock, DecodeOptions, LineIdSource, UserState,
};
use serde_json::{json, Value};

fn raw(value: &Value, seq: u64, arrival: Option<i64>) -> RawRecord {
    RawRecord {
        id: RecordId::new("shardId-000000000001", seq.to_string()),
        payload: Payload::Json(serde_json::to_vec(value).unwrap()),
        arrival_ms: arrival,
    }
}

fn reason_of(value: &Value, opts: &DecodeOptions) -> String {
    match decode_record(&raw(value, 1, None), opts, clock()) {
        Ok(_) => "accepted".to_string(),
        Err(e) => e.kind.reason().to_string(),
    }
}

const SHIPPED: &str = include_str!("../../../../fixtures/segments.yaml");

#[test]
fn absurd_metrics_are_set_aside_and_products_saturate() {
    let opts = DecodeOptions::default();
    assert_eq!(
        reason_of(&purchase("u", NOW, 1e300, 1e10), &opts),
        "value_out_of_range"
    );
    assert_eq!(
        reason_of(&purchase("u", NOW, -2e15, 1.0), &opts),
        "value_out_of_range"
    );
    // serde_json refuses numbers beyond f64 (1e400) outright: the record is not JSON.
    let text = serde_json::to_string(&purchase("u", NOW, 1.0, 1.0))
        .unwrap()
        .replace("\"_item_price\":1.0", "\"_item_price\":1e400");
    let r = RawRecord {
        id: RecordId::new("s", "1"),
        payload: Payload::Json(text.into_bytes()),
        arrival_ms: None,
    };
    assert!(decode_record(&r, &opts, clock()).is_err());
    // The largest accepted values: products and sums saturate and stay finite.
    let rules = rules(SHIPPED);
    let big: Vec<_> = (0..3)
        .map(|i| decoded(&purchase("u", NOW - i * 1000, 1e15, 1e15), "s", i as u64))
        .collect();
    let out = apply(&UserState::new("u"), &big, &rules, NOW);
    assert!(out.state.is_sane());
    let sum: f64 = out
        .state
        .aggs
        .values()
        .flat_map(|d| d.values())
        .map(|b| b.1)
        .sum();
    assert!(sum.is_finite() && sum > 0.0);
    assert!(out.state.memberships.contains_key("big-spenders"));
    let back = decode_state(&encode_state(&out.state)).unwrap();
    assert_eq!(back, out.state);
}

#[test]
fn times_far_from_arrival_are_set_aside_without_overflow() {
    let opts = DecodeOptions::default();
    let year_2100 = 4_102_444_800_000;
    assert_eq!(
        reason_of(&app_event("u", "_session.start", year_2100), &opts),
        "time_out_of_range"
    );
    for t in [i64::MIN, i64::MAX, 0, -1] {
        let mut e = app_event("u", "_session.start", t);
        e["arrival_timestamp"] = json!(t);
        // An arrival as absurd as the event time does not vouch for it: the wall clock bounds
        // the future, and 1970 or i64::MIN is far behind any plausible arrival.
        let got = decode_record(&raw(&e, 1, Some(NOW)), &opts, clock());
        assert_eq!(
            got.unwrap_err().kind.reason(),
            "time_out_of_range",
            "t = {t}"
        );
    }
    // An event a device buffered for 20 days is fine; 500 days is not.
    let mut late = app_event("u", "_session.start", NOW - 20 * DAY);
    late["arrival_timestamp"] = json!(NOW);
    assert_eq!(reason_of(&late, &opts), "accepted");
    late["event_timestamp"] = json!(NOW - 500 * DAY);
    assert_eq!(reason_of(&late, &opts), "time_out_of_range");
    // A replay of old files evaluates in the past (now) while the wall clock is later.
    let old = app_event("u", "_session.start", NOW - 400 * DAY);
    let replay = Clock {
        now: NOW - 399 * DAY,
        wall: NOW,
    };
    assert!(decode_record(&raw(&old, 1, None), &opts, replay).is_ok());
}

#[test]
fn evaluation_at_extreme_instants_does_not_panic() {
    let rules = rules(SHIPPED);
    let events = vec![decoded(&purchase("u", NOW, 5000.0, 3.0), "s", 1)];
    let state = apply(&UserState::new("u"), &events, &rules, NOW).state;
    for now in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
        let (next, _) = reevaluate(&state, &rules, now, Cause::Time);
        assert!(next.is_sane());
        let _ = audience_core::explain(&next, &rules, 0, now);
    }
}

#[test]
fn keys_over_the_limit_are_set_aside() {
    let opts = DecodeOptions::default();
    let long = "k".repeat(2_100);
    assert_eq!(
        reason_of(&app_event(&long, "_session.start", NOW), &opts),
        "key_too_long"
    );
    let mut e = app_event("u", "_session.start", NOW);
    e["endpoint"]["Id"] = json!(long);
    assert_eq!(reason_of(&e, &opts), "key_too_long");
    let mut e = app_event("u", "_session.start", NOW);
    e["endpoint"]["Address"] = json!("a".repeat(5_000));
    assert_eq!(reason_of(&e, &opts), "value_too_large");
    let mut e = app_event("u", "_session.start", NOW);
    e["endpoint"]["Attributes"]["pref"] = json!(vec!["x"; 60]);
    assert_eq!(reason_of(&e, &opts), "value_too_large");
}

fn follow(line: &str, key: Option<&RecordKey>) -> Value {
    let client = format!("line:{line}");
    let mut e = json!({
        "event_type": "line.follow", "event_timestamp": NOW, "arrival_timestamp": NOW,
        "client": {"client_id": client},
        "attributes": {"line_user_id": line, "webhook_event_id": "01J0WEBHOOKEVENT"}
    });
    if let Some(k) = key {
        e["audience_stream_signature"] = json!(sign_line_event(
            k,
            "line.follow",
            NOW,
            &client,
            line,
            "01J0WEBHOOKEVENT"
        ));
    }
    e
}

#[test]
fn only_signed_webhook_records_and_declared_sources_set_a_line_id() {
    let line = "U0123456789abcdef0123456789abcdef";
    let key = RecordKey::new(b"record-key-for-tests-0123".to_vec()).unwrap();
    let rules = rules(SHIPPED).with_record_key(key.clone());
    // Unsigned (or wrongly signed) webhook-shaped records are set aside.
    assert_eq!(
        reason_of(&follow(line, None), &rules.decode),
        "untrusted_line_event"
    );
    let other = RecordKey::new(b"some-other-key-0123456789".to_vec()).unwrap();
    assert_eq!(
        reason_of(&follow(line, Some(&other)), &rules.decode),
        "untrusted_line_event"
    );
    // Signed: accepted, and it links the LINE ID.
    let ok = decode_record(
        &raw(&follow(line, Some(&key)), 1, None),
        &rules.decode,
        clock(),
    )
    .unwrap();
    assert!(ok.line_trusted);
    let st = apply(&UserState::new(&ok.key.id), &[ok], &rules, NOW).state;
    assert_eq!(st.active_line_user_id(), Some(line));
    // An app event may not use the `line:` namespace, nor set a LINE ID by event attribute.
    let mut forged = app_event("u", "_session.start", NOW);
    forged["endpoint"]["Id"] = json!(format!("line:{line}"));
    assert_eq!(reason_of(&forged, &rules.decode), "untrusted_line_event");
    let mut app = app_event("u", "custom", NOW);
    app["attributes"] = json!({"line_user_id": line});
    let ev = decode_record(&raw(&app, 2, None), &rules.decode, clock()).unwrap();
    let st = apply(&UserState::new("u"), std::slice::from_ref(&ev), &rules, NOW).state;
    assert_eq!(
        st.line_user_id, None,
        "an event attribute is not a declared source"
    );
    // The operator may opt in to event attributes (trusted backends only).
    let mut opts = rules.clone();
    opts.decode.line_sources.push(LineIdSource::EventAttribute);
    let st = apply(&UserState::new("u"), &[ev], &opts, NOW).state;
    assert_eq!(st.active_line_user_id(), Some(line));
}

#[test]
fn the_same_event_under_new_sequence_numbers_counts_once() {
    let rules = rules(SHIPPED);
    let p = purchase("u", NOW - 1000, 6000.0, 1.0);
    let first = decode_record(&raw(&p, 10, Some(NOW)), &rules.decode, clock()).unwrap();
    // A producer retry: same bytes, new sequence number, later arrival, another shard.
    let mut retry_raw = raw(&p, 99, Some(NOW + 5_000));
    retry_raw.id = RecordId::new("shardId-000000000007", "123456");
    let retry = decode_record(&retry_raw, &rules.decode, Clock::at(NOW + 5_000)).unwrap();
    assert_eq!(first.fingerprint, retry.fingerprint);
    let one = apply(
        &UserState::new("u"),
        std::slice::from_ref(&first),
        &rules,
        NOW,
    );
    // Both in one batch, or the retry in a later batch: one purchase, 6,000 spent.
    let both = apply(
        &UserState::new("u"),
        &[first.clone(), retry.clone()],
        &rules,
        NOW,
    );
    assert_eq!(both.state, one.state);
    assert_eq!(both.duplicates.len(), 1);
    let later = apply(&one.state, &[retry], &rules, NOW + 5_000);
    assert_eq!(later.duplicates.len(), 1);
    assert!(!later.state.memberships.contains_key("big-spenders"));
    // A different purchase (another millisecond) is counted.
    let second = decoded(&purchase("u", NOW - 2000, 6000.0, 1.0), "s", 3);
    assert_ne!(second.fingerprint, first.fingerprint);
    let two = apply(&one.state, &[second], &rules, NOW);
    assert!(two.state.memberships.contains_key("big-spenders"));
}

#[test]
fn thousands_of_event_types_and_endpoints_leave_state_bounded() {
    let rules = rules(SHIPPED);
    let events: Vec<_> = (0..3_000)
        .map(|i| {
            let mut e = app_event("u", &format!("custom.type.{i}"), NOW - i * 1000);
            e["endpoint"]["Id"] = json!(format!("endpoint-{i}"));
            e["endpoint"]["Attributes"] = json!({format!("attr{i}"): ["v"], "pref": ["兵庫県"]});
            decoded(&e, "s", i as u64)
        })
        .collect();
    let st = apply(&UserState::new("u"), &events, &rules, NOW).state;
    assert_eq!(st.last_seen.keys().collect::<Vec<_>>(), vec!["*"]);
    assert_eq!(st.endpoints.len(), audience_core::limits::MAX_ENDPOINTS);
    assert!(
        st.endpoints.contains_key("endpoint-0"),
        "the newest endpoints are kept"
    );
    assert_eq!(st.attrs.keys().collect::<Vec<_>>(), vec!["e:pref"]);
    assert!(
        encode_state(&st).len() < 1_024,
        "{} bytes",
        encode_state(&st).len()
    );
}

#[test]
fn a_heavy_user_stays_within_the_four_kib_budget() {
    // 90 days (the longest window of the shipped rules) of: 12 sessions a day on 8 devices, 2
    // purchases a day, a LINE ID, every shipped segment's attributes; then 400 more days.
    let rules = rules(SHIPPED);
    let mut state = UserState::new("heavy-user-0001");
    for day in 0..490i64 {
        let t0 = NOW - (489 - day) * DAY;
        let mut batch = Vec::new();
        for i in 0..12 {
            let mut e = app_event("heavy-user-0001", "_session.start", t0 + i * 3_600_000);
            e["endpoint"]["Id"] = json!(format!("device-{}", (day + i) % 8));
            e["endpoint"]["User"]["UserAttributes"]["lineUserId"] =
                json!(["U0123456789abcdef0123456789abcdef"]);
            batch.push(decoded(&e, "s", (day * 100 + i) as u64));
        }
        for i in 0..2 {
            let p = purchase("heavy-user-0001", t0 + 40_000_000 + i * 1000, 1980.0, 2.0);
            batch.push(decoded(&p, "s", (day * 100 + 50 + i) as u64));
        }
        state = apply(&state, &batch, &rules, t0 + DAY - 1).state;
    }
    let bytes = encode_state(&state).len();
    let json = serde_json::to_vec(&state).map(|j| j.len()).unwrap_or(0);
    eprintln!("heavy user: {bytes} bytes encoded ({json} bytes as JSON)");
    assert!(bytes <= 4_096, "heavy user state is {bytes} bytes");
    assert!(state.memberships.contains_key("big-spenders"));
    assert_eq!(decode_state(&encode_state(&state)).unwrap(), state);
}
