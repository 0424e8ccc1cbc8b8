//! Property tests of the transition: idempotency, order independence, time flips, window
//! bounds and rules-change diffs.

use crate::util::*;
use audience_core::{apply, reevaluate, Cause, ChangeKind, DecodedEvent, UserState};
use proptest::prelude::*;

const RULES: &str = "segments:
  - id: buyer
    condition: { event_count: { event_type: _monetization.purchase, within: 30d, min: 1 } }
  - id: spender
    condition: { metric_sum: { event_type: _monetization.purchase, metric: _item_price * _quantity, within: 90d, min: 5000 } }
  - id: dormant
    condition: { last_seen: { event_type: _session.start, older_than: 14d } }
  - id: active
    condition: { last_seen: { newer_than: 3d } }
  - id: hyogo-buyer
    condition: { all: [ { endpoint_attribute: { name: pref, eq: 兵庫県 } }, { in_segment: buyer } ] }
";

fn arb_events() -> impl Strategy<Value = Vec<DecodedEvent>> {
    let one = (0u8..3, 0i64..120, 1u32..5, 0u8..2, 0u8..3);
    prop::collection::vec(one, 1..30).prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (kind, days_ago, qty, pref, shard))| {
                let t = NOW - days_ago * DAY - (i as i64) * 1000;
                let mut ev = match kind {
                    0 => purchase("u1", t, 1000.0, f64::from(qty)),
                    1 => app_event("u1", "_session.start", t),
                    _ => app_event("u1", "view", t),
                };
                ev["endpoint"]["Attributes"]["pref"] =
                    serde_json::json!([if pref == 0 { "兵庫県" } else { "大阪府" }]);
                decoded(&ev, &format!("shard-{shard}"), i as u64 + 1)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn applying_twice_equals_applying_once(events in arb_events()) {
        let r = rules(RULES);
        let once = apply(&UserState::new("u1"), &events, &r, NOW);
        let twice = apply(&once.state, &events, &r, NOW);
        prop_assert_eq!(&twice.state, &once.state);
        prop_assert!(twice.changes.is_empty());
        prop_assert!(!twice.is_dirty(&once.state), "a redelivery must need no write");
        // Every event that was counted is recognised; the others are re-applied as no-ops.
        let counted = once.state.counted.values().map(Vec::len).sum::<usize>();
        prop_assert_eq!(twice.duplicates.len(), counted);
        // The same records twice inside one batch count once too.
        let mut doubled = events.clone();
        doubled.extend(events.iter().cloned());
        let in_one = apply(&UserState::new("u1"), &doubled, &r, NOW);
        prop_assert_eq!(&in_one.state, &once.state);
    }

    #[test]
    fn order_inside_a_batch_does_not_matter(events in arb_events(), seed in any::<u64>()) {
        let r = rules(RULES);
        let mut shuffled = events.clone();
        // Deterministic Fisher–Yates from the seed.
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let a = apply(&UserState::new("u1"), &events, &r, NOW);
        let b = apply(&UserState::new("u1"), &shuffled, &r, NOW);
        prop_assert_eq!(a.state, b.state);
        prop_assert_eq!(a.changes, b.changes);
    }

    #[test]
    fn nothing_flips_before_next_flip_at_and_time_exits_come_then(events in arb_events(), frac in 0.0f64..1.0) {
        let r = rules(RULES);
        let out = apply(&UserState::new("u1"), &events, &r, NOW);
        if let Some(flip) = out.state.next_flip_at {
            prop_assert!(flip > NOW);
            // Any instant before the flip: no change.
            let before = NOW + ((flip - NOW - 1) as f64 * frac) as i64;
            let (_, early) = reevaluate(&out.state, &r, before, Cause::Time);
            prop_assert!(early.is_empty(), "changed at {} before flip {}: {:?}", before, flip, early);
            // At the flip: whatever changes is caused by time alone and equals a fresh evaluation.
            let (at_state, at_flip) = reevaluate(&out.state, &r, flip, Cause::Time);
            let fresh = apply(&UserState::new("u1"), &events, &r, flip);
            let fresh_members: Vec<_> = fresh.state.memberships.keys().collect();
            let at_members: Vec<_> = at_state.memberships.keys().collect();
            prop_assert_eq!(at_members, fresh_members);
            prop_assert!(at_flip.iter().all(|c| c.cause == Cause::Time));
        }
    }

    #[test]
    fn events_older_than_the_longest_window_change_no_aggregate(events in arb_events(), age in 91i64..400) {
        let r = rules(RULES);
        let base = apply(&UserState::new("u1"), &events, &r, NOW);
        let old = decoded(&purchase("u1", NOW - age * DAY, 99_999.0, 3.0), "shard-old", 1);
        let with_old = apply(&base.state, &[old], &r, NOW);
        prop_assert_eq!(&with_old.state.aggs, &base.state.aggs);
        prop_assert!(with_old.changes.iter().all(|c| c.segment != "spender" && c.segment != "buyer"));
    }

    #[test]
    fn a_changed_rules_file_yields_the_enter_exit_diff(events in arb_events(), threshold in 1000u32..20000) {
        let old = rules(RULES);
        let new_text = RULES.replace("min: 5000", &format!("min: {threshold}"));
        let new = rules(&new_text);
        let stored = apply(&UserState::new("u1"), &events, &old, NOW).state;
        let (after, diff) = reevaluate(&stored, &new, NOW, Cause::Rules);
        let fresh = apply(&UserState::new("u1"), &events, &new, NOW).state;
        prop_assert_eq!(&after.memberships.keys().collect::<Vec<_>>(), &fresh.memberships.keys().collect::<Vec<_>>());
        for c in &diff {
            prop_assert_eq!(&c.segment, "spender");
            let was = stored.memberships.contains_key("spender");
            prop_assert_eq!(c.kind == ChangeKind::Entered, !was);
        }
    }
}

fn arb_extreme_event() -> impl Strategy<Value = serde_json::Value> {
    let time = prop_oneof![
        Just(i64::MIN),
        Just(i64::MAX),
        Just(0i64),
        any::<i64>(),
        (NOW - 500 * DAY)..(NOW + 3 * DAY),
    ];
    let number = prop_oneof![
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(1e300),
        Just(-1e15),
        Just(1e15),
        any::<f64>(),
        -1e16f64..1e16,
    ];
    let kind = prop_oneof![
        Just("_monetization.purchase".to_string()),
        Just("_session.start".to_string()),
        "[a-z._]{1,12}",
    ];
    (time, number.clone(), number, kind, 0usize..600).prop_map(|(t, price, qty, kind, key_len)| {
        let user = if key_len > 512 {
            "k".repeat(key_len)
        } else {
            format!("u{key_len}")
        };
        let mut e = purchase(&user, t, 1.0, 1.0);
        e["event_type"] = serde_json::json!(kind);
        // serde_json writes non-finite floats as null (a typed error at decode).
        e["metrics"] = serde_json::json!({"_item_price": price, "_quantity": qty});
        e
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn splitting_a_batch_anywhere_gives_the_same_result(events in arb_events(), at in 0usize..30) {
        let r = rules(RULES);
        let k = at.min(events.len());
        let whole = apply(&UserState::new("u1"), &events, &r, NOW);
        let first = apply(&UserState::new("u1"), &events[..k], &r, NOW);
        let second = apply(&first.state, &events[k..], &r, NOW);
        prop_assert_eq!(&second.state, &whole.state);
        let mut entered: Vec<_> = first.changes.iter().chain(&second.changes)
            .filter(|c| c.kind == ChangeKind::Entered).map(|c| c.segment.clone()).collect();
        entered.sort();
        let mut exited: Vec<_> = first.changes.iter().chain(&second.changes)
            .filter(|c| c.kind == ChangeKind::Exited).map(|c| c.segment.clone()).collect();
        exited.sort();
        // Net membership changes agree (a split may enter and exit in between; never both net).
        for seg in whole.state.memberships.keys() {
            let net = entered.iter().filter(|s| *s == seg).count() as i64
                - exited.iter().filter(|s| *s == seg).count() as i64;
            prop_assert_eq!(net, 1, "segment {}", seg);
        }
    }

    #[test]
    fn extreme_values_are_set_aside_or_stored_finite(events in prop::collection::vec(arb_extreme_event(), 1..8), now_days in -2i64..3) {
        let r = rules(RULES);
        let opts = audience_core::DecodeOptions::default();
        let mut accepted = Vec::new();
        for (i, e) in events.iter().enumerate() {
            let raw = audience_core::RawRecord {
                id: audience_core::RecordId::new("s", i.to_string()),
                payload: audience_core::Payload::Json(serde_json::to_vec(e).unwrap()),
                arrival_ms: None,
            };
            if let Ok(ev) = audience_core::decode_record(&raw, &opts, clock()) {
                prop_assert!(ev.event.metrics.values().all(|v| v.is_finite() && v.abs() <= 1e15));
                accepted.push(ev);
            }
        }
        let mut by_user: std::collections::BTreeMap<String, Vec<DecodedEvent>> = Default::default();
        for ev in accepted {
            by_user.entry(ev.key.id.clone()).or_default().push(ev);
        }
        for (user, evs) in by_user {
            let out = apply(&UserState::new(&user), &evs, &r, NOW);
            prop_assert!(out.state.is_sane());
            let bytes = audience_core::encode_state(&out.state);
            prop_assert_eq!(audience_core::decode_state(&bytes).unwrap(), out.state.clone());
            let (later, _) = reevaluate(&out.state, &r, NOW + now_days * 200 * DAY, Cause::Time);
            prop_assert!(later.is_sane());
        }
    }
}
