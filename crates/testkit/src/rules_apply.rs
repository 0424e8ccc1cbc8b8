//! `rules apply` scenarios every store must pass, run against the embedded store and DynamoDB
//! Local by the pipeline's tests: a new segment fills with existing users, a changed condition
//! exits former members with outbox entries, a second run changes nothing, segments dropped
//! with members are refused unless asked, an interrupted run resumes to the same result as an
//! uninterrupted one, events committed during the run are respected, and an unreadable user is
//! quarantined without stopping the run, and a second run is refused while one holds the
//! lease.
//!
//! Test support (panics on failure, like the other suites).

use crate::scenarios::{email_open, purchase, records, snapshot, Snapshot, NOW};
use async_trait::async_trait;
use audience_core::{ChangeKind, Rules};
use audience_pipeline::{
    apply_rules, process_batch, ApplyError, ApplyOptions, ApplyOutcome, BatchOptions, RunLease,
    Start, APPLY_LEASE,
};
use audience_store::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const DAY: i64 = 86_400_000;

/// The rules in force before the change.
pub const OLD_RULES: &str = "segments:
  - id: buyer
    condition: { event_count: { event_type: _monetization.purchase, within: 30d, min: 1 } }
    destinations: { line: { audience_name: buyers }, pinpoint: { segment_name: buyers } }
  - id: emailed
    condition: { event_count: { event_type: _email.open, within: 30d, min: 1 } }
    destinations: { line: { audience_name: emailed } }
";

/// The change: `buyer` now needs two purchases, `three-buys` is new, `emailed` is kept.
pub const NEW_RULES: &str = "segments:
  - id: buyer
    condition: { event_count: { event_type: _monetization.purchase, within: 30d, min: 2 } }
    destinations: { line: { audience_name: buyers }, pinpoint: { segment_name: buyers } }
  - id: emailed
    condition: { event_count: { event_type: _email.open, within: 30d, min: 1 } }
    destinations: { line: { audience_name: emailed } }
  - id: three-buys
    condition: { event_count: { event_type: _monetization.purchase, within: 30d, min: 3 } }
    destinations: { line: { audience_name: three } }
";

/// The change without `emailed`.
pub const DROPPING_RULES: &str = "segments:
  - id: buyer
    condition: { event_count: { event_type: _monetization.purchase, within: 30d, min: 2 } }
    destinations: { line: { audience_name: buyers }, pinpoint: { segment_name: buyers } }
";

fn load(text: &str, name: &str) -> Rules {
    Rules::load(text, name).unwrap_or_else(|e| panic!("{e}"))
}

/// Users `u0`..`u9` with 1, 2 or 3 purchases (`u{i}` has `i % 3 + 1`), and two email-only
/// identities `m0`, `m1`.
fn seed_events() -> Vec<serde_json::Value> {
    let mut events = Vec::new();
    for i in 0..10 {
        for k in 0..=(i % 3) {
            events.push(purchase(&format!("u{i}"), NOW - DAY * (k + 1)));
        }
    }
    events.push(email_open("m0", NOW - DAY));
    events.push(email_open("m1", NOW - DAY));
    events
}

fn users(ids: &[usize]) -> Vec<String> {
    ids.iter().map(|i| format!("u{i}")).collect()
}

/// Fills a store under [`OLD_RULES`] and acknowledges the outbox, as a sync would.
pub async fn seed(store: &dyn StateStore) {
    let old = load(OLD_RULES, "old.yaml");
    let out = process_batch(
        store,
        &old,
        &records(&seed_events(), "shardId-000000000001", 1),
        NOW,
        &BatchOptions::default(),
    )
    .await
    .expect("seed batch");
    assert!(out.failed.is_empty() && out.quarantined.is_empty());
    for p in store.pending_summary().await.expect("pending summary") {
        let entries = store
            .pending(&p.destination, &p.segment, 10_000)
            .await
            .expect("pending");
        store.ack_pending(&entries).await.expect("ack");
    }
    assert!(store
        .pending_summary()
        .await
        .expect("summary")
        .iter()
        .all(|p| p.additions + p.exits == 0));
    assert_eq!(
        store.segment_counts().await.expect("counts")["buyer"].members,
        10
    );
}

fn options(hash: &str) -> ApplyOptions {
    ApplyOptions {
        rules_hash: hash.to_string(),
        parallel: 3,
        page: 2,
        ..ApplyOptions::default()
    }
}

async fn apply(store: &dyn StateStore, rules: &Rules, opts: &ApplyOptions) -> ApplyOutcome {
    apply_rules(store, rules, NOW, opts, &|_| {})
        .await
        .unwrap_or_else(|e| panic!("rules apply: {e}"))
}

async fn pending_users(
    store: &dyn StateStore,
    destination: &str,
    segment: &str,
) -> Vec<(String, ChangeKind)> {
    let mut out: Vec<(String, ChangeKind)> = store
        .pending(destination, segment, 10_000)
        .await
        .expect("pending")
        .into_iter()
        .map(|e| (e.user, e.op))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A new segment fills with existing users, a changed condition exits former members with
/// an outbox entry per destination, counters and daily history follow, and a second run
/// changes nothing.
pub async fn apply_publishes_a_rules_change(store: &dyn StateStore) {
    seed(store).await;
    let new = load(NEW_RULES, "new.yaml");
    let out = apply(store, &new, &options("new-1")).await;
    assert!(out.finished && !out.resumed);
    assert_eq!(out.run, out.this_invocation);
    assert_eq!(
        out.run.users, 12,
        "10 buyers and 2 email identities evaluated"
    );
    let exits = users(&[0, 3, 6, 9]);
    let enters = users(&[2, 5, 8]);
    assert_eq!(out.run.exited, BTreeMap::from([("buyer".to_string(), 4)]));
    assert_eq!(
        out.run.entered,
        BTreeMap::from([("three-buys".to_string(), 3)])
    );
    // Written: the 7 whose memberships changed, and those whose next flip moved (`buyer` now
    // ends with the second-newest purchase); never the email identities, which nothing changed.
    assert!((7..=10).contains(&out.run.written), "{:?}", out.run);
    let emails = store.load_users(&["m0".to_string()]).await.expect("load");
    assert_eq!(
        emails.states["m0"].version, 1,
        "an unchanged user is not written"
    );

    let counts = store.segment_counts().await.expect("counts");
    assert_eq!(counts["buyer"].members, 6);
    assert_eq!(counts["buyer"].exited, 4);
    assert_eq!(counts["three-buys"].members, 3);
    assert_eq!(
        counts["emailed"].members, 2,
        "an unchanged segment keeps its members"
    );
    let mut three = store
        .list_members("three-buys", None, 100)
        .await
        .expect("members");
    three.sort();
    assert_eq!(three, enters);
    let today = new.zone.day_of(NOW);
    let history = store
        .daily_history("three-buys", today, today)
        .await
        .expect("history");
    assert_eq!(
        history.iter().map(|d| d.entered).sum::<u64>(),
        3,
        "{history:?}"
    );

    for destination in ["line", "pinpoint"] {
        assert_eq!(
            pending_users(store, destination, "buyer").await,
            exits
                .iter()
                .map(|u| (u.clone(), ChangeKind::Exited))
                .collect::<Vec<_>>(),
            "{destination} hears of the former buyers' exits"
        );
    }
    assert_eq!(
        pending_users(store, "line", "three-buys").await,
        enters
            .iter()
            .map(|u| (u.clone(), ChangeKind::Entered))
            .collect::<Vec<_>>()
    );
    assert!(pending_users(store, "line", "emailed").await.is_empty());
    let loaded = store.load_users(&users(&[0, 2])).await.expect("load");
    assert!(!loaded.states["u0"].memberships.contains_key("buyer"));
    assert!(loaded.states["u2"].memberships.contains_key("three-buys"));

    // The same rules again: nothing to change, nothing written.
    let before = snapshot(store).await;
    let again = apply(store, &new, &options("new-1")).await;
    assert!(
        again.finished && !again.resumed,
        "a finished run is not resumed"
    );
    assert_eq!(
        (again.run.changes(), again.run.written),
        (0, 0),
        "{:?}",
        again.run
    );
    assert_eq!(again.run.users, 12);
    assert_eq!(
        snapshot(store).await,
        before,
        "a second run changed the store"
    );
}

/// Segments the new rules drop while they have members are refused, writing nothing; with
/// `drop_removed` their members leave and no destination is told.
pub async fn dropped_segments_are_explicit(store: &dyn StateStore) {
    seed(store).await;
    let dropping = load(DROPPING_RULES, "dropping.yaml");
    let before = snapshot(store).await;
    match apply_rules(store, &dropping, NOW, &options("drop"), &|_| {}).await {
        Err(ApplyError::RemovedSegments(segments)) => {
            assert_eq!(segments, BTreeMap::from([("emailed".to_string(), 2)]))
        }
        other => panic!("dropping `emailed` must be refused, got {other:?}"),
    }
    assert_eq!(
        snapshot(store).await,
        before,
        "a refused apply wrote something"
    );

    let out = apply(
        store,
        &dropping,
        &ApplyOptions {
            drop_removed: true,
            ..options("drop")
        },
    )
    .await;
    assert_eq!(out.dropped, BTreeMap::from([("emailed".to_string(), 2)]));
    assert_eq!(out.run.exited.get("emailed"), Some(&2));
    let counts = store.segment_counts().await.expect("counts");
    assert_eq!(counts["emailed"].members, 0);
    assert!(
        pending_users(store, "line", "emailed").await.is_empty(),
        "a dropped segment's destination is left as it is"
    );
}

/// A fixed wall clock for the lease scenario.
fn lease_clock() -> i64 {
    NOW
}

/// While one run holds the lease a second is refused, naming the holder, and writes nothing;
/// the lease is released when a run ends, and another holder's expired lease is taken over.
pub async fn a_second_run_waits_for_the_lease(store: &dyn StateStore) {
    seed(store).await;
    let new = load(NEW_RULES, "new.yaml");
    let lease = |holder: &str| RunLease {
        holder: holder.to_string(),
        clock: lease_clock,
        hold_ms: 60_000,
    };
    assert!(store
        .acquire_lease(APPLY_LEASE, "run-a", NOW, NOW + 60_000)
        .await
        .expect("lease"));
    let before = snapshot(store).await;
    let second = ApplyOptions {
        lease: Some(lease("run-b")),
        ..options("lease")
    };
    match apply_rules(store, &new, NOW, &second, &|_| {}).await {
        Err(ApplyError::Busy(why)) => assert!(why.contains("run-a"), "{why}"),
        other => panic!("a second run must be refused while run-a holds the lease, got {other:?}"),
    }
    assert_eq!(
        snapshot(store).await,
        before,
        "a refused run wrote something"
    );

    // run-a's lease expires: run-b takes over, finishes and releases it.
    let later = ApplyOptions {
        lease: Some(RunLease {
            hold_ms: 120_000,
            ..lease("run-b")
        }),
        ..options("lease")
    };
    store
        .acquire_lease(APPLY_LEASE, "run-a", NOW - 120_000, NOW - 1)
        .await
        .expect("lease");
    let out = apply(store, &new, &later).await;
    assert!(out.finished);
    assert_eq!(
        store.lease(APPLY_LEASE).await.expect("lease"),
        None,
        "a finished run releases its lease"
    );
}

/// Fails every commit after the first `ok` ones, as a store that went away would.
pub struct FailCommitsAfter {
    commits: AtomicUsize,
    ok: usize,
}

#[async_trait]
impl Hooks for FailCommitsAfter {
    async fn before(&self, op: Op) -> StoreResult<()> {
        if op == Op::CommitUser && self.commits.fetch_add(1, Ordering::SeqCst) >= self.ok {
            return Err(StoreError::Unavailable(
                "injected: the store went away".into(),
            ));
        }
        Ok(())
    }
}

/// Everything observable a rules apply leaves behind.
async fn observed(store: &dyn StateStore, rules: &Rules) -> (Snapshot, Vec<Vec<DailyCounts>>) {
    let day = rules.zone.day_of(NOW);
    let mut history = Vec::new();
    for seg in ["buyer", "emailed", "three-buys"] {
        history.push(store.daily_history(seg, day, day).await.expect("history"));
    }
    (snapshot(store).await, history)
}

/// A run cut short — by a store fault after some commits, or by a page budget — continues
/// where it stopped and ends exactly as an uninterrupted run. `fresh` makes an empty store.
pub async fn an_interrupted_apply_resumes_to_the_same_result<S, F, Fut>(fresh: F)
where
    S: StateStore,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    let new = load(NEW_RULES, "new.yaml");
    let reference = fresh().await;
    seed(&reference).await;
    let whole = apply(&reference, &new, &options("new-1")).await;
    let expected = observed(&reference, &new).await;

    // A store fault after 3 commits.
    let store = fresh().await;
    seed(&store).await;
    let failing = HookedStore::new(
        &store,
        FailCommitsAfter {
            commits: AtomicUsize::new(0),
            ok: 3,
        },
    );
    match apply_rules(&failing, &new, NOW, &options("new-1"), &|_| {}).await {
        Err(ApplyError::Store(StoreError::Unavailable(_))) => {}
        other => panic!("the injected fault must stop the run, got {other:?}"),
    }
    let saved = store
        .job_progress(audience_pipeline::rules_apply::JOB)
        .await
        .expect("progress");
    assert!(saved.is_some(), "progress is saved before the fault");
    let resumed = apply(
        &store,
        &new,
        &ApplyOptions {
            start: Start::Resume,
            ..options("new-1")
        },
    )
    .await;
    assert!(resumed.resumed && resumed.finished);
    assert_eq!(
        resumed.run, whole.run,
        "the run's counts, across both invocations"
    );
    assert!(
        resumed.this_invocation.written < whole.run.written,
        "the resumed run did not start over"
    );
    assert_eq!(
        observed(&store, &new).await,
        expected,
        "after a fault and a resume"
    );

    // A page budget: one page per invocation, as many invocations as it takes.
    let store = fresh().await;
    seed(&store).await;
    let budget = ApplyOptions {
        max_pages: Some(1),
        ..options("new-1")
    };
    let first = apply(&store, &new, &budget).await;
    assert!(!first.finished && !first.resumed);
    assert!(
        first.this_invocation.users <= 2,
        "one page of at most two users"
    );
    let mut last = first;
    for _ in 0..20 {
        if last.finished {
            break;
        }
        last = apply(&store, &new, &budget).await;
        assert!(last.resumed);
    }
    assert!(last.finished, "a page at a time finishes");
    assert_eq!(last.run, whole.run);
    assert_eq!(observed(&store, &new).await, expected, "a page at a time");

    // Other rules start over instead of resuming; so does --restart.
    let store = fresh().await;
    seed(&store).await;
    let partial = apply(&store, &new, &budget).await;
    assert!(!partial.finished);
    let other = apply(&store, &new, &options("other-hash")).await;
    assert!(!other.resumed && other.finished);
    assert_eq!(
        other.run.users, 12,
        "started over: every user evaluated again"
    );
    match apply_rules(
        &store,
        &new,
        NOW,
        &ApplyOptions {
            start: Start::Resume,
            ..options("new-1")
        },
        &|_| {},
    )
    .await
    {
        Err(ApplyError::NothingToResume(_)) => {}
        other => panic!("nothing to resume, got {other:?}"),
    }
    let restarted = apply(
        &store,
        &new,
        &ApplyOptions {
            start: Start::Restart,
            ..options("other-hash")
        },
    )
    .await;
    assert!(!restarted.resumed && restarted.finished);
    assert_eq!(
        observed(&store, &new).await,
        expected,
        "after starting over"
    );
}

/// Commits a batch of events under the new rules right before the first commit of the run,
/// as the consumer would while the apply is running.
pub struct EventsDuringApply<'a> {
    store: &'a dyn StateStore,
    rules: &'a Rules,
    events: Vec<serde_json::Value>,
    fired: AtomicBool,
}

#[async_trait]
impl Hooks for EventsDuringApply<'_> {
    async fn before(&self, op: Op) -> StoreResult<()> {
        if op == Op::CommitUser && !self.fired.swap(true, Ordering::SeqCst) {
            let batch = records(&self.events, "shardId-000000000002", 1);
            let out = process_batch(
                self.store,
                self.rules,
                &batch,
                NOW,
                &BatchOptions::default(),
            )
            .await?;
            assert!(out.failed.is_empty() && out.quarantined.is_empty());
        }
        Ok(())
    }
}

/// Events committed (under the new rules) while the apply runs make its commits lose the
/// race; it reloads and re-evaluates, and the memberships end as if the events had come
/// after the apply.
pub async fn events_during_the_apply_are_respected<S, F, Fut>(fresh: F)
where
    S: StateStore,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    let new = load(NEW_RULES, "new.yaml");
    // A second purchase for every one-purchase user, an hour before `now`.
    let events: Vec<serde_json::Value> = [0, 3, 6, 9]
        .iter()
        .map(|i| purchase(&format!("u{i}"), NOW - 3_600_000))
        .collect();
    let reference = fresh().await;
    seed(&reference).await;
    apply(&reference, &new, &options("new-1")).await;
    let batch = records(&events, "shardId-000000000002", 1);
    process_batch(&reference, &new, &batch, NOW, &BatchOptions::default())
        .await
        .expect("events");
    let expected = snapshot(&reference).await;

    let store = fresh().await;
    seed(&store).await;
    let during = HookedStore::new(
        &store,
        EventsDuringApply {
            store: &store,
            rules: &new,
            events,
            fired: AtomicBool::new(false),
        },
    );
    let out = apply(
        &during,
        &new,
        &ApplyOptions {
            parallel: 1,
            page: 100,
            ..options("new-1")
        },
    )
    .await;
    assert!(out.finished);
    assert_eq!(
        out.run.conflicts, 0,
        "every lost race was settled by reloading"
    );
    let got = snapshot(&store).await;
    assert_eq!(got.members, expected.members, "members");
    let memberships = |s: &Snapshot| -> BTreeMap<String, Vec<String>> {
        s.users
            .iter()
            .map(|(k, u)| (k.clone(), u.memberships.keys().cloned().collect()))
            .collect()
    };
    assert_eq!(memberships(&got), memberships(&expected));
    assert_eq!(
        got.counts["buyer"].members, 10,
        "the second purchases keep everyone a buyer"
    );
    assert!(
        pending_users(&store, "line", "buyer")
            .await
            .iter()
            .all(|(_, op)| *op == ChangeKind::Entered),
        "no exit is queued for a buyer who stayed"
    );
}

/// A user whose stored state cannot be read is quarantined and skipped; everyone else is
/// applied. `corrupt` makes `u0`'s stored item unreadable.
pub async fn an_unreadable_user_is_quarantined(
    store: &dyn StateStore,
    corrupt: impl std::future::Future<Output = ()>,
) {
    seed(store).await;
    corrupt.await;
    let new = load(NEW_RULES, "new.yaml");
    let out = apply(store, &new, &options("new-1")).await;
    assert!(out.finished);
    assert_eq!(out.run.quarantined, 1);
    assert_eq!(out.run.quarantined_users, vec!["u0".to_string()]);
    assert_eq!(
        out.run.exited.get("buyer"),
        Some(&3),
        "u3, u6, u9 exit; u0 is set aside"
    );
    let quarantined = store.quarantined(10).await.expect("quarantined");
    assert!(
        quarantined
            .iter()
            .any(|q| q.user == "u0" && q.reason == "unreadable_state"),
        "{quarantined:?}"
    );
}
