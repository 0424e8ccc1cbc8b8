//! A hostile corpus, interleaved with innocent users over several batches, on the embedded
//! store and on DynamoDB Local: innocent users end exactly as in a clean run, every poison
//! record is set aside (or its user quarantined) with a reason, and the sweep, a sync dry run,
//! stats, explain and the dashboard still work. The batches go through the Lambda's path
//! (`process_records`, which drops each record's Base64 text once decoded), and every dead
//! letter still carries its record's payload exactly as it came (Base64 or JSON).

use crate::util::*;
use audience_core::{Payload, RawRecord, RecordId, Rules, UserState};
use audience_pipeline::{process_records, sweep, BatchOptions};
use audience_store::StateStore;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Rules: the shipped segments plus 45 more that a "vip" user enters at once, each with LINE
/// and Pinpoint destinations (far beyond one DynamoDB transaction's 100 actions).
fn hostile_rules() -> Rules {
    let mut text = std::fs::read_to_string(fixture("segments.yaml")).unwrap();
    for i in 0..45 {
        text.push_str(&format!(
            "\n  - id: vip-{i:02}\n    condition: {{ user_attribute: {{ name: tier, eq: vip }} }}\n    destinations:\n      line: {{ audience_name: \"vip {i}\" }}\n      pinpoint: {{ segment_name: \"vip-{i}\" }}\n"
        ));
    }
    Rules::load(&text, "hostile.yaml").unwrap()
}

fn app(user: &str, event_type: &str, t: i64) -> Value {
    json!({
        "event_type": event_type, "event_timestamp": t, "arrival_timestamp": t + 1000,
        "client": {"client_id": format!("ep-{user}")},
        "endpoint": {"Id": format!("ep-{user}"), "ChannelType": "GCM", "Address": format!("tok-{user}"),
                     "User": {"UserId": user}}
    })
}

/// Every hostile case, with the reason it must be set aside for (`None`: accepted, bounded).
fn poison() -> Vec<(Value, Option<&'static str>)> {
    let line = "U0123456789abcdef0123456789abcdef";
    let mut out = Vec::new();
    let mut inf = app("h-inf", "_monetization.purchase", NOW - 1000);
    inf["metrics"] = json!({"_item_price": 1e300, "_quantity": 1e10});
    out.push((inf, Some("value_out_of_range")));
    for i in 0..2 {
        let mut big = app("h-big", "_monetization.purchase", NOW - 2000 - i);
        big["metrics"] = json!({"_item_price": 1e15, "_quantity": 1e15});
        out.push((big, None));
    }
    out.push((
        app("h-2100", "_session.start", 4_102_444_800_000),
        Some("time_out_of_range"),
    ));
    let mut min = app("h-min", "_session.start", NOW);
    min["event_timestamp"] = json!(i64::MIN);
    out.push((min, Some("time_out_of_range")));
    out.push((
        app(&"k".repeat(2_100), "_session.start", NOW - 3000),
        Some("key_too_long"),
    ));
    let mut vip = app("h-vip", "_session.start", NOW - 4000);
    vip["endpoint"]["User"]["UserAttributes"] = json!({"tier": ["vip"], "lineUserId": [line]});
    out.push((vip, None));
    let resent = {
        let mut p = app("h-resent", "_monetization.purchase", NOW - 5000);
        p["metrics"] = json!({"_item_price": 6000.0, "_quantity": 1.0});
        p
    };
    out.push((resent.clone(), None));
    out.push((resent, None)); // the producer's retry, under a new line number
    for i in 0..3_000 {
        out.push((
            app("h-types", &format!("custom.type.{i}"), NOW - 10_000 - i),
            None,
        ));
    }
    let forged_follow = json!({
        "event_type": "line.follow", "event_timestamp": NOW - 6000,
        "client": {"client_id": format!("line:{line}")}, "attributes": {"line_user_id": line}
    });
    out.push((forged_follow, Some("untrusted_line_event")));
    let mut line_ns = app("h-ns", "_session.start", NOW - 7000);
    line_ns["endpoint"]["Id"] = json!(format!("line:{line}"));
    out.push((line_ns, Some("untrusted_line_event")));
    let mut attr = app("h-attr", "custom", NOW - 8000);
    attr["attributes"] = json!({"line_user_id": line});
    out.push((attr, None));
    out
}

fn innocent() -> Vec<Value> {
    std::fs::read_to_string(fixture("events.jsonl"))
        .unwrap()
        .lines()
        .take(1_500)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The records of `values`: every other one Base64 (as Kinesis delivers), the rest JSON.
fn records(values: &[Value], file: &str) -> Vec<RawRecord> {
    use base64::Engine;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let json = serde_json::to_vec(v).unwrap();
            RawRecord {
                id: RecordId::new(format!("file:{file}"), (i + 1).to_string()),
                payload: if i % 2 == 0 {
                    Payload::Base64(base64::engine::general_purpose::STANDARD.encode(json))
                } else {
                    Payload::Json(json)
                },
                arrival_ms: None,
            }
        })
        .collect()
}

/// A record's payload as its dead letter must carry it.
fn letter_data(raw: &RawRecord) -> String {
    match &raw.payload {
        Payload::Base64(text) => text.clone(),
        Payload::Json(bytes) => String::from_utf8(bytes.clone()).unwrap(),
    }
}

async fn run(
    store: &dyn StateStore,
    rules: &Rules,
    records: &[RawRecord],
) -> BTreeMap<String, u64> {
    let mut reasons = BTreeMap::new();
    for batch in records.chunks(250) {
        let out = process_records(store, rules, batch.to_vec(), NOW, &BatchOptions::default())
            .await
            .unwrap();
        assert!(out.failed.is_empty(), "{:?}", out.failed);
        for e in &out.set_aside {
            *reasons.entry(e.kind.reason().to_string()).or_default() += 1;
        }
        for q in &out.quarantined {
            *reasons.entry("user_quarantined".to_string()).or_default() +=
                q.record_ids.len() as u64;
        }
    }
    reasons
}

async fn states(store: &dyn StateStore) -> BTreeMap<String, UserState> {
    let mut out = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.scan_users(after.as_deref(), 500).await.unwrap();
        for u in page.users {
            out.insert(u.user.clone(), u);
        }
        match page.next {
            Some(n) => after = Some(n),
            None => return out,
        }
    }
}

/// `corrupt` makes one innocent user's stored item unreadable between the two halves;
/// `letters` reads the store's dead letters back (record → reason and data).
async fn hostile_corpus_on<L>(
    clean: &dyn StateStore,
    store: &dyn StateStore,
    corrupt: impl std::future::Future<Output = ()>,
    letters: impl FnOnce() -> L,
    victim: &str,
) where
    L: std::future::Future<Output = BTreeMap<String, (String, String)>>,
{
    let rules = hostile_rules();
    let innocent = innocent();
    let (first, second) = innocent.split_at(innocent.len() / 2);
    run(clean, &rules, &records(&innocent, "innocent.jsonl")).await;

    // Poison interleaved with innocent records, over several batches, in two runs.
    let poison = poison();
    let mut mixed: Vec<Value> = Vec::new();
    let mut p = poison.iter().map(|(v, _)| v.clone());
    for (i, v) in first.iter().enumerate() {
        mixed.push(v.clone());
        if i % 2 == 0 {
            mixed.extend(p.next());
        }
    }
    mixed.extend(p);
    let mixed = records(&mixed, "mixed-1.jsonl");
    let second = records(second, "mixed-2.jsonl");
    let mut reasons = run(store, &rules, &mixed).await;
    corrupt.await;
    for (k, v) in run(store, &rules, &second).await {
        *reasons.entry(k).or_default() += v;
    }
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for (_, reason) in &poison {
        if let Some(r) = reason {
            *expected.entry(r.to_string()).or_default() += 1;
        }
    }
    let victim_records = innocent[innocent.len() / 2..]
        .iter()
        .filter(|v| v["endpoint"]["User"]["UserId"] == victim)
        .count() as u64;
    assert!(
        victim_records > 0,
        "the victim has records in the second half"
    );
    expected.insert("user_quarantined".into(), victim_records);
    assert_eq!(
        reasons, expected,
        "every poison record set aside with its reason"
    );

    // Every dead letter carries its record's payload exactly as it came, for set-aside
    // records and for the quarantined user's (decoded, then kept only as JSON bytes).
    let letters = letters().await;
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    for raw in mixed.iter().chain(&second) {
        let Some((reason, data)) = letters.get(&raw.id.to_string()) else {
            continue;
        };
        assert_eq!(data, &letter_data(raw), "dead letter of {}", raw.id);
        *by_reason.entry(reason.clone()).or_default() += 1;
    }
    assert_eq!(
        by_reason, expected,
        "one dead letter per set-aside or quarantined record"
    );
    assert_eq!(letters.len() as u64, expected.values().sum::<u64>());

    // Innocent users end exactly as in the clean run (the quarantined one aside).
    let (clean_states, got) = (states(clean).await, states(store).await);
    for (user, want) in &clean_states {
        if user == victim {
            continue;
        }
        let have = got
            .get(user)
            .unwrap_or_else(|| panic!("innocent user {user} missing"));
        assert_eq!(have.memberships, want.memberships, "{user}");
        assert_eq!(have.aggs, want.aggs, "{user}");
        assert_eq!(have.line_user_id, want.line_user_id, "{user}");
    }
    // The poison users are bounded and sane.
    let big = &got["h-big"];
    assert!(big.is_sane() && big.memberships.contains_key("big-spenders"));
    assert_eq!(
        got["h-vip"]
            .memberships
            .keys()
            .filter(|s| s.starts_with("vip-"))
            .count(),
        45
    );
    assert!(
        !got["h-resent"].memberships.contains_key("big-spenders"),
        "6,000 once, not 12,000"
    );
    let kept: Vec<&String> = got["h-types"].last_seen.keys().collect();
    assert_eq!(
        kept,
        vec!["*"],
        "3,000 event types, none referenced by a rule: only * is kept"
    );
    assert_eq!(
        got["h-attr"].line_user_id, None,
        "an event attribute is not a LINE source"
    );
    assert!(!got.keys().any(|k| k.starts_with("line:") || k.len() > 512));
    let quarantined = store.quarantined(10).await.unwrap();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(
        (quarantined[0].user.as_str(), quarantined[0].reason.as_str()),
        (victim, "unreadable_state")
    );

    // Everything downstream still works for everyone else.
    let swept = sweep(store, &rules, NOW + 40 * 86_400_000, 100)
        .await
        .unwrap();
    assert!(swept.users > 0);
    assert!(swept.quarantined.contains(&victim.to_string()) || !swept.changes.is_empty());
    let counts = store.segment_counts().await.unwrap();
    assert_eq!(counts["vip-44"].members, 1);
    let state = &got["h-vip"];
    for i in 0..rules.segments.len() {
        assert!(audience_core::explain(state, &rules, i, NOW).is_some());
    }
    let d = audience_dashboard::load(store, &rules, NOW, &Default::default())
        .await
        .unwrap();
    let page = audience_dashboard::render_page(&d, &Default::default()).unwrap();
    assert!(page.contains("vip-44"));
    let destinations = audience_destinations::destinations(
        &audience_sync::SyncConfig::default(),
        &rules,
        None,
        true,
        audience_destinations::LineCredentials::Env {
            api_base: None,
            data_base: None,
        },
    )
    .await
    .unwrap();
    let mut ctx = audience_sync::SyncContext::new(store, NOW, std::time::Duration::from_secs(600));
    ctx.dry_run = true;
    let report = audience_sync::SyncRunner::new(destinations)
        .run(&ctx, &rules, None)
        .await
        .unwrap();
    assert!(report.segments.iter().any(|s| s.segment == "vip-44"));
}

/// The innocent user whose item gets corrupted: one with events in both halves.
fn victim() -> String {
    let innocent = innocent();
    let (first, second) = innocent.split_at(innocent.len() / 2);
    let user = |v: &Value| v["endpoint"]["User"]["UserId"].as_str().map(str::to_string);
    let early: std::collections::BTreeSet<String> = first.iter().filter_map(user).collect();
    second
        .iter()
        .filter_map(user)
        .find(|u| early.contains(u))
        .expect("a user with events in both halves")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_corpus_on_the_embedded_store() {
    let victim = victim();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let clean = audience_store_sqlite::EmbeddedStore::in_memory().unwrap();
    let store = audience_store_sqlite::EmbeddedStore::open(&path).unwrap();
    let corrupt = async {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let n = conn
            .execute(
                "UPDATE users SET state = x'02ffff00' WHERE key = ?1",
                [&victim],
            )
            .unwrap();
        assert_eq!(n, 1, "the victim was stored by the first half");
    };
    let letters = || async {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut stmt = conn
            .prepare("SELECT record, letter FROM dead_letters")
            .unwrap();
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .unwrap();
        rows.map(|row| {
            let (record, letter) = row.unwrap();
            let letter: audience_store::DeadLetter = serde_json::from_str(&letter).unwrap();
            (record, (letter.reason, letter.data))
        })
        .collect()
    };
    hostile_corpus_on(&clean, &store, corrupt, letters, &victim).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_corpus_on_dynamodb() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let victim = victim();
    let local = dynamodb().await;
    let clean = local.store(&table("hostile-clean")).await;
    let store = local.store(&table("hostile")).await;
    let corrupt = async {
        store
            .client()
            .update_item()
            .table_name(store.table())
            .key("PK", AttributeValue::S(format!("U#{victim}")))
            .key("SK", AttributeValue::S("S".into()))
            .update_expression("SET b = :b")
            .expression_attribute_values(":b", AttributeValue::B(vec![2, 0xff, 0xff, 0].into()))
            .send()
            .await
            .unwrap();
    };
    let letters = || async {
        let mut out = BTreeMap::new();
        let mut start = None;
        loop {
            let page = store
                .client()
                .scan()
                .table_name(store.table())
                .filter_expression("begins_with(PK, :dl)")
                .expression_attribute_values(":dl", AttributeValue::S("DL#".into()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            for item in page.items() {
                let text = |name: &str| item.get(name).unwrap().as_s().unwrap().clone();
                out.insert(text("SK"), (text("reason"), text("data")));
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return out;
            }
        }
    };
    hostile_corpus_on(&clean, &store, corrupt, letters, &victim).await;
}
