//! The conformance suite every [`StateStore`] must pass, run by each implementation's tests
//! (embedded here, DynamoDB against DynamoDB Local), so both behave the same.
//!
//! Each check panics with a message naming what broke; the suite is test support, not
//! production code.

use audience_core::{Cause, ChangeKind, MembershipChange, UserState};
use audience_store::model::*;
use audience_store::{StateStore, StoreError};
use serde_json::json;

const DAY: i64 = 86_400_000;
const T0: i64 = 1_764_547_200_000;

fn commit(user: &str, expected: u64, changes: &[(&str, ChangeKind)], at: i64) -> UserCommit {
    let mut state = UserState::new(user);
    state.version = expected + 1;
    state.next_flip_at = Some(at + DAY);
    for (seg, kind) in changes {
        if *kind == ChangeKind::Entered {
            state.memberships.insert(seg.to_string(), at);
        }
    }
    UserCommit {
        state,
        expected_version: expected,
        changes: changes
            .iter()
            .map(|(seg, kind)| MembershipChange {
                segment: seg.to_string(),
                user: user.to_string(),
                kind: *kind,
                at,
                day: audience_core::time::day_of(at),
                cause: Cause::Event("x".into()),
            })
            .collect(),
        outbox: changes
            .iter()
            .map(|(seg, kind)| OutboxEntry {
                destination: "line".into(),
                segment: seg.to_string(),
                user: user.to_string(),
                op: *kind,
                at,
                change_id: format!("{at}:{}", expected + 1),
            })
            .collect(),
        links: vec![(format!("ep-{user}"), user.to_string())],
        absorbed: Vec::new(),
        batch_id: format!("batch-{at}"),
        prior_next_flip_at: None,
    }
}

/// Runs every check against a fresh, empty store.
pub async fn run(store: &dyn StateStore) {
    users_versions_and_conflicts(store).await;
    memberships_counters_history(store).await;
    outbox_and_acks(store).await;
    ledger_destination_state_batches(store).await;
    due_index_and_scan(store).await;
    absorbing_an_identity(store).await;
    bulk_commits_are_independent(store).await;
    limits_are_refused_alike(store).await;
    quarantine_round_trip(store).await;
    consistent_member_reads(store).await;
    leases(store).await;
    crate::erasure::run(store).await;
    parallel_scan_parts_and_job_progress(store).await;
    size_snapshots(store).await;
}

/// The parts of a parallel scan hold every user exactly once, whatever the number of parts
/// (the embedded store keeps everyone in part 0); a part outside the range is an error; a
/// job's progress round-trips and is apart from destination states.
async fn parallel_scan_parts_and_job_progress(store: &dyn StateStore) {
    for i in 0..7 {
        let user = format!("p-user-{i}");
        store
            .commit_user(&commit(&user, 0, &[], T0))
            .await
            .expect("commit");
    }
    let total_users = store.user_count().await.expect("count");
    for total in [1u32, 3] {
        let mut seen: Vec<String> = Vec::new();
        for part in 0..total {
            let mut after: Option<String> = None;
            loop {
                let page = store
                    .scan_users_part(part, total, after.as_deref(), 2)
                    .await
                    .expect("scan part");
                assert!(page.users.len() <= 2, "a page holds at most `limit` users");
                seen.extend(page.users.into_iter().map(|u| u.user));
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        let listed = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(
            listed,
            seen.len(),
            "{total} parts list a user twice: {seen:?}"
        );
        assert_eq!(
            listed as u64, total_users,
            "{total} parts together list every user"
        );
    }
    assert!(
        store.scan_users_part(3, 3, None, 2).await.is_err(),
        "part 3 of 3 does not exist"
    );
    assert_eq!(store.job_progress("p-job").await.expect("progress"), None);
    let progress = json!({"cursor": "p-user-3", "done": false});
    store
        .put_job_progress("p-job", &progress)
        .await
        .expect("save progress");
    assert_eq!(
        store.job_progress("p-job").await.expect("progress"),
        Some(progress)
    );
    assert_eq!(
        store
            .destination_state("line", "p-job")
            .await
            .expect("state"),
        None,
        "a job's progress is not a destination's state"
    );
}

/// Size snapshots: the newest at or before an instant, never one before the lower bound.
async fn size_snapshots(store: &dyn StateStore) {
    use audience_store::SizeSnapshot;
    use std::collections::BTreeMap;
    let at = |minutes: i64| T0 + minutes * 60_000;
    assert_eq!(
        store.sizes_at(at(60), at(0)).await.expect("no snapshot"),
        None
    );
    for (minute, vip) in [(0, 10), (30, 20), (60, 40), (24 * 60 + 5, 80)] {
        store
            .record_sizes(&SizeSnapshot {
                at: at(minute),
                sizes: BTreeMap::from([("vip".to_string(), vip), ("empty".to_string(), 0)]),
            })
            .await
            .expect("record sizes");
    }
    let found = store
        .sizes_at(at(59), at(0))
        .await
        .expect("sizes at")
        .expect("a snapshot");
    assert_eq!(found.at, at(30), "the newest at or before the instant");
    assert_eq!(found.sizes["vip"], 20);
    assert_eq!(found.sizes["empty"], 0);
    assert_eq!(
        store
            .sizes_at(at(60), at(0))
            .await
            .expect("sizes at")
            .map(|s| s.at),
        Some(at(60)),
        "an exact instant counts"
    );
    assert_eq!(
        store.sizes_at(at(29), at(1)).await.expect("sizes at"),
        None,
        "none before the lower bound"
    );
    // Across a day boundary: the newest of the previous day.
    let found = store
        .sizes_at(at(24 * 60), at(0))
        .await
        .expect("sizes at")
        .expect("a snapshot");
    assert_eq!((found.at, found.sizes["vip"]), (at(60), 40));
    let found = store
        .sizes_at(at(24 * 60 + 10), at(24 * 60))
        .await
        .expect("sizes at")
        .expect("a snapshot");
    assert_eq!(found.sizes["vip"], 80);
}

/// Folding counters (a no-op where the store has nothing to fold) changes no total and no
/// day: run after a sweep-like pass has completed every pending fan-out, with `now` far
/// enough ahead that every delta is eligible, twice.
pub async fn folding(store: &dyn StateStore) {
    use audience_store::FoldLimits;
    for (i, day) in [0, 0, 1, 2, 2, 2].into_iter().enumerate() {
        store
            .commit_user(&commit(
                &format!("f-{i}"),
                0,
                &[
                    ("f-seg", ChangeKind::Entered),
                    ("f-other", ChangeKind::Entered),
                ],
                T0 + day * DAY,
            ))
            .await
            .expect("enter");
    }
    store
        .commit_user(&commit(
            "f-0",
            1,
            &[("f-seg", ChangeKind::Exited)],
            T0 + 3 * DAY,
        ))
        .await
        .expect("exit");
    let day0 = audience_core::time::day_of(T0);
    let counts = store.segment_counts().await.expect("counts");
    let history = store
        .daily_history("f-seg", day0, day0 + 3)
        .await
        .expect("history");
    let users = store.user_count().await.expect("users");
    assert_eq!(counts["f-seg"].members, 5);
    let now = audience_clock::now_millis() + 3 * 3_600_000;
    let due = store.due_users(now, 10_000).await.expect("due");
    store.load_users(&due).await.expect("load due");
    store.due_done(now, &due).await.expect("due done");
    for _ in 0..2 {
        store
            .fold_counters(now, &FoldLimits::default())
            .await
            .expect("fold");
        assert_eq!(store.segment_counts().await.expect("counts"), counts);
        assert_eq!(
            store
                .daily_history("f-seg", day0, day0 + 3)
                .await
                .expect("history"),
            history
        );
        assert_eq!(store.user_count().await.expect("users"), users);
    }
}

/// Both stores refuse what DynamoDB cannot hold, per user, writing nothing.
async fn limits_are_refused_alike(store: &dyn StateStore) {
    let long = "k".repeat(audience_core::limits::MAX_KEY_BYTES + 1);
    match store
        .commit_user(&commit(&long, 0, &[("l-seg", ChangeKind::Entered)], T0))
        .await
    {
        Err(StoreError::Rejected { message, .. }) => {
            assert!(message.contains("over the 512-byte limit"), "{message}")
        }
        other => panic!("a 513-byte key must be rejected, got {other:?}"),
    }
    let mut c = commit("l-user", 0, &[], T0);
    c.links = vec![(long.clone(), "l-user".into())];
    assert!(matches!(
        store.commit_user(&c).await,
        Err(StoreError::Rejected { .. })
    ));
    let results = store
        .commit_users(&[
            commit(&long, 0, &[], T0),
            commit("l-ok", 0, &[("l-seg", ChangeKind::Entered)], T0),
        ])
        .await;
    assert!(matches!(results[0], Err(StoreError::Rejected { .. })));
    assert!(
        results[1].is_ok(),
        "the other user of the batch is saved: {:?}",
        results[1]
    );
    let loaded = store
        .load_users(&[long, "l-ok".into()])
        .await
        .expect("load");
    assert_eq!(loaded.states.len(), 1);
    assert!(loaded.unreadable.is_empty());
}

async fn quarantine_round_trip(store: &dyn StateStore) {
    let q = |user: &str, at: i64| Quarantined {
        user: user.into(),
        reason: "unreadable_state".into(),
        message: "stored state does not decode".into(),
        at,
        records: vec![format!("shardId-0:{at}")],
    };
    store
        .quarantine(&[q("q-old", T0), q("q-new", T0 + 5)])
        .await
        .expect("quarantine");
    store
        .quarantine(&[q("q-old", T0 + 9)])
        .await
        .expect("again");
    let listed = store.quarantined(10).await.expect("list");
    let users: Vec<&str> = listed.iter().map(|q| q.user.as_str()).collect();
    assert_eq!(
        users,
        vec!["q-old", "q-new"],
        "newest first, one entry per user"
    );
    assert_eq!(listed[0].records, vec![format!("shardId-0:{}", T0 + 9)]);
}

async fn consistent_member_reads(store: &dyn StateStore) {
    for i in 0..5 {
        store
            .commit_user(&commit(
                &format!("cr-{i}"),
                0,
                &[("cr-seg", ChangeKind::Entered)],
                T0,
            ))
            .await
            .expect("enter");
        // Written immediately before: a consistent read must list it.
        let members = store
            .list_members_consistent("cr-seg", None, 100)
            .await
            .expect("consistent members");
        assert!(
            members.contains(&format!("cr-{i}")),
            "a member committed just before is listed: {members:?}"
        );
    }
    let first = store
        .list_members_consistent("cr-seg", None, 3)
        .await
        .expect("page 1");
    let rest = store
        .list_members_consistent("cr-seg", first.last().map(String::as_str), 3)
        .await
        .expect("page 2");
    assert_eq!(
        [first, rest].concat(),
        store
            .list_members("cr-seg", None, 100)
            .await
            .expect("members"),
        "consistent pages list the same members, in key order"
    );
    store
        .commit_user(&commit(
            "cr-0",
            1,
            &[("cr-seg", ChangeKind::Exited)],
            T0 + 1,
        ))
        .await
        .expect("exit");
    assert!(
        !store
            .list_members_consistent("cr-seg", None, 100)
            .await
            .expect("consistent members")
            .contains(&"cr-0".to_string()),
        "a member who exited just before is not listed"
    );
}

async fn leases(store: &dyn StateStore) {
    // Lease times near the wall clock: a DynamoDB lease item carries a TTL (until + 1 day),
    // and DynamoDB (Local too) may delete an item whose TTL has passed.
    let t0: i64 = audience_clock::now_millis();
    let lease = |holder: &str, until: i64| {
        Some(Lease {
            holder: holder.to_string(),
            until,
        })
    };
    assert_eq!(store.lease("l-sync").await.expect("read"), None);
    assert!(store
        .acquire_lease("l-sync", "a", t0, t0 + 100)
        .await
        .expect("acquire"));
    assert_eq!(
        store.lease("l-sync").await.expect("read"),
        lease("a", t0 + 100)
    );
    assert!(
        !store
            .acquire_lease("l-sync", "b", t0 + 50, t0 + 150)
            .await
            .expect("acquire"),
        "held by someone else"
    );
    assert_eq!(
        store.lease("l-sync").await.expect("read"),
        lease("a", t0 + 100),
        "a refused acquire changes nothing"
    );
    assert!(
        store
            .acquire_lease("l-sync", "a", t0 + 60, t0 + 200)
            .await
            .expect("acquire"),
        "the holder re-acquires"
    );
    assert_eq!(
        store.lease("l-sync").await.expect("read"),
        lease("a", t0 + 200),
        "re-acquiring extends"
    );
    assert!(
        !store
            .acquire_lease("l-sync", "b", t0 + 200, t0 + 300)
            .await
            .expect("acquire"),
        "not expired at its `until`"
    );
    assert!(
        store
            .acquire_lease("l-other", "b", t0, t0 + 100)
            .await
            .expect("acquire"),
        "leases are independent"
    );
    assert!(
        store
            .acquire_lease("l-sync", "b", t0 + 201, t0 + 300)
            .await
            .expect("acquire"),
        "an expired lease is taken over"
    );
    store.release_lease("l-sync", "a").await.expect("release");
    assert_eq!(
        store.lease("l-sync").await.expect("read"),
        lease("b", t0 + 300),
        "only the holder releases"
    );
    store.release_lease("l-sync", "b").await.expect("release");
    assert_eq!(store.lease("l-sync").await.expect("read"), None);
    assert!(store
        .acquire_lease("l-sync", "a", t0 + 202, t0 + 400)
        .await
        .expect("acquire after release"));
    store
        .release_lease("l-missing", "a")
        .await
        .expect("releasing no lease is harmless");

    // Concurrent acquires of a free lease: exactly one wins.
    let (r1, r2, r3, r4) = tokio::join!(
        store.acquire_lease("l-race", "w1", t0, t0 + 100),
        store.acquire_lease("l-race", "w2", t0, t0 + 100),
        store.acquire_lease("l-race", "w3", t0, t0 + 100),
        store.acquire_lease("l-race", "w4", t0, t0 + 100),
    );
    let won: Vec<bool> = [r1, r2, r3, r4]
        .into_iter()
        .map(|r| r.expect("acquire"))
        .collect();
    assert_eq!(
        won.iter().filter(|w| **w).count(),
        1,
        "exactly one concurrent acquire wins: {won:?}"
    );
    let winner = store
        .lease("l-race")
        .await
        .expect("read")
        .expect("held")
        .holder;
    let number = won.iter().position(|w| *w).map_or(0, |i| i + 1);
    assert_eq!(winner, format!("w{number}"), "the winner holds it");
}

async fn bulk_commits_are_independent(store: &dyn StateStore) {
    store
        .commit_user(&commit("b-old", 0, &[], T0))
        .await
        .expect("seed user");
    let results = store
        .commit_users(&[
            commit("b-new", 0, &[("b-seg", ChangeKind::Entered)], T0),
            commit("b-old", 0, &[("b-seg", ChangeKind::Entered)], T0),
            commit("b-new2", 0, &[("b-seg", ChangeKind::Entered)], T0),
        ])
        .await;
    assert_eq!(results.len(), 3, "one result per commit, in order");
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(
        matches!(&results[1], Err(StoreError::VersionConflict { user }) if user == "b-old"),
        "a stale commit conflicts alone: {results:?}"
    );
    let members = store
        .list_members("b-seg", None, 10)
        .await
        .expect("members");
    assert_eq!(members, vec!["b-new".to_string(), "b-new2".to_string()]);
    assert_eq!(
        store.segment_counts().await.expect("counts")["b-seg"].members,
        2
    );
}

async fn users_versions_and_conflicts(store: &dyn StateStore) {
    store
        .commit_user(&commit("c-u1", 0, &[], T0))
        .await
        .expect("first save");
    let loaded = store
        .load_users(&["c-u1".into(), "c-missing".into()])
        .await
        .expect("load");
    assert_eq!(loaded.states.len(), 1, "only stored users are returned");
    assert_eq!(loaded.states["c-u1"].version, 1, "version is stored");
    // Saving from a stale version is a distinct error and writes nothing.
    let stale = commit("c-u1", 0, &[("c-seg", ChangeKind::Entered)], T0);
    match store.commit_user(&stale).await {
        Err(StoreError::VersionConflict { user }) => assert_eq!(user, "c-u1"),
        other => panic!("expected a version conflict, got {other:?}"),
    }
    let counts = store.segment_counts().await.expect("counts");
    assert!(
        !counts.contains_key("c-seg"),
        "a conflicting commit must not touch counters"
    );
    store
        .commit_user(&commit("c-u1", 1, &[], T0))
        .await
        .expect("save from current version");
    let links = store.load_links(&["ep-c-u1".into()]).await.expect("links");
    assert_eq!(links.get("ep-c-u1").map(String::as_str), Some("c-u1"));
}

async fn memberships_counters_history(store: &dyn StateStore) {
    store
        .commit_user(&commit("m-a", 0, &[("m-seg", ChangeKind::Entered)], T0))
        .await
        .expect("enter a");
    store
        .commit_user(&commit("m-b", 0, &[("m-seg", ChangeKind::Entered)], T0 + 1))
        .await
        .expect("enter b");
    store
        .commit_user(&commit(
            "m-a",
            1,
            &[("m-seg", ChangeKind::Exited)],
            T0 + DAY,
        ))
        .await
        .expect("exit a");
    let counts = store.segment_counts().await.expect("counts")["m-seg"];
    assert_eq!(
        counts,
        SegmentCounts {
            members: 1,
            entered: 2,
            exited: 1
        }
    );
    let members = store
        .list_members("m-seg", None, 10)
        .await
        .expect("members");
    assert_eq!(members, vec!["m-b".to_string()]);
    let day0 = audience_core::time::day_of(T0);
    let history = store
        .daily_history("m-seg", day0, day0 + 1)
        .await
        .expect("history");
    assert_eq!(
        history,
        vec![
            DailyCounts {
                day: day0,
                entered: 2,
                exited: 0
            },
            DailyCounts {
                day: day0 + 1,
                entered: 0,
                exited: 1
            }
        ]
    );
    // Paging.
    for i in 0..5 {
        store
            .commit_user(&commit(
                &format!("p-{i}"),
                0,
                &[("p-seg", ChangeKind::Entered)],
                T0,
            ))
            .await
            .expect("enter");
    }
    let first = store.list_members("p-seg", None, 3).await.expect("page 1");
    let rest = store
        .list_members("p-seg", first.last().map(String::as_str), 3)
        .await
        .expect("page 2");
    assert_eq!(
        first.len() + rest.len(),
        5,
        "pages cover every member once: {first:?} {rest:?}"
    );
}

async fn outbox_and_acks(store: &dyn StateStore) {
    store
        .commit_user(&commit("o-a", 0, &[("o-seg", ChangeKind::Entered)], T0))
        .await
        .expect("enter");
    store
        .commit_user(&commit("o-b", 0, &[("o-seg", ChangeKind::Entered)], T0 + 5))
        .await
        .expect("enter");
    let pending = store.pending("line", "o-seg", 10).await.expect("pending");
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].user, "o-a", "oldest first");
    // o-a exits before the sync acknowledges its addition: the ack must not remove the exit.
    store
        .commit_user(&commit("o-a", 1, &[("o-seg", ChangeKind::Exited)], T0 + 10))
        .await
        .expect("exit");
    let removed = store.ack_pending(&pending).await.expect("ack");
    assert_eq!(removed, 1, "only the unchanged entry is acknowledged");
    let left = store.pending("line", "o-seg", 10).await.expect("pending");
    assert_eq!(left.len(), 1);
    assert_eq!(
        (left[0].user.as_str(), left[0].op),
        ("o-a", ChangeKind::Exited)
    );
    let summary = store.pending_summary().await.expect("summary");
    let row = summary
        .iter()
        .find(|s| s.segment == "o-seg")
        .expect("summary row");
    assert_eq!(
        (row.additions, row.exits, row.oldest_at),
        (0, 1, Some(T0 + 10))
    );
}

async fn ledger_destination_state_batches(store: &dyn StateStore) {
    for i in 0..3u64 {
        store
            .append_ledger(&LedgerEntry {
                at: T0 + i as i64,
                destination: "line".into(),
                segment: "l-seg".into(),
                action: "add".into(),
                target: Some("123".into()),
                users: i,
                exits: 0,
                status: LedgerStatus::Ok,
                attempts: 1,
                duration_ms: 5,
                message: None,
                detail: json!({"request_id": format!("r{i}")}),
            })
            .await
            .expect("ledger");
    }
    let rows = store.ledger(2).await.expect("ledger read");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].users, 2, "newest first");
    assert_eq!(
        store
            .destination_state("line", "d-seg")
            .await
            .expect("read"),
        None
    );
    let value = json!({"audience_group_id": 42});
    store
        .put_destination_state("line", "d-seg", &value)
        .await
        .expect("write");
    assert_eq!(
        store
            .destination_state("line", "d-seg")
            .await
            .expect("read"),
        Some(value)
    );
    let batch = BatchRecord {
        batch_id: "shardId-0:1".into(),
        day: 100,
        records: 3,
        decoded: 2,
        set_aside: 1,
        ..BatchRecord::default()
    };
    store.record_batch(&batch).await.expect("batch");
    store.record_batch(&batch).await.expect("batch again");
    assert_eq!(store.batches(100, 100).await.expect("batches"), vec![batch]);
    store
        .put_dead_letters(&[DeadLetter {
            record: "shardId-0:2".into(),
            reason: "not_json".into(),
            message: "bad".into(),
            at: T0,
            data: "xx".into(),
        }])
        .await
        .expect("dead letters");
}

async fn due_index_and_scan(store: &dyn StateStore) {
    let mut c = commit("z-due", 0, &[], T0);
    c.state.next_flip_at = Some(T0 - 5);
    store.commit_user(&c).await.expect("save due user");
    let due = store.due_users(T0, 1000).await.expect("due");
    assert!(
        due.contains(&"z-due".to_string()),
        "a user whose flip time passed is due: {due:?}"
    );
    let not_yet = store.due_users(T0 - 10, 1000).await.expect("due");
    assert!(
        !not_yet.contains(&"z-due".to_string()),
        "not due before its flip time"
    );
    // The sweep re-evaluates it: the new flip time is what the index follows.
    let mut later = commit("z-due", 1, &[], T0);
    later.state.next_flip_at = Some(T0 + 1_000);
    later.prior_next_flip_at = Some(T0 - 5);
    store.commit_user(&later).await.expect("re-evaluated");
    store
        .due_done(T0, &["z-due".to_string()])
        .await
        .expect("due done");
    let due = store.due_users(T0, 1000).await.expect("due");
    assert!(
        !due.contains(&"z-due".to_string()),
        "no longer due: {due:?}"
    );
    let due = store.due_users(T0 + 1_000, 1000).await.expect("due");
    assert!(
        due.contains(&"z-due".to_string()),
        "due at its new flip time"
    );
    let mut seen = 0;
    let mut after: Option<String> = None;
    loop {
        let page = store.scan_users(after.as_deref(), 4).await.expect("scan");
        assert!(page.unreadable.is_empty());
        seen += page.users.len();
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen as u64,
        store.user_count().await.expect("count"),
        "a scan sees every user once"
    );
}

async fn absorbing_an_identity(store: &dyn StateStore) {
    store
        .commit_user(&commit("ep-x", 0, &[("a-seg", ChangeKind::Entered)], T0))
        .await
        .expect("endpoint-keyed state");
    let mut c = commit("a-user", 0, &[("a-seg", ChangeKind::Entered)], T0 + 1);
    c.changes.push(MembershipChange {
        segment: "a-seg".into(),
        user: "ep-x".into(),
        kind: ChangeKind::Exited,
        at: T0 + 1,
        day: audience_core::time::day_of(T0 + 1),
        cause: Cause::Event("x".into()),
    });
    c.absorbed = vec![AbsorbedIdentity {
        key: "ep-x".into(),
        version: 1,
    }];
    store.commit_user(&c).await.expect("absorb");
    let loaded = store
        .load_users(&["ep-x".into(), "a-user".into()])
        .await
        .expect("load");
    assert!(
        !loaded.states.contains_key("ep-x"),
        "the absorbed identity is gone"
    );
    assert_eq!(
        store.segment_counts().await.expect("counts")["a-seg"].members,
        1
    );
    assert_eq!(
        store
            .list_members("a-seg", None, 10)
            .await
            .expect("members"),
        vec!["a-user".to_string()]
    );
}
