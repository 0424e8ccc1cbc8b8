//! Delivery scenarios every store must survive, run against the embedded store by the pipeline's
//! tests and against DynamoDB Local by the Lambda crate's tests: redelivery, crashes between writes,
//! concurrent invocations on one user, identity folding, and the sweep.
//!
//! Test support (panics on failure, like the store's conformance suite).

use async_trait::async_trait;
use audience_core::{Payload, RawRecord, RecordId, Rules, UserState};
use audience_pipeline::{process_batch, sweep, BatchOptions};
use audience_store::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// 2025-12-01T00:00:00Z.
pub const NOW: i64 = 1_764_547_200_000;
const DAY: i64 = 86_400_000;

/// Rules used by the scenarios.
pub const RULES: &str = "segments:
  - id: buyer
    condition: { event_count: { event_type: _monetization.purchase, within: 30d, min: 1 } }
    destinations: { line: { audience_name: buyers }, pinpoint: { segment_name: buyers } }
  - id: two-buys
    condition: { event_count: { event_type: _monetization.purchase, within: 30d, min: 2 } }
  - id: emailed
    condition: { event_count: { event_type: _email.open, within: 30d, min: 1 } }
    destinations: { line: { audience_name: emailed } }
";

/// The scenario rules, compiled.
pub fn rules() -> Rules {
    Rules::load(RULES, "scenarios.yaml").unwrap_or_else(|e| panic!("{e}"))
}

/// A purchase event of `user` at `t`.
pub fn purchase(user: &str, t: i64) -> Value {
    json!({
        "event_type": "_monetization.purchase", "event_timestamp": t, "arrival_timestamp": t + 500,
        "attributes": {"_currency": "JPY"}, "metrics": {"_item_price": 1200.0, "_quantity": 1.0},
        "endpoint": {"Id": format!("ep-{user}"), "ChannelType": "GCM", "Address": format!("tok-{user}"),
                     "User": {"UserId": user}}
    })
}

/// An email open keyed only by endpoint ID.
pub fn email_open(endpoint: &str, t: i64) -> Value {
    json!({"event_type": "_email.open", "event_timestamp": t, "client": {"client_id": endpoint}})
}

/// Kinesis-style records on one shard, sequence numbers from `first`.
pub fn records(events: &[Value], shard: &str, first: u64) -> Vec<RawRecord> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| RawRecord {
            id: RecordId::new(shard, (first + i as u64).to_string()),
            payload: Payload::Json(e.to_string().into_bytes()),
            arrival_ms: None,
        })
        .collect()
}

/// Everything observable in a store, for comparisons.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    /// Users (version included).
    pub users: BTreeMap<String, UserState>,
    /// Segment totals.
    pub counts: BTreeMap<String, SegmentCounts>,
    /// Members per segment.
    pub members: BTreeMap<String, Vec<String>>,
    /// Outbox entries per destination/segment (change IDs excluded).
    pub pending: Vec<PendingSummary>,
}

/// Reads a snapshot.
pub async fn snapshot(store: &dyn StateStore) -> Snapshot {
    let mut users = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.scan_users(after.as_deref(), 100).await.expect("scan");
        assert!(page.unreadable.is_empty(), "{:?}", page.unreadable);
        for u in page.users {
            users.insert(u.user.clone(), u);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let counts = store.segment_counts().await.expect("counts");
    let mut members = BTreeMap::new();
    for seg in counts.keys() {
        members.insert(
            seg.clone(),
            store
                .list_members(seg, None, 10_000)
                .await
                .expect("members"),
        );
    }
    Snapshot {
        users,
        counts,
        members,
        pending: store.pending_summary().await.expect("pending"),
    }
}

fn batch() -> Vec<RawRecord> {
    let mut events = Vec::new();
    for u in 0..6 {
        events.push(purchase(&format!("u{u}"), NOW - DAY * (u + 1)));
        if u % 2 == 0 {
            events.push(purchase(&format!("u{u}"), NOW - 2 * DAY * (u + 1)));
        }
    }
    events.push(json!("not an object"));
    records(&events, "shardId-000000000001", 100)
}

/// The same batch delivered twice leaves state, counters and outbox as after once.
pub async fn redelivery_is_idempotent(store: &dyn StateStore) {
    let r = rules();
    let first = process_batch(store, &r, &batch(), NOW, &BatchOptions::default())
        .await
        .expect("first");
    assert_eq!(
        first.set_aside.len(),
        1,
        "the malformed record is set aside"
    );
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    let once = snapshot(store).await;
    assert_eq!(once.counts["buyer"].members, 6);
    assert_eq!(once.counts["two-buys"].members, 3);
    let again = process_batch(store, &r, &batch(), NOW, &BatchOptions::default())
        .await
        .expect("again");
    assert_eq!(
        again.duplicates, again.decoded,
        "every record of the redelivery is a duplicate"
    );
    assert!(again.changes.is_empty());
    assert_eq!(snapshot(store).await, once, "redelivery changed the store");
}

/// Fails one write (commit, batch record or dead letters): the `fail_at`-th (0-based), once.
pub struct FailAt {
    writes: AtomicUsize,
    fail_at: usize,
}

#[async_trait]
impl Hooks for FailAt {
    async fn before(&self, op: Op) -> StoreResult<()> {
        if op.writes() && self.writes.fetch_add(1, Ordering::SeqCst) == self.fail_at {
            return Err(StoreError::Unavailable(format!(
                "injected failure at {}",
                op.name()
            )));
        }
        Ok(())
    }
}

/// A store whose `fail_at`-th write fails once.
pub fn failing_store(inner: &dyn StateStore, fail_at: usize) -> HookedStore<'_, FailAt> {
    HookedStore::new(
        inner,
        FailAt {
            writes: AtomicUsize::new(0),
            fail_at,
        },
    )
}

/// A failure after each write step, then a retry of the batch, converges to the state of an
/// uninterrupted run. `fresh` makes a new empty store.
pub async fn crash_then_retry_converges<S, F, Fut>(fresh: F)
where
    S: StateStore,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    let r = rules();
    let clean = fresh().await;
    process_batch(&clean, &r, &batch(), NOW, &BatchOptions::default())
        .await
        .expect("clean run");
    let expected = snapshot(&clean).await;
    // 6 user commits + batch record + dead letters.
    for fail_at in 0..8 {
        let store = fresh().await;
        let opts = BatchOptions {
            concurrency: 1,
            ..BatchOptions::default()
        };
        let failing = failing_store(&store, fail_at);
        let first = process_batch(&failing, &r, &batch(), NOW, &opts).await;
        let interrupted = first.is_err() || first.as_ref().is_ok_and(|o| !o.failed.is_empty());
        assert!(interrupted, "the failure at write {fail_at} must surface");
        process_batch(&store, &r, &batch(), NOW, &opts)
            .await
            .expect("retry");
        let got = snapshot(&store).await;
        assert_eq!(
            got.counts, expected.counts,
            "counters after a crash at write {fail_at}"
        );
        assert_eq!(
            got.members, expected.members,
            "members after a crash at write {fail_at}"
        );
        assert_eq!(
            got.pending, expected.pending,
            "outbox after a crash at write {fail_at}"
        );
        let states = |s: &Snapshot| {
            s.users
                .values()
                .map(|u| (u.memberships.clone(), u.aggs.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            states(&got),
            states(&expected),
            "user state after a crash at write {fail_at}"
        );
    }
}

/// Holds the first `n` `load_users` calls until all `n` arrived, so concurrent invocations
/// really read the same version before either commits.
pub struct LoadBarrier {
    barrier: tokio::sync::Barrier,
    armed: AtomicUsize,
}

#[async_trait]
impl Hooks for LoadBarrier {
    async fn after(&self, op: Op) {
        if op == Op::LoadUsers
            && self
                .armed
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            self.barrier.wait().await;
        }
    }
}

/// Two invocations applying different events of the same user at once: both applied.
pub async fn concurrent_invocations_lose_nothing(store: &dyn StateStore) {
    let r = rules();
    let barrier = HookedStore::new(
        store,
        LoadBarrier {
            barrier: tokio::sync::Barrier::new(2),
            armed: AtomicUsize::new(2),
        },
    );
    let a = records(&[purchase("cc", NOW - DAY)], "shardId-000000000007", 1);
    let b = records(&[purchase("cc", NOW - 2 * DAY)], "shardId-000000000008", 1);
    let opts = BatchOptions::default();
    let (ra, rb) = tokio::join!(
        process_batch(&barrier, &r, &a, NOW, &opts),
        process_batch(&barrier, &r, &b, NOW, &opts)
    );
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    assert!(
        ra.failed.is_empty() && rb.failed.is_empty(),
        "{:?} {:?}",
        ra.failed,
        rb.failed
    );
    let user = store
        .load_users(&["cc".to_string()])
        .await
        .expect("load")
        .states
        .remove("cc")
        .expect("user saved");
    assert_eq!(
        user.version, 2,
        "two commits, one after a conflict and reload"
    );
    assert!(
        user.memberships.contains_key("two-buys"),
        "both purchases counted: {user:?}"
    );
    assert_eq!(
        store.segment_counts().await.expect("counts")["buyer"].members,
        1,
        "entered once"
    );
}

/// An email event keyed by endpoint ID counts for the user once an app event links them;
/// state kept under the endpoint before the link is folded into the user.
pub async fn identity_links_and_folding(store: &dyn StateStore) {
    let r = rules();
    // Before the link: the email open is kept under the endpoint ID.
    let early = records(
        &[email_open("ep-id1", NOW - DAY)],
        "shardId-000000000009",
        1,
    );
    process_batch(store, &r, &early, NOW, &BatchOptions::default())
        .await
        .expect("early");
    assert_eq!(
        store.list_members("emailed", None, 10).await.expect("m"),
        vec!["ep-id1".to_string()]
    );
    // The app event reveals the owner: the endpoint's state folds into the user.
    let link = records(&[purchase("id1", NOW - DAY)], "shardId-000000000009", 2);
    process_batch(store, &r, &link, NOW, &BatchOptions::default())
        .await
        .expect("link");
    assert_eq!(
        store.list_members("emailed", None, 10).await.expect("m"),
        vec!["id1".to_string()]
    );
    assert_eq!(
        store.segment_counts().await.expect("c")["emailed"].members,
        1
    );
    assert!(
        store
            .load_users(&["ep-id1".to_string()])
            .await
            .expect("l")
            .states
            .is_empty(),
        "folded away"
    );
    // Later email events go to the user.
    let later = records(
        &[email_open("ep-id1", NOW - 1000)],
        "shardId-000000000009",
        3,
    );
    process_batch(store, &r, &later, NOW, &BatchOptions::default())
        .await
        .expect("later");
    let user = store
        .load_users(&["id1".to_string()])
        .await
        .expect("l")
        .states
        .remove("id1")
        .expect("user");
    assert_eq!(user.last_seen.get("*"), Some(&(NOW - 1000)));
    let open_agg = r
        .aggs
        .iter()
        .find(|a| a.event_type == "_email.open")
        .expect("the emailed aggregate");
    let opens: u32 = user.aggs[&open_agg.id].values().map(|b| b.0).sum();
    assert_eq!(opens, 2, "the folded open and the later one, each once");
}

/// The sweep exits users exactly when their window ends, not before.
pub async fn sweep_exits_on_time(store: &dyn StateStore) {
    let r = rules();
    let recs = records(&[purchase("sw", NOW - DAY)], "shardId-000000000010", 1);
    process_batch(store, &r, &recs, NOW, &BatchOptions::default())
        .await
        .expect("batch");
    let flip = store
        .load_users(&["sw".to_string()])
        .await
        .expect("l")
        .states["sw"]
        .next_flip_at
        .expect("flip time");
    let early = sweep(store, &r, flip - 1, 100).await.expect("early sweep");
    assert!(
        early.changes.iter().all(|c| c.user != "sw"),
        "nothing before the flip"
    );
    let on_time = sweep(store, &r, flip, 100).await.expect("sweep");
    let exits: Vec<_> = on_time
        .changes
        .iter()
        .filter(|c| c.user == "sw")
        .map(|c| c.segment.as_str())
        .collect();
    assert_eq!(exits, vec!["buyer"]);
    let pending = store.pending("line", "buyer", 100).await.expect("p");
    assert!(
        pending
            .iter()
            .any(|e| e.user == "sw" && e.op == audience_core::ChangeKind::Exited),
        "exit queued for LINE"
    );
}

/// A member whose LINE ID becomes known after they entered is queued for LINE.
pub async fn a_late_line_id_is_queued_for_line(store: &dyn StateStore) {
    let r = rules();
    let first = records(&[purchase("late", NOW - DAY)], "shardId-000000000011", 1);
    process_batch(store, &r, &first, NOW, &BatchOptions::default())
        .await
        .expect("first");
    let pending = store.pending("line", "buyer", 100).await.expect("pending");
    let entry = pending
        .iter()
        .find(|e| e.user == "late")
        .expect("entry")
        .clone();
    store.ack_pending(&[entry]).await.expect("ack");
    let mut with_line = purchase("late", NOW - 1000);
    with_line["endpoint"]["User"]["UserAttributes"] =
        json!({"lineUserId": ["U0123456789abcdef0123456789abcdef"]});
    let second = records(&[with_line], "shardId-000000000011", 2);
    process_batch(store, &r, &second, NOW, &BatchOptions::default())
        .await
        .expect("second");
    let pending = store.pending("line", "buyer", 100).await.expect("pending");
    assert!(
        pending
            .iter()
            .any(|e| e.user == "late" && e.op == audience_core::ChangeKind::Entered),
        "the member with a new LINE ID is queued: {pending:?}"
    );
}

/// ParallelizationFactor > 1: two invocations apply records of one shard at once, the later
/// sequence numbers first; every event counts, once.
pub async fn out_of_order_records_of_one_shard_in_parallel(store: &dyn StateStore) {
    let r = rules();
    let barrier = HookedStore::new(
        store,
        LoadBarrier {
            barrier: tokio::sync::Barrier::new(2),
            armed: AtomicUsize::new(2),
        },
    );
    let shard = "shardId-000000000012";
    let later = records(&[purchase("pf", NOW - DAY)], shard, 900);
    let earlier = records(&[purchase("pf", NOW - 2 * DAY)], shard, 100);
    let opts = BatchOptions::default();
    let (a, b) = tokio::join!(
        process_batch(&barrier, &r, &later, NOW, &opts),
        process_batch(&barrier, &r, &earlier, NOW, &opts)
    );
    let (a, b) = (a.expect("later"), b.expect("earlier"));
    assert!(a.failed.is_empty() && b.failed.is_empty(), "{a:?} {b:?}");
    assert_eq!(
        a.duplicates + b.duplicates,
        0,
        "the earlier sequence number is not a duplicate"
    );
    let user = store
        .load_users(&["pf".to_string()])
        .await
        .expect("load")
        .states
        .remove("pf")
        .expect("saved");
    assert!(
        user.memberships.contains_key("two-buys"),
        "both purchases counted: {user:?}"
    );
    // Either batch again (Lambda redelivers after a failure) changes nothing.
    let before = snapshot(store).await;
    for batch in [&later, &earlier] {
        let again = process_batch(store, &r, batch, NOW, &opts)
            .await
            .expect("again");
        assert_eq!(again.duplicates, 1);
        assert!(again.changes.is_empty());
    }
    assert_eq!(snapshot(store).await, before);
}

/// A producer retry or a backfill sends an event again under a new sequence number, on another
/// shard: it counts once.
pub async fn a_resent_event_counts_once(store: &dyn StateStore) {
    let r = rules();
    let event = purchase("resent", NOW - DAY);
    let first = records(std::slice::from_ref(&event), "shardId-000000000013", 5);
    let retry = records(&[event.clone(), event], "shardId-000000000014", 77);
    let opts = BatchOptions::default();
    process_batch(store, &r, &first, NOW, &opts)
        .await
        .expect("first");
    let again = process_batch(store, &r, &retry, NOW, &opts)
        .await
        .expect("retry");
    assert_eq!(again.duplicates, 2, "{again:?}");
    assert!(again.changes.is_empty());
    let user = store
        .load_users(&["resent".to_string()])
        .await
        .expect("load")
        .states
        .remove("resent")
        .expect("saved");
    assert!(user.memberships.contains_key("buyer"));
    assert!(
        !user.memberships.contains_key("two-buys"),
        "one real purchase, however often it arrives: {user:?}"
    );
    assert_eq!(
        store.segment_counts().await.expect("counts")["buyer"].entered,
        1
    );
}

/// Daily history and batch days follow `settings.timezone`: a change at 23:30 UTC counts on
/// the next day in Asia/Tokyo (UTC+9).
pub async fn daily_history_follows_the_time_zone(store: &dyn StateStore) {
    let yaml = format!("settings: {{ timezone: Asia/Tokyo }}\n{RULES}");
    let r = Rules::load(&yaml, "tokyo.yaml").unwrap_or_else(|e| panic!("{e}"));
    let at = NOW - 30 * 60_000; // 2025-11-30T23:30:00Z = 2025-12-01 08:30 in Tokyo
    let batch = records(&[purchase("night-owl", at - 60_000)], "shardId-tz", 1);
    let outcome = process_batch(store, &r, &batch, at, &BatchOptions::default())
        .await
        .expect("batch");
    assert_eq!(outcome.changes.len(), 1, "{outcome:?}");
    let utc_day = audience_core::time::day_of(at);
    let tokyo_day = audience_core::time::day_of(NOW);
    assert_eq!(audience_core::time::format_day(tokyo_day), "2025-12-01");
    let history = store
        .daily_history("buyer", utc_day - 1, tokyo_day + 1)
        .await
        .expect("history");
    let days: Vec<(i32, u64)> = history.iter().map(|h| (h.day, h.entered)).collect();
    assert_eq!(days, vec![(tokyo_day, 1)], "counted on the Tokyo day");
    let batches = store
        .batches(utc_day - 1, tokyo_day + 1)
        .await
        .expect("batches");
    assert!(
        !batches.is_empty() && batches.iter().all(|b| b.day == tokyo_day),
        "{batches:?}"
    );
}
