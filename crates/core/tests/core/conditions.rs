//! One test per condition type, through `apply` and `explain`.

use crate::util::*;
use audience_core::{apply, explain, ChangeKind, UserState};
use serde_json::json;

fn member_after(yaml: &str, events: &[serde_json::Value], now: i64) -> bool {
    let r = rules(yaml);
    let evs: Vec<_> = events
        .iter()
        .enumerate()
        .map(|(i, e)| decoded(e, "s", i as u64 + 1))
        .collect();
    let out = apply(&UserState::new("u1"), &evs, &r, now);
    out.state.memberships.contains_key("a")
}

fn seg(cond: &str) -> String {
    format!("segments:\n  - id: a\n    condition: {cond}\n")
}

#[test]
fn attribute_operators() {
    let ev = [app_event("u1", "x", NOW)];
    let cases = [
        ("{ endpoint_attribute: { name: pref, eq: 兵庫県 } }", true),
        ("{ endpoint_attribute: { name: pref, eq: 東京都 } }", false),
        ("{ endpoint_attribute: { name: pref, ne: 東京都 } }", true),
        ("{ endpoint_attribute: { name: missing, ne: x } }", true),
        (
            "{ endpoint_attribute: { name: pref, in: [大阪府, 兵庫県] } }",
            true,
        ),
        ("{ endpoint_attribute: { name: pref, exists: true } }", true),
        (
            "{ endpoint_attribute: { name: nope, exists: false } }",
            true,
        ),
        ("{ endpoint_attribute: { name: pref, contains: 庫 } }", true),
        (
            "{ endpoint_attribute: { name: pref, starts_with: 兵 } }",
            true,
        ),
        ("{ user_attribute: { name: plan, eq: gold } }", true),
        ("{ user_attribute: { name: pref, eq: 兵庫県 } }", false),
    ];
    for (cond, expected) in cases {
        assert_eq!(member_after(&seg(cond), &ev, NOW), expected, "{cond}");
    }
    let mut numeric = app_event("u1", "x", NOW);
    numeric["endpoint"]["Attributes"]["age"] = json!(["17", "34"]);
    for (cond, expected) in [
        ("{ endpoint_attribute: { name: age, gt: 30 } }", true),
        ("{ endpoint_attribute: { name: age, gte: 35 } }", false),
        ("{ endpoint_attribute: { name: age, lt: 18 } }", true),
        ("{ endpoint_attribute: { name: age, lte: 16 } }", false),
    ] {
        assert_eq!(
            member_after(&seg(cond), std::slice::from_ref(&numeric), NOW),
            expected,
            "{cond}"
        );
    }
}

#[test]
fn event_count_window_min_max_and_filters() {
    let evs = [
        purchase("u1", NOW - 2 * DAY, 100.0, 1.0),
        purchase("u1", NOW - 40 * DAY, 100.0, 1.0),
    ];
    assert!(member_after(
        &seg("{ event_count: { event_type: _monetization.purchase, within: 30d, min: 1 } }"),
        &evs,
        NOW
    ));
    assert!(!member_after(
        &seg("{ event_count: { event_type: _monetization.purchase, within: 30d, min: 2 } }"),
        &evs,
        NOW
    ));
    assert!(member_after(
        &seg(
            "{ event_count: { event_type: _monetization.purchase, within: 60d, min: 2, max: 2 } }"
        ),
        &evs,
        NOW
    ));
    assert!(!member_after(
        &seg("{ event_count: { event_type: _monetization.purchase, within: 60d, max: 1 } }"),
        &evs,
        NOW
    ));
    assert!(member_after(
        &seg("{ event_count: { event_type: _monetization.purchase, where: { _currency: JPY }, within: 30d, min: 1 } }"),
        &evs,
        NOW
    ));
    assert!(!member_after(
        &seg("{ event_count: { event_type: _monetization.purchase, where: { _currency: USD }, within: 30d, min: 1 } }"),
        &evs,
        NOW
    ));
}

#[test]
fn metric_sum_and_max() {
    let evs = [
        purchase("u1", NOW - DAY, 3000.0, 2.0),
        purchase("u1", NOW - 3 * DAY, 4500.0, 1.0),
    ];
    let sum = |min: u32| {
        seg(&format!("{{ metric_sum: {{ event_type: _monetization.purchase, metric: _item_price * _quantity, within: 90d, min: {min} }} }}"))
    };
    assert!(member_after(&sum(10_500), &evs, NOW));
    assert!(!member_after(&sum(10_501), &evs, NOW));
    let max = |min: u32| {
        seg(&format!("{{ metric_max: {{ event_type: _monetization.purchase, metric: _item_price, within: 90d, min: {min} }} }}"))
    };
    assert!(member_after(&max(4500), &evs, NOW));
    assert!(!member_after(&max(4501), &evs, NOW));
}

#[test]
fn recency_last_and_first_seen() {
    let evs = [
        app_event("u1", "_session.start", NOW - 20 * DAY),
        app_event("u1", "x", NOW - DAY),
    ];
    assert!(member_after(
        &seg("{ last_seen: { event_type: _session.start, older_than: 14d } }"),
        &evs,
        NOW
    ));
    assert!(!member_after(
        &seg("{ last_seen: { older_than: 14d } }"),
        &evs,
        NOW
    ));
    assert!(member_after(
        &seg("{ last_seen: { newer_than: 2d } }"),
        &evs,
        NOW
    ));
    assert!(member_after(
        &seg("{ first_seen: { older_than: 19d } }"),
        &evs,
        NOW
    ));
    assert!(!member_after(
        &seg("{ first_seen: { newer_than: 19d } }"),
        &evs,
        NOW
    ));
    assert!(!member_after(
        &seg("{ last_seen: { event_type: never, older_than: 1d } }"),
        &evs,
        NOW
    ));
    assert!(member_after(
        &seg("{ last_seen: { event_type: never, older_than: 1d, include_never: true } }"),
        &evs,
        NOW
    ));
}

#[test]
fn boolean_composition_and_segment_of_segment() {
    let evs = [purchase("u1", NOW - DAY, 100.0, 1.0)];
    let yaml = "segments:\n  - id: a\n    condition: { all: [ { in_segment: b }, { not: { in_segment: c } } ] }\n  - id: b\n    condition: { any: [ { endpoint_attribute: { name: pref, eq: 東京都 } }, { event_count: { event_type: _monetization.purchase, within: 7d, min: 1 } } ] }\n  - id: c\n    condition: { user_attribute: { name: plan, eq: free } }\n";
    assert!(member_after(yaml, &evs, NOW));
}

#[test]
fn line_linked_and_blocked() {
    let mut ev = app_event("u1", "x", NOW - 10);
    ev["endpoint"]["User"]["UserAttributes"]["lineUserId"] =
        json!(["U0123456789abcdef0123456789abcdef"]);
    assert!(member_after(
        &seg("{ line_linked: true }"),
        std::slice::from_ref(&ev),
        NOW
    ));
    let mut bad = ev.clone();
    bad["endpoint"]["User"]["UserAttributes"]["lineUserId"] = json!(["not-a-line-id"]);
    assert!(member_after(&seg("{ line_linked: false }"), &[bad], NOW));
    // The signed webhook's unfollow (folded into u1 through the `line:` link) unlinks.
    let r = rules(&seg("{ line_linked: true }"));
    let unfollow = line_event(
        "line.unfollow",
        "U0123456789abcdef0123456789abcdef",
        NOW - 5,
        2,
    );
    let out = apply(
        &UserState::new("u1"),
        &[decoded(&ev, "s", 1), unfollow],
        &r,
        NOW,
    );
    assert!(!out.state.memberships.contains_key("a"));
}

#[test]
fn explain_names_values_counts_and_windows() {
    let r = rules(&seg("{ all: [ { endpoint_attribute: { name: pref, eq: 兵庫県 } }, { event_count: { event_type: _monetization.purchase, within: 30d, min: 2 } } ] }"));
    let ev = decoded(&purchase("u1", NOW - DAY, 10.0, 1.0), "s", 1);
    let out = apply(&UserState::new("u1"), &[ev], &r, NOW);
    let e = explain(&out.state, &r, 0, NOW).unwrap();
    assert!(!e.holds);
    assert!(e.children[0].holds && e.children[0].detail.contains("兵庫県"));
    assert!(!e.children[1].holds);
    assert!(
        e.children[1]
            .detail
            .starts_with("1 in the window from 2025-11-02"),
        "{}",
        e.children[1].detail
    );
}

#[test]
fn changes_are_reported_once() {
    let r = rules(&seg(
        "{ event_count: { event_type: _monetization.purchase, within: 30d, min: 1 } }",
    ));
    let ev = decoded(&purchase("u1", NOW - DAY, 10.0, 1.0), "s", 1);
    let first = apply(&UserState::new("u1"), std::slice::from_ref(&ev), &r, NOW);
    assert_eq!(first.changes.len(), 1);
    assert_eq!(first.changes[0].kind, ChangeKind::Entered);
    let again = apply(&first.state, &[ev], &r, NOW);
    assert!(again.changes.is_empty());
    assert_eq!(again.duplicates.len(), 1);
    // Thirty days after the purchase's day ends, time alone makes the user exit.
    let later = apply(&first.state, &[], &r, first.state.next_flip_at.unwrap());
    assert_eq!(later.changes.len(), 1);
    assert_eq!(later.changes[0].kind, ChangeKind::Exited);
}

#[test]
fn an_attribute_import_keeps_the_endpoint_address_in_any_order() {
    let full = app_event("u1", "x", NOW - DAY);
    let import = json!({
        "event_type": "_import.attributes", "event_timestamp": NOW,
        "endpoint": {"Id": "ep-u1", "Attributes": {"pref": ["大阪府"]}, "User": {"UserId": "u1"}}
    });
    let r = rules(&format!(
        "settings: {{ keep_attributes: [pref] }}\n{}",
        seg("{ line_linked: true }")
    ));
    let a = decoded(&full, "s", 1);
    let b = decoded(&import, "s", 2);
    for order in [vec![a.clone(), b.clone()], vec![b, a]] {
        let out = apply(&UserState::new("u1"), &order, &r, NOW);
        let ep = &out.state.endpoints["ep-u1"];
        assert_eq!(ep.address.as_ref().map(|a| a.v.as_str()), Some("token-u1"));
        assert_eq!(ep.channel.as_ref().map(|c| c.v.as_str()), Some("GCM"));
        assert_eq!(
            out.state.attr("e:pref"),
            Some(&["大阪府".to_string()][..]),
            "the newer import wins the attribute"
        );
        assert!(
            !out.state.last_seen.contains_key("_import.attributes"),
            "an import is not activity"
        );
    }
}
