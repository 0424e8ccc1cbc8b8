//! Erasure decisions: every membership (state or member index) exits on the calendar day of
//! the rules' time zone, and the identities the state names are listed for unlinking.

use crate::util::{rules, NOW};
use audience_core::erase::plan_erasure;
use audience_core::state::{EndpointInfo, Stamped};
use audience_core::{Cause, ChangeKind, UserState};

const RULES: &str = "settings:\n  timezone: Asia/Tokyo\nsegments:\n  - id: a\n    condition: { line_linked: true }\n";

fn state() -> UserState {
    let mut s = UserState::new("u-1");
    s.version = 7;
    s.memberships.insert("a".into(), NOW - 1000);
    s.memberships.insert("b".into(), NOW - 1000);
    s.endpoints
        .insert("ep-1".into(), EndpointInfo::seen_at(NOW));
    s.endpoints.insert("u-1".into(), EndpointInfo::seen_at(NOW));
    s.line_user_id = Some(Stamped {
        v: "U0123456789abcdef0123456789abcdef".into(),
        t: NOW,
    });
    s
}

#[test]
fn every_membership_exits_once_on_the_rules_calendar_day() {
    let r = rules(RULES);
    // 2025-11-30T23:30:00Z is 2025-12-01 in Tokyo.
    let now = NOW - 30 * 60_000;
    let plan = plan_erasure("u-1", Some(&state()), &["b".into(), "c".into()], &r, now);
    let segments: Vec<&str> = plan.exits.iter().map(|c| c.segment.as_str()).collect();
    assert_eq!(
        segments,
        vec!["a", "b", "c"],
        "state and member index, once each"
    );
    for c in &plan.exits {
        assert_eq!(c.kind, ChangeKind::Exited);
        assert_eq!(c.cause, Cause::Erasure);
        assert_eq!(c.user, "u-1");
        assert_eq!(c.at, now);
        assert_eq!(c.day, r.zone.day_of(now));
        assert_eq!(
            c.day,
            audience_core::time::day_of(NOW),
            "Tokyo's day, not UTC's"
        );
    }
}

#[test]
fn identities_are_the_states_endpoints_and_line_key_but_not_the_user() {
    let plan = plan_erasure("u-1", Some(&state()), &[], &rules(RULES), NOW);
    assert_eq!(
        plan.identities,
        vec!["ep-1", "line:U0123456789abcdef0123456789abcdef"]
    );
}

#[test]
fn without_state_only_the_member_index_counts() {
    let plan = plan_erasure("gone", None, &[], &rules(RULES), NOW);
    assert!(plan.is_empty());
    let plan = plan_erasure("gone", None, &["a".into()], &rules(RULES), NOW);
    assert_eq!(plan.exits.len(), 1);
    assert!(plan.identities.is_empty());
}

#[test]
fn the_store_searches_for_links_when_the_state_may_have_dropped_some() {
    let r = rules(RULES);
    assert!(plan_erasure("u-1", Some(&state()), &[], &r, NOW).identities_complete);
    let mut full = state();
    for i in 0..audience_core::limits::MAX_ENDPOINTS {
        full.endpoints
            .insert(format!("ep-more-{i}"), EndpointInfo::seen_at(NOW));
    }
    full.trim_endpoints();
    assert!(
        !plan_erasure("u-1", Some(&full), &[], &r, NOW).identities_complete,
        "a state at its endpoint cap may have dropped older endpoints"
    );
    assert!(!plan_erasure("gone", None, &[], &r, NOW).identities_complete);
}
