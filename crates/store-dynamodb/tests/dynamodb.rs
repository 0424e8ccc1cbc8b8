//! The DynamoDB store against DynamoDB Local (started through `audience_testkit::dynamodb_local`, which
//! installs it with npm and needs Java 17+): the shared conformance suite, optimistic
//! concurrency (an erasure racing a consumer write too), BatchGetItem paging, no ceiling on
//! one commit's changes, a crash between a commit and its fan-out, unreadable items, and
//! capacity accounting.
//! One DynamoDB Local serves the whole binary; each test uses its own table.

use audience_core::{Cause, ChangeKind, MembershipChange, UserState};
use audience_store::{AbsorbedIdentity, OutboxEntry, StateStore, StoreError, UserCommit};
use audience_store_dynamodb::DynamoStore;
use audience_testkit::dynamodb_local::DynamoDbLocal;
use std::sync::Arc;

const T0: i64 = 1_764_547_200_000;

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

fn commit(
    user: &str,
    expected: u64,
    segments: &[&str],
    kind: ChangeKind,
    batch: &str,
) -> UserCommit {
    commit_to(user, expected, segments, kind, batch, &["line"])
}

fn commit_to(
    user: &str,
    expected: u64,
    segments: &[&str],
    kind: ChangeKind,
    batch: &str,
    destinations: &[&str],
) -> UserCommit {
    let mut state = UserState::new(user);
    state.version = expected + 1;
    for seg in segments {
        if kind == ChangeKind::Entered {
            state.memberships.insert(seg.to_string(), T0);
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
                at: T0,
                day: audience_core::time::day_of(T0),
                cause: Cause::Event("test".into()),
            })
            .collect(),
        outbox: segments
            .iter()
            .flat_map(|seg| {
                destinations.iter().map(move |d| OutboxEntry {
                    destination: d.to_string(),
                    segment: seg.to_string(),
                    user: user.to_string(),
                    op: kind,
                    at: T0,
                    change_id: format!("{batch}:{user}"),
                })
            })
            .collect(),
        links: Vec::new(),
        absorbed: Vec::new(),
        batch_id: batch.to_string(),
        prior_next_flip_at: None,
    }
}

#[tokio::test]
async fn dynamodb_store_conforms() {
    let (_local, store) = store("conformance").await;
    audience_testkit::conformance::run(&store).await;
    let m = store.metrics();
    assert!(m.requests > 20, "requests are counted: {m:?}");
    assert_eq!(
        m.transactions, 1,
        "only folding an identity is a transaction: {m:?}"
    );
    assert!(m.billed_write_units() > m.write_units, "{m:?}");
}

#[tokio::test]
async fn erasure_races_a_consumer_write() {
    let (_local, store) = store("erasure-race").await;
    audience_testkit::erasure::erasure_races_a_consumer_write(&store).await;
}

#[tokio::test]
async fn creating_the_table_twice_is_fine() {
    let (local, _store) = store("twice").await;
    audience_store_dynamodb::create_table(&local.client(), "twice")
        .await
        .unwrap();
}

#[tokio::test]
async fn two_writers_from_one_version_exactly_one_conflicts() {
    let (_local, store) = store("concurrency").await;
    for round in 0..5 {
        let user = format!("race-{round}");
        store
            .commit_user(&commit(&user, 0, &[], ChangeKind::Entered, "b0"))
            .await
            .unwrap();
        // Round 0..2: with changes (a fan-out follows the put); 3..4: the put alone.
        let segments: &[&str] = if round < 3 { &["r-seg"] } else { &[] };
        let a = commit(&user, 1, segments, ChangeKind::Entered, "ba");
        let b = commit(&user, 1, segments, ChangeKind::Entered, "bb");
        let (sa, sb) = (store.clone(), store.clone());
        let ta = tokio::spawn(async move { sa.commit_user(&a).await });
        let tb = tokio::spawn(async move { sb.commit_user(&b).await });
        let results = [ta.await.unwrap(), tb.await.unwrap()];
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let conflicts = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::VersionConflict { user: u }) if *u == user))
            .count();
        assert_eq!((ok, conflicts), (1, 1), "round {round}: {results:?}");
        assert_eq!(
            store
                .load_users(std::slice::from_ref(&user))
                .await
                .unwrap()
                .states[&user]
                .version,
            2
        );
    }
    let counts = store.segment_counts().await.unwrap()["r-seg"];
    assert_eq!(
        counts.entered, 3,
        "only the winning commits count: {counts:?}"
    );
    assert_eq!(counts.members, 3);
}

#[tokio::test]
async fn load_users_pages_beyond_one_hundred_keys() {
    let (_local, store) = store("batchget").await;
    let users: Vec<String> = (0..250).map(|i| format!("bg-{i:03}")).collect();
    futures::future::try_join_all(
        users
            .iter()
            .map(|u| commit(u, 0, &[], ChangeKind::Entered, "load"))
            .map(|c| {
                let store = store.clone();
                async move { store.commit_user(&c).await }
            }),
    )
    .await
    .unwrap();
    let mut wanted = users.clone();
    wanted.extend([
        "missing-1".to_string(),
        "bg-007".to_string(),
        "missing-2".to_string(),
    ]);
    let before = store.metrics();
    let loaded = store.load_users(&wanted).await.unwrap();
    assert_eq!(
        loaded.states.len(),
        250,
        "every stored user once, duplicates and missing keys dropped"
    );
    assert!(users
        .iter()
        .all(|u| loaded.states[u].user == *u && loaded.states[u].version == 1));
    let spent = store.metrics().since(&before);
    assert!(
        spent.requests >= 3,
        "250 keys need at least 3 BatchGetItem calls: {spent:?}"
    );
    assert_eq!(store.user_count().await.unwrap(), 250);
}

#[tokio::test]
async fn a_user_entering_45_segments_with_two_destinations_has_no_ceiling() {
    // 45 segments × (membership + counter + 2 outbox entries): far beyond the 100 actions of a
    // transaction, which this layout does not use.
    let (_local, store) = store("many").await;
    let segments: Vec<String> = (0..45).map(|i| format!("seg-{i:02}")).collect();
    let refs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let both = ["line", "pinpoint"];
    store
        .commit_user(&commit_to(
            "many",
            0,
            &refs,
            ChangeKind::Entered,
            "m1",
            &both,
        ))
        .await
        .unwrap();
    let counts = store.segment_counts().await.unwrap();
    for seg in &segments {
        assert_eq!(counts[seg].members, 1, "{seg}: {counts:?}");
        assert_eq!(
            store.list_members(seg, None, 10).await.unwrap(),
            vec!["many".to_string()]
        );
        for d in both {
            assert_eq!(store.pending(d, seg, 10).await.unwrap().len(), 1);
        }
    }
    assert_eq!(store.pending_summary().await.unwrap().len(), 90);
    // And all of them again on exit.
    store
        .commit_user(&commit_to(
            "many",
            1,
            &refs,
            ChangeKind::Exited,
            "m2",
            &both,
        ))
        .await
        .unwrap();
    let counts = store.segment_counts().await.unwrap();
    assert!(segments
        .iter()
        .all(|s| counts[s].members == 0 && counts[s].exited == 1));
    for seg in &segments {
        assert!(store.list_members(seg, None, 10).await.unwrap().is_empty());
        let pending = store.pending("pinpoint", seg, 10).await.unwrap();
        assert_eq!(pending.len(), 1, "the exit supersedes the addition");
        assert_eq!(pending[0].op, ChangeKind::Exited);
    }
    assert_eq!(store.metrics().transactions, 0);
}

#[tokio::test]
async fn a_crash_between_commit_and_fan_out_is_completed_once_by_the_next_reader() {
    let (_local, store) = store("crash").await;
    let first = commit("cr-user", 0, &["cr-seg"], ChangeKind::Entered, "c1");
    // The user items are written with their pending records; the process dies before the
    // membership, counter and outbox writes.
    let results = store.write_users_only(std::slice::from_ref(&first)).await;
    assert!(results[0].is_ok(), "{results:?}");
    assert!(store
        .list_members("cr-seg", None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(!store.segment_counts().await.unwrap().contains_key("cr-seg"));
    // Whoever loads the user next completes the fan-out (idempotently) before reading on.
    let loaded = store.load_users(&["cr-user".into()]).await.unwrap();
    assert_eq!(loaded.states["cr-user"].version, 1);
    for _ in 0..3 {
        store.load_users(&["cr-user".into()]).await.unwrap();
    }
    let counts = store.segment_counts().await.unwrap()["cr-seg"];
    assert_eq!((counts.members, counts.entered), (1, 1), "counted once");
    assert_eq!(store.user_count().await.unwrap(), 1);
    assert_eq!(
        store.list_members("cr-seg", None, 10).await.unwrap(),
        vec!["cr-user".to_string()]
    );
    assert_eq!(store.pending("line", "cr-seg", 10).await.unwrap().len(), 1);
    // The sweep finds such a user too (its near due entry), even if nothing else loads it.
    let second = commit("cr-quiet", 0, &["cr-seg"], ChangeKind::Entered, "c2");
    store.write_users_only(&[second]).await;
    let due = store.due_users(i64::MAX - 1, 100).await.unwrap();
    assert!(due.contains(&"cr-quiet".to_string()), "{due:?}");
}

#[tokio::test]
async fn an_unreadable_user_item_is_reported_not_fatal() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let (_local, store) = store("corrupt").await;
    store
        .commit_user(&commit("fine", 0, &[], ChangeKind::Entered, "k1"))
        .await
        .unwrap();
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("PK", AttributeValue::S("U#broken".into()))
        .item("SK", AttributeValue::S("S".into()))
        .item("v", AttributeValue::N("3".into()))
        .item("b", AttributeValue::B(vec![2, 0xff, 0x00, 0x13].into()))
        .send()
        .await
        .unwrap();
    let loaded = store
        .load_users(&["fine".into(), "broken".into()])
        .await
        .unwrap();
    assert!(loaded.states.contains_key("fine"));
    assert!(loaded.unreadable.contains_key("broken"), "{loaded:?}");
    let page = store.scan_users(None, 100).await.unwrap();
    assert_eq!(page.users.len(), 1);
    assert!(page.unreadable.contains_key("broken"));
}

#[tokio::test]
async fn users_of_one_batch_commit_concurrently_and_counters_add_up() {
    // Many users of one batch share counter delta items (16 buckets per segment and day):
    // transaction conflicts are retried, and every change is counted exactly once.
    let (_local, store) = store("sharedbatch").await;
    let users: Vec<String> = (0..64).map(|i| format!("sb-{i:02}")).collect();
    futures::future::try_join_all(
        users
            .iter()
            .map(|u| commit(u, 0, &["hot"], ChangeKind::Entered, "one-batch"))
            .map(|c| {
                let store = store.clone();
                async move { store.commit_user(&c).await }
            }),
    )
    .await
    .unwrap();
    let counts = store.segment_counts().await.unwrap()["hot"];
    assert_eq!((counts.members, counts.entered), (64, 64));
    let day = audience_core::time::day_of(T0);
    let history = store.daily_history("hot", day, day).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].entered, 64);
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_members("hot", after.as_deref(), 10)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().cloned();
        all.extend(page);
    }
    assert_eq!(all, users, "members page in key order");
}

#[tokio::test]
async fn consumed_capacity_is_accounted() {
    // DynamoDB Local reports capacity, but not AWS's exact figures (it does not double
    // transactional writes): docs/dynamodb.md computes the real cost from the billing rules.
    // Here: every request is counted and its reported units are summed.
    let (_local, store) = store("capacity").await;
    let before = store.metrics();
    store
        .commit_user(&commit("cap", 0, &[], ChangeKind::Entered, "c1"))
        .await
        .unwrap();
    let first = store.metrics().since(&before);
    assert_eq!(
        (first.write_requests, first.transactions),
        (5, 0),
        "new user: the due registry and near due entry (written once per batch), the put, \
         the user-count set, removing the pending record: {first:?}"
    );
    assert!(first.write_units >= 5.0, "{first:?}");
    let before = store.metrics();
    let mut again = commit("cap", 1, &[], ChangeKind::Entered, "c2");
    again.state.version = 2;
    store.commit_user(&again).await.unwrap();
    let put_only = store.metrics().since(&before);
    assert_eq!(
        (put_only.requests, put_only.transactions),
        (1, 0),
        "a user-only update is one PutItem"
    );
    assert_eq!(put_only.write_units, 1.0, "{put_only:?}");
    let before = store.metrics();
    store.load_users(&["cap".into()]).await.unwrap();
    let read = store.metrics().since(&before);
    assert!(read.read_units > 0.0 && read.write_units == 0.0, "{read:?}");
}

#[tokio::test]
async fn absorbing_an_identity_supersedes_its_pending_work_and_checks_its_version() {
    let (_local, store) = store("absorb").await;
    store
        .commit_user(&commit(
            "ep-y",
            0,
            &["ab-seg", "ab-other"],
            ChangeKind::Entered,
            "a1",
        ))
        .await
        .unwrap();
    // As the pipeline builds it: the owner enters, the identity exits what it was in.
    let mut c = commit("owner", 0, &["ab-seg"], ChangeKind::Entered, "a2");
    let exits = commit("ep-y", 1, &["ab-seg", "ab-other"], ChangeKind::Exited, "a2");
    c.changes.extend(exits.changes);
    c.outbox.extend(exits.outbox);
    c.absorbed = vec![AbsorbedIdentity {
        key: "ep-y".into(),
        version: 7,
    }];
    match store.commit_user(&c).await {
        Err(StoreError::VersionConflict { user }) => assert_eq!(user, "ep-y"),
        other => panic!("a stale absorbed version must conflict, got {other:?}"),
    }
    assert!(
        store
            .load_users(&["owner".into()])
            .await
            .unwrap()
            .states
            .is_empty(),
        "nothing written"
    );
    c.absorbed = vec![AbsorbedIdentity {
        key: "ep-y".into(),
        version: 1,
    }];
    store.commit_user(&c).await.unwrap();
    let pending = store.pending("line", "ab-seg", 10).await.unwrap();
    let ops: Vec<(&str, ChangeKind)> = pending.iter().map(|e| (e.user.as_str(), e.op)).collect();
    assert_eq!(
        ops,
        vec![("ep-y", ChangeKind::Exited), ("owner", ChangeKind::Entered)],
        "the identity's addition is superseded by its exit"
    );
    let other = store.pending("line", "ab-other", 10).await.unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].op, ChangeKind::Exited);
    assert_eq!(
        store.list_members("ab-seg", None, 10).await.unwrap(),
        vec!["owner".to_string()]
    );
    assert!(store
        .list_members("ab-other", None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.user_count().await.unwrap(), 1);
    assert!(store
        .load_users(&["ep-y".into()])
        .await
        .unwrap()
        .states
        .is_empty());
}

#[tokio::test]
async fn consistent_member_reads_are_strongly_consistent_queries() {
    // DynamoDB bills a strongly consistent read twice an eventually consistent one, and
    // DynamoDB Local reports it the same way: the consistent path must really ask for it.
    let (_local, store) = store("consistentreads").await;
    for i in 0..20 {
        store
            .commit_user(&commit(
                &format!("cm-{i:02}"),
                0,
                &["cm-seg"],
                ChangeKind::Entered,
                "cm",
            ))
            .await
            .unwrap();
    }
    let before = store.metrics();
    let eventual = store.list_members("cm-seg", None, 100).await.unwrap();
    let eventual_units = store.metrics().since(&before).read_units;
    let before = store.metrics();
    let consistent = store
        .list_members_consistent("cm-seg", None, 100)
        .await
        .unwrap();
    let consistent_units = store.metrics().since(&before).read_units;
    assert_eq!(consistent, eventual);
    assert_eq!(consistent.len(), 20);
    assert!(
        eventual_units > 0.0 && consistent_units >= 2.0 * eventual_units,
        "consistent {consistent_units} RCU vs eventual {eventual_units} RCU"
    );
}

#[tokio::test]
async fn a_lease_item_is_one_conditional_item() {
    let (local, store) = store("leaseitem").await;
    // Times near the wall clock: DynamoDB Local deletes items whose `ttl` has passed.
    let t0 = audience_clock::now_millis();
    assert!(store
        .acquire_lease("sync", "run-1", t0, t0 + 60_000)
        .await
        .unwrap());
    let item = local
        .client()
        .get_item()
        .table_name("leaseitem")
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S("LEASE#sync".into()),
        )
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("L".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the lease item, as docs/dynamodb.md describes it");
    assert_eq!(
        item.get("holder"),
        Some(&aws_sdk_dynamodb::types::AttributeValue::S("run-1".into()))
    );
    assert_eq!(
        item.get("until"),
        Some(&aws_sdk_dynamodb::types::AttributeValue::N(
            (t0 + 60_000).to_string()
        ))
    );
    assert!(
        item.contains_key("ttl"),
        "expired leases are cleaned up by TTL"
    );
    assert!(!store
        .acquire_lease("sync", "run-2", t0 + 1, t0 + 60_001)
        .await
        .unwrap());
    store.release_lease("sync", "run-1").await.unwrap();
    assert_eq!(store.lease("sync").await.unwrap(), None);
}
