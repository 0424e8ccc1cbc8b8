//! Folded counters on DynamoDB Local: after many batches a fold leaves totals, user counts and
//! daily history unchanged while the items `segment_counts` reads drop to one per segment; a
//! fold stopped after any transaction, run twice, or run while batches commit never loses or
//! double-counts; a fan-out left pending by a crash holds the fold back until the sweep has
//! completed it. Each test uses its own table on the shared DynamoDB Local.

use audience_core::{Cause, ChangeKind, MembershipChange, Millis, UserState};
use audience_store::{
    DailyCounts, FoldLimits, FoldOutcome, OutboxEntry, SegmentCounts, StateStore, UserCommit,
};
use audience_store_dynamodb::DynamoStore;
use audience_testkit::dynamodb_local::DynamoDbLocal;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use std::collections::BTreeMap;
use std::sync::Arc;

const T0: i64 = 1_764_547_200_000;
const DAY: i64 = 86_400_000;

async fn store(table: &str) -> (Arc<DynamoDbLocal>, DynamoStore) {
    let local = match DynamoDbLocal::shared().await {
        Ok(local) => local,
        Err(e) => panic!(
            "DynamoDB Local could not start: {e}\n\
             It needs npm (apt-get install npm) and Java 17+ (apt-get install default-jre-headless)."
        ),
    };
    let store = local.store(table).await;
    (local, store)
}

/// `user` (at `expected`) enters or exits `segments`, the change counted on `day`.
fn commit(user: &str, expected: u64, segments: &[&str], kind: ChangeKind, day: i64) -> UserCommit {
    let at = T0 + day * DAY;
    let mut state = UserState::new(user);
    state.version = expected + 1;
    if kind == ChangeKind::Entered {
        for seg in segments {
            state.memberships.insert(seg.to_string(), at);
        }
    }
    UserCommit {
        state,
        expected_version: expected,
        changes: segments
            .iter()
            .map(|seg| MembershipChange {
                segment: seg.to_string(),
                user: user.to_string(),
                kind,
                at,
                day: audience_core::time::day_of(at),
                cause: Cause::Event("test".into()),
            })
            .collect(),
        outbox: segments
            .iter()
            .map(|seg| OutboxEntry {
                destination: "line".into(),
                segment: seg.to_string(),
                user: user.to_string(),
                op: kind,
                at,
                change_id: format!("{user}:{}", expected + 1),
            })
            .collect(),
        links: Vec::new(),
        absorbed: Vec::new(),
        batch_id: format!("b-{user}-{expected}"),
        prior_next_flip_at: None,
    }
}

/// Items in one partition (what a Query of it reads).
async fn items_in(local: &DynamoDbLocal, table: &str, pk: &str) -> i32 {
    local
        .client()
        .query()
        .table_name(table)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
        .select(Select::Count)
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .count()
}

/// What the sweep does before its fold: loads every due user (completing pending fan-outs)
/// and marks them done.
async fn sweep_like(store: &DynamoStore, now: Millis) {
    let due = store.due_users(now, 100_000).await.unwrap();
    store.load_users(&due).await.unwrap();
    store.due_done(now, &due).await.unwrap();
}

/// Far enough ahead of the wall clock that every delta written so far is past the margin.
fn later() -> Millis {
    audience_clock::now_millis() + 3 * 3_600_000
}

#[derive(Debug, PartialEq)]
struct Totals {
    counts: BTreeMap<String, SegmentCounts>,
    users: u64,
    history: Vec<DailyCounts>,
}

async fn totals(store: &DynamoStore, segment: &str) -> Totals {
    let day0 = audience_core::time::day_of(T0);
    Totals {
        counts: store.segment_counts().await.unwrap(),
        users: store.user_count().await.unwrap(),
        history: store.daily_history(segment, day0, day0 + 10).await.unwrap(),
    }
}

/// `n` users enter `segments` (one batch each, so one delta item per batch), the change
/// days cycling through `days`; then every fourth exits the first segment.
async fn batches(store: &DynamoStore, prefix: &str, n: usize, segments: &[&str], days: i64) {
    for i in 0..n {
        let user = format!("{prefix}-{i:03}");
        let day = i as i64 % days;
        store
            .commit_user(&commit(&user, 0, segments, ChangeKind::Entered, day))
            .await
            .unwrap();
    }
    for i in (0..n).step_by(4) {
        let user = format!("{prefix}-{i:03}");
        store
            .commit_user(&commit(&user, 1, &segments[..1], ChangeKind::Exited, days))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn folding_keeps_totals_and_reads_one_item_per_segment() {
    let (local, store) = store("fold-reads").await;
    audience_testkit::conformance::folding(&store).await;
    batches(&store, "u", 60, &["fa", "fb"], 3).await;
    let before = totals(&store, "fa").await;
    assert_eq!(before.counts["fa"].members, 45);
    assert_eq!(before.counts["fb"].members, 60);
    assert_eq!(before.users, 60 + 6);
    // One delta item per batch that changed the segment.
    assert_eq!(items_in(&local, "fold-reads", "C#fa").await, 60 + 15);
    let reads_before = {
        let m0 = store.metrics();
        store.segment_counts().await.unwrap();
        store.metrics().since(&m0).read_units
    };

    let now = later();
    sweep_like(&store, now).await;
    let out = store
        .fold_counters(now, &FoldLimits::default())
        .await
        .unwrap();
    assert!(out.folded_items >= 60 + 15 + 60, "{out:?}");
    assert!(!out.more && out.conflicts == 0, "{out:?}");

    assert_eq!(totals(&store, "fa").await, before, "totals unchanged");
    for pk in ["C#fa", "C#fb", "C#f-seg", "UC"] {
        assert_eq!(
            items_in(&local, "fold-reads", pk).await,
            1,
            "{pk}: only the base item"
        );
    }
    // Daily history: one folded item per day with changes.
    assert_eq!(items_in(&local, "fold-reads", "H#fa").await, 4);
    let reads_after = {
        let m0 = store.metrics();
        store.segment_counts().await.unwrap();
        store.metrics().since(&m0).read_units
    };
    eprintln!("segment_counts read units: {reads_before} before the fold, {reads_after} after");
    assert!(
        reads_after < reads_before,
        "segment_counts read {reads_after} units after the fold, {reads_before} before"
    );

    // A second fold has nothing to do; new batches add deltas on top of the base.
    let again = store
        .fold_counters(now, &FoldLimits::default())
        .await
        .unwrap();
    assert_eq!(
        (again.folded_items, again.transactions),
        (0, 0),
        "{again:?}"
    );
    store
        .commit_user(&commit("late", 0, &["fa"], ChangeKind::Entered, 9))
        .await
        .unwrap();
    let after = totals(&store, "fa").await;
    assert_eq!(after.counts["fa"].members, 46);
    assert_eq!(after.counts["fa"].entered, before.counts["fa"].entered + 1);
    assert_eq!(after.users, before.users + 1);
    assert_eq!(
        after.history.last().map(|d| (d.entered, d.exited)),
        Some((1, 0))
    );
}

#[tokio::test]
async fn a_fold_stopped_after_any_transaction_loses_and_doubles_nothing() {
    let (local, store) = store("fold-steps").await;
    // 250 batches over 5 days: several transactions of at most 100 actions.
    batches(&store, "s", 250, &["fs"], 5).await;
    let before = totals(&store, "fs").await;
    assert_eq!(before.counts["fs"].members, 250 - 63);
    let now = later();
    sweep_like(&store, now).await;
    let one = FoldLimits {
        max_transactions: 1,
        ..FoldLimits::default()
    };
    let mut runs = 0;
    let mut folded = 0;
    loop {
        // Each run stops after one transaction, as a process killed right after it would.
        let out: FoldOutcome = store.fold_counters(now, &one).await.unwrap();
        assert!(out.transactions <= 1, "{out:?}");
        assert_eq!(
            totals(&store, "fs").await,
            before,
            "after run {runs}: {out:?}"
        );
        folded += out.folded_items;
        runs += 1;
        if !out.more && out.folded_items == 0 {
            break;
        }
        assert!(runs < 50, "the fold does not finish: {out:?}");
    }
    assert!(
        runs >= 5,
        "250 + 63 deltas need several transactions, took {runs}"
    );
    assert_eq!(
        folded,
        250 + 63 + 250,
        "counter and user-count deltas, each once"
    );
    assert_eq!(items_in(&local, "fold-steps", "C#fs").await, 1);
    assert_eq!(items_in(&local, "fold-steps", "UC").await, 1);
}

#[tokio::test]
async fn a_fold_while_batches_commit_counts_everything_once() {
    let (local, store) = store("fold-race").await;
    batches(&store, "r", 40, &["fr"], 2).await;
    // Deltas written before `split` are an hour old at `now`; the writer's are newer.
    let split = audience_clock::now_millis();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let now = split + FoldLimits::DEFAULT_MARGIN_MS;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                let user = format!("w-{i:03}");
                store
                    .commit_user(&commit(&user, 0, &["fr"], ChangeKind::Entered, 1))
                    .await
                    .unwrap();
            }
        })
    };
    let mut folded = 0;
    while !writer.is_finished() {
        sweep_like(&store, now).await;
        folded += store
            .fold_counters(now, &FoldLimits::default())
            .await
            .unwrap()
            .folded_items;
    }
    writer.await.unwrap();
    sweep_like(&store, now).await;
    folded += store
        .fold_counters(now, &FoldLimits::default())
        .await
        .unwrap()
        .folded_items;
    assert_eq!(
        folded,
        40 + 10 + 40,
        "the old counter and user-count deltas, once"
    );
    assert_eq!(
        items_in(&local, "fold-race", "C#fr").await,
        1 + 40,
        "the base and the writer's deltas, not yet past the margin"
    );
    let check = |counts: SegmentCounts| {
        assert_eq!(
            (counts.members, counts.entered, counts.exited),
            (80 - 10, 80, 10),
            "every change counted once"
        )
    };
    check(store.segment_counts().await.unwrap()["fr"]);
    assert_eq!(store.user_count().await.unwrap(), 80);
    // Later, the writer's deltas fold too; nothing changes.
    let now = later();
    sweep_like(&store, now).await;
    store
        .fold_counters(now, &FoldLimits::default())
        .await
        .unwrap();
    assert_eq!(items_in(&local, "fold-race", "C#fr").await, 1);
    check(store.segment_counts().await.unwrap()["fr"]);
    assert_eq!(store.user_count().await.unwrap(), 80);
    let day0 = audience_core::time::day_of(T0);
    let history = store.daily_history("fr", day0, day0 + 2).await.unwrap();
    let entered: u64 = history.iter().map(|d| d.entered).sum();
    assert_eq!(entered, 80, "{history:?}");
}

#[tokio::test]
async fn a_pending_fan_out_holds_the_fold_back_until_the_sweep_completes_it() {
    let (local, store) = store("fold-pending").await;
    store
        .commit_user(&commit("first", 0, &["fp"], ChangeKind::Entered, 0))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    // A batch whose process dies after the user item: its fan-out is pending.
    let crashed = store
        .write_users_only(&[commit("crashed", 0, &["fp"], ChangeKind::Entered, 0)])
        .await;
    assert!(crashed[0].is_ok(), "{crashed:?}");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store
        .commit_user(&commit("third", 0, &["fp"], ChangeKind::Entered, 0))
        .await
        .unwrap();
    // Complete the due entries of the two finished commits only, as a sweep that has not
    // reached the crashed user yet.
    let now = later();
    let due = store.due_users(now, 100).await.unwrap();
    assert_eq!(due.len(), 3, "{due:?}");
    store
        .due_done(now, &["first".into(), "third".into()])
        .await
        .unwrap();
    let out = store
        .fold_counters(now, &FoldLimits::default())
        .await
        .unwrap();
    // Only what was written before the crashed commit is folded.
    assert_eq!(items_in(&local, "fold-pending", "C#fp").await, 2, "{out:?}");
    assert_eq!(store.segment_counts().await.unwrap()["fp"].members, 2);
    // The sweep completes the pending fan-out; the next fold takes everything.
    sweep_like(&store, now).await;
    let out = store
        .fold_counters(now, &FoldLimits::default())
        .await
        .unwrap();
    assert!(out.folded_items >= 2, "{out:?}");
    assert_eq!(items_in(&local, "fold-pending", "C#fp").await, 1);
    let counts = store.segment_counts().await.unwrap()["fp"];
    assert_eq!((counts.members, counts.entered), (3, 3), "counted once");
    assert_eq!(store.user_count().await.unwrap(), 3);
}
