//! Unit tests of the event generator: determinism, counts and time window, coverage of every
//! kind, Pinpoint shapes, Zipf-skewed activity and dormant users.

use super::generate_events;
use crate::catalog::{ACCOUNT_ID, APP_ID};
use crate::clock::{DAY_MS, MINUTE_MS};
use crate::test_support::{endpoint_owners, opts, user_of, ALL_KINDS, END_MS};
use crate::user_attribute_rows;
use crate::users::{build_users, User};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn same_seed_gives_same_events_and_another_seed_does_not() {
    let a = generate_events(&opts(500));
    let b = generate_events(&opts(500));
    assert_eq!(a, b);
    let mut other = opts(500);
    other.seed = 8;
    assert_ne!(a, generate_events(&other));
    assert_eq!(
        user_attribute_rows(&opts(10)),
        user_attribute_rows(&opts(3000))
    );
}

#[test]
fn exact_count_sorted_within_window_ending_at_end_ms() {
    for n in [1, 37, 3000] {
        let events = generate_events(&opts(n));
        assert_eq!(events.len(), n);
        let times: Vec<i64> = events
            .iter()
            .map(|e| e["event_timestamp"].as_i64().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(*times.last().unwrap() <= END_MS);
        assert!(times[0] >= END_MS - 120 * DAY_MS);
    }
    let events = generate_events(&opts(3000));
    assert_eq!(events.last().unwrap()["event_timestamp"], json!(END_MS));
    let mut late = 0;
    for e in &events {
        assert_eq!(e["event_version"], "3.1");
        assert_eq!(e["application"]["app_id"], APP_ID);
        assert_eq!(e["awsAccountId"], ACCOUNT_ID);
        let delay =
            e["arrival_timestamp"].as_i64().unwrap() - e["event_timestamp"].as_i64().unwrap();
        assert!(delay > 0, "arrival before event: {e}");
        if delay >= MINUTE_MS {
            late += 1;
        }
    }
    assert!(
        late > 30 && late < 600,
        "{late} events arrived a minute or more late"
    );
    assert!(generate_events(&opts(0)).is_empty());
    let mut nobody = opts(10);
    nobody.users = 0;
    assert!(generate_events(&nobody).is_empty());
}

#[test]
fn every_event_kind_is_present() {
    for n in [60, 3000] {
        let kinds: BTreeSet<String> = generate_events(&opts(n))
            .iter()
            .map(|e| e["event_type"].as_str().unwrap().to_string())
            .collect();
        for kind in ALL_KINDS {
            assert!(kinds.contains(*kind), "{kind} missing from {n} events");
        }
    }
}

#[test]
fn some_email_names_no_known_endpoint() {
    for n in [60, 3000] {
        let o = opts(n);
        let owners = endpoint_owners(&o);
        let unknown = generate_events(&o)
            .iter()
            .filter(|e| e["event_type"] == "_email.send")
            .filter(|e| {
                let client = e["client"]["client_id"].as_str().unwrap();
                !owners.contains_key(client)
            })
            .count();
        assert!(unknown > 0, "no transactional email in {n} events");
    }
}

#[test]
fn event_shapes_follow_pinpoint() {
    let o = opts(3000);
    let users: BTreeMap<String, User> = build_users(&o)
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    let app_endpoints: BTreeSet<&str> = users
        .values()
        .filter(|u| u.app)
        .map(|u| u.endpoint_id.as_str())
        .collect();
    let other_endpoints: BTreeSet<&str> = users
        .values()
        .filter(|u| !u.app)
        .map(|u| u.endpoint_id.as_str())
        .collect();
    let (mut email_app, mut email_other, mut sparse) = (0, 0, 0);
    for e in generate_events(&o) {
        let kind = e["event_type"].as_str().unwrap();
        let client = e["client"]["client_id"].as_str().unwrap();
        if kind.starts_with("_email.") || kind.starts_with("_SMS.") {
            assert!(e.get("endpoint").is_none() && e.get("client_context").is_none());
            assert_eq!(e["session"], json!({}));
            if app_endpoints.contains(client) {
                email_app += 1;
            } else if other_endpoints.contains(client) {
                email_other += 1;
            }
        }
        if kind.starts_with("_email.") {
            let mail_event = &e["facets"]["email_channel"]["mail_event"];
            assert!(mail_event["mail"]["destination"][0].is_string());
            assert_eq!(e["device"], json!({}));
        }
        if kind == "_SMS.SUCCESS" {
            assert_eq!(e["attributes"]["record_status"], "DELIVERED");
            assert!(e["attributes"]["destination_phone_number"]
                .as_str()
                .unwrap()
                .starts_with("+81"));
            assert!(e["metrics"]["price_in_millicents_usd"].is_f64());
        }
        if kind.starts_with("_campaign.") || kind.starts_with("_journey.") {
            let text = e["client_context"]["custom"]["endpoint"].as_str().unwrap();
            let inner: Value = serde_json::from_str(text).unwrap();
            match inner["Id"].as_str() {
                Some(id) => assert_eq!(id, client),
                None => sparse += 1,
            }
            assert!(e.get("endpoint").is_none());
        }
        if kind == "_monetization.purchase" {
            assert_eq!(e["attributes"]["_currency"], "JPY");
            let price = e["metrics"]["_item_price"].as_i64().unwrap();
            assert!((300..=30_000).contains(&price));
            let quantity = e["metrics"]["_quantity"].as_i64().unwrap();
            assert!((1..=5).contains(&quantity));
        }
        if let Some(endpoint) = e.get("endpoint") {
            let u = &users[endpoint["User"]["UserId"].as_str().unwrap()];
            assert!(u.app);
            assert_eq!(endpoint["Id"], json!(u.endpoint_id));
            assert_eq!(client, u.endpoint_id);
            assert_eq!(endpoint["Attributes"]["pref"], json!([u.pref]));
            assert_eq!(endpoint["Location"]["Country"], "JP");
            let line = &endpoint["User"]["UserAttributes"]["lineUserId"];
            match &u.line_user_id {
                Some(id) => assert_eq!(line, &json!([id])),
                None => assert!(line.is_null()),
            }
        }
    }
    assert!(
        email_app > 20,
        "{email_app} email/SMS events name an app user's endpoint"
    );
    assert!(
        email_other > 20,
        "{email_other} email/SMS events name an email/SMS-only endpoint"
    );
    assert!(
        sparse > 0,
        "no documentation-style sparse embedded endpoint"
    );
}

#[test]
fn activity_is_zipf_skewed() {
    let o = opts(3000);
    let owners = endpoint_owners(&o);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for e in generate_events(&o) {
        if let Some(user) = user_of(&e, &owners) {
            *counts.entry(user).or_default() += 1;
        }
    }
    let mut per_user: Vec<usize> = counts.values().copied().collect();
    per_user.sort_unstable_by(|a, b| b.cmp(a));
    let total: usize = per_user.iter().sum();
    let top12: usize = per_user.iter().take(12).sum();
    assert!(
        top12 * 10 > total * 3,
        "top 5% of users hold {top12} of {total}"
    );
    assert!(
        per_user[0] > 100,
        "most active user has only {}",
        per_user[0]
    );
    let median = per_user[per_user.len() / 2];
    assert!(
        (1..=10).contains(&median),
        "median user has {median} events"
    );
    assert!(
        per_user.len() > 225,
        "only {} users have events",
        per_user.len()
    );
}

#[test]
fn some_app_users_go_dormant() {
    let o = opts(3000);
    let users = build_users(&o);
    let dormant: BTreeSet<&str> = users
        .iter()
        .filter(|u| u.dormant)
        .map(|u| u.id.as_str())
        .collect();
    assert!(dormant.len() > 20, "{} dormant users", dormant.len());
    let mut last_start: BTreeMap<String, i64> = BTreeMap::new();
    for e in generate_events(&o) {
        if e["event_type"] == "_session.start" {
            let user = e["endpoint"]["User"]["UserId"]
                .as_str()
                .unwrap()
                .to_string();
            last_start.insert(user, e["event_timestamp"].as_i64().unwrap());
        }
    }
    let cutoff = END_MS - 14 * DAY_MS;
    let mut dormant_with_sessions = 0;
    for (user, at) in &last_start {
        if dormant.contains(user.as_str()) {
            assert!(*at < cutoff, "dormant {user} started a session at {at}");
            dormant_with_sessions += 1;
        }
    }
    assert!(dormant_with_sessions > 10);
    assert!(last_start.values().filter(|at| **at >= cutoff).count() > 50);
}
