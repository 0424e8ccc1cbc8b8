//! The erasure part of the store conformance suite (`conformance::run` calls it), so the
//! embedded and DynamoDB stores are held to the same assertions: what `erase_user` removes,
//! what it keeps (other users' links, counters that stay consistent), the version condition,
//! idempotency, and that a user created again afterwards is a new user.

use audience_core::{Cause, ChangeKind, MembershipChange, UserState};
use audience_store::model::*;
use audience_store::{Erased, ErasedVersion, StateStore, StoreError, UserErasure};

const T0: i64 = 1_764_547_200_000;
const DAY: i64 = 86_400_000;
const USER: &str = "er-user";
/// More links than one BatchWriteItem (25) holds.
const MANY_LINKS: usize = 30;

fn change(user: &str, segment: &str, kind: ChangeKind, at: i64, cause: Cause) -> MembershipChange {
    MembershipChange {
        segment: segment.to_string(),
        user: user.to_string(),
        kind,
        at,
        day: audience_core::time::day_of(at),
        cause,
    }
}

fn entry(user: &str, segment: &str, op: ChangeKind, at: i64, id: &str) -> OutboxEntry {
    OutboxEntry {
        destination: "line".into(),
        segment: segment.to_string(),
        user: user.to_string(),
        op,
        at,
        change_id: id.to_string(),
    }
}

/// A new user entering `segments` (an addition pending for each) with `links`.
fn enter(user: &str, segments: &[&str], links: Vec<(String, String)>) -> UserCommit {
    let mut state = UserState::new(user);
    state.version = 1;
    state.next_flip_at = Some(T0 + DAY);
    let cause = Cause::Event("x".into());
    for seg in segments {
        state.memberships.insert(seg.to_string(), T0);
    }
    UserCommit {
        state,
        expected_version: 0,
        changes: segments
            .iter()
            .map(|s| change(user, s, ChangeKind::Entered, T0, cause.clone()))
            .collect(),
        outbox: segments
            .iter()
            .map(|s| entry(user, s, ChangeKind::Entered, T0, "enter"))
            .collect(),
        links,
        absorbed: Vec::new(),
        batch_id: format!("er-batch-{user}"),
        prior_next_flip_at: None,
    }
}

/// The erasure the pipeline would ask for: exits of both segments, an exit entry only for
/// `er-a` (as if `er-b` had no destination in the rules any more).
fn erasure(version: ErasedVersion, at: i64) -> UserErasure {
    UserErasure {
        user: USER.into(),
        version,
        next_flip_at: Some(T0 + DAY),
        changes: ["er-a", "er-b"]
            .iter()
            .map(|s| change(USER, s, ChangeKind::Exited, at, Cause::Erasure))
            .collect(),
        outbox: vec![entry(USER, "er-a", ChangeKind::Exited, at, "erase")],
        identities: vec!["ep-er-user".into(), "er-other-ep".into()],
        // The state names two identities of the 31 links: the store must find the others.
        identities_complete: false,
        at,
        change_id: "erase".into(),
    }
}

async fn all_users(store: &dyn StateStore) -> Vec<String> {
    let mut users = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.scan_users(after.as_deref(), 50).await.expect("scan");
        users.extend(page.users.iter().map(|u| u.user.clone()));
        users.extend(page.unreadable.keys().cloned());
        match page.next {
            Some(next) => after = Some(next),
            None => return users,
        }
    }
}

/// Erasure on any store.
pub async fn run(store: &dyn StateStore) {
    // The wall clock: DynamoDB keeps dead letters in day partitions of the retention period.
    let now = audience_clock::now_millis();
    let mut links: Vec<(String, String)> = (0..MANY_LINKS)
        .map(|i| (format!("er-ep-{i:02}"), USER.to_string()))
        .collect();
    links.push(("ep-er-user".into(), USER.into()));
    store
        .commit_user(&enter(USER, &["er-a", "er-b"], links))
        .await
        .expect("seed the user");
    // Another user: its link stays although the erased state named the endpoint, and the
    // erased user's own key is linked to it (the other direction).
    store
        .commit_user(&enter(
            "er-other",
            &["er-a"],
            vec![
                ("er-other-ep".into(), "er-other".into()),
                (USER.into(), "er-other".into()),
            ],
        ))
        .await
        .expect("seed another user");
    let quarantined = Quarantined {
        user: USER.into(),
        reason: "rejected_by_store".into(),
        message: "refused".into(),
        at: now,
        records: vec!["er-shard:1".into()],
    };
    store.quarantine(&[quarantined]).await.expect("quarantine");
    let letter = |record: &str, message: String| DeadLetter {
        record: record.into(),
        reason: "user_quarantined".into(),
        message,
        at: now,
        data: "{}".into(),
    };
    store
        .put_dead_letters(&[
            letter(
                "er-shard:1",
                format!("user `{USER}` is quarantined: refused"),
            ),
            letter(
                "er-shard:2",
                format!("user `{USER}` is quarantined: refused"),
            ),
            letter(
                "er-shard:3",
                "user `er-user-2` is quarantined: refused".into(),
            ),
        ])
        .await
        .expect("dead letters");
    let users_before = store.user_count().await.expect("count");
    let mut members_of = store.memberships_of(USER).await.expect("memberships");
    members_of.sort();
    assert_eq!(
        members_of,
        vec!["er-a", "er-b"],
        "the member index lists the user"
    );

    // A stale version removes nothing.
    match store
        .erase_user(&erasure(ErasedVersion::Read(2), now))
        .await
    {
        Err(StoreError::VersionConflict { user }) => assert_eq!(user, USER),
        other => panic!("an erasure at a stale version must conflict, got {other:?}"),
    }
    assert!(
        store
            .load_users(&[USER.into()])
            .await
            .expect("load")
            .states
            .contains_key(USER),
        "a conflicting erasure leaves the state"
    );

    let erased = store
        .erase_user(&erasure(ErasedVersion::Read(1), now))
        .await
        .expect("erase");
    assert_eq!(erased.state, 1, "{erased:?}");
    assert_eq!(erased.memberships, 2, "both memberships end: {erased:?}");
    assert_eq!(
        erased.outbox, 2,
        "the exit entry, and the pending addition to er-b turned into an exit: {erased:?}"
    );
    assert_eq!(
        erased.links,
        MANY_LINKS as u64 + 2,
        "every link to the user and the one keyed by its own key: {erased:?}"
    );
    assert_eq!(erased.quarantine, 1, "{erased:?}");
    assert_eq!(
        erased.dead_letters, 2,
        "only the user's dead letters: {erased:?}"
    );

    let loaded = store.load_users(&[USER.into()]).await.expect("load");
    assert!(
        loaded.states.is_empty() && loaded.unreadable.is_empty(),
        "{loaded:?}"
    );
    assert!(
        !all_users(store).await.contains(&USER.to_string()),
        "a scan no longer lists it"
    );
    assert_eq!(store.user_count().await.expect("count"), users_before - 1);
    assert!(store
        .memberships_of(USER)
        .await
        .expect("memberships")
        .is_empty());
    let counts = store.segment_counts().await.expect("counts");
    assert_eq!(
        counts["er-a"].members, 1,
        "er-other stays: {:?}",
        counts["er-a"]
    );
    assert_eq!(counts["er-a"].exited, 1);
    assert_eq!(counts["er-b"].members, 0, "{:?}", counts["er-b"]);
    let history = store
        .daily_history(
            "er-b",
            audience_core::time::day_of(now),
            audience_core::time::day_of(now),
        )
        .await
        .expect("history");
    assert_eq!(
        history.iter().map(|d| d.exited).sum::<u64>(),
        1,
        "{history:?}"
    );
    assert_eq!(
        store.list_members("er-a", None, 10).await.expect("members"),
        vec!["er-other".to_string()]
    );
    for segment in ["er-a", "er-b"] {
        let pending = store.pending("line", segment, 10).await.expect("pending");
        let mine: Vec<&OutboxEntry> = pending.iter().filter(|e| e.user == USER).collect();
        assert_eq!(mine.len(), 1, "{segment}: {pending:?}");
        assert_eq!(
            mine[0].op,
            ChangeKind::Exited,
            "{segment}: the destination drops the user"
        );
    }
    let mut keys: Vec<String> = (0..MANY_LINKS).map(|i| format!("er-ep-{i:02}")).collect();
    keys.extend([
        "ep-er-user".to_string(),
        USER.to_string(),
        "er-other-ep".to_string(),
    ]);
    let left = store.load_links(&keys).await.expect("links");
    assert_eq!(
        left.into_iter().collect::<Vec<_>>(),
        vec![("er-other-ep".to_string(), "er-other".to_string())],
        "only the other user's link is left"
    );
    let due = store.due_users(T0 + 10 * DAY, 1_000).await.expect("due");
    assert!(
        !due.contains(&USER.to_string()),
        "no due entry is left: {due:?}"
    );
    let quarantine = store.quarantined(100).await.expect("quarantined");
    assert!(quarantine.iter().all(|q| q.user != USER), "{quarantine:?}");

    // Idempotent: the pipeline finds no state and no membership the second time.
    let mut again = erasure(ErasedVersion::Read(0), now);
    again.changes.clear();
    again.outbox.clear();
    again.next_flip_at = None;
    let second = store.erase_user(&again).await.expect("erase again");
    assert_eq!(second, Erased::default(), "nothing left to delete");

    // A later event creates a new user, counted and listed as any other.
    store
        .commit_user(&enter(USER, &["er-b"], Vec::new()))
        .await
        .expect("a new user under the same key");
    assert_eq!(store.user_count().await.expect("count"), users_before);
    assert_eq!(
        store
            .list_members_consistent("er-b", None, 10)
            .await
            .expect("members"),
        vec![USER.to_string()]
    );
    assert_eq!(
        store.segment_counts().await.expect("counts")["er-b"].members,
        1
    );
}

/// Fires one consumer batch of the user just before the first erasure reaches the store, as
/// a concurrent Lambda invocation would.
#[cfg(feature = "pipeline")]
struct ConsumerWrite<'a> {
    store: &'a dyn StateStore,
    rules: audience_core::Rules,
    user: &'static str,
    fired: std::sync::atomic::AtomicBool,
}

#[cfg(feature = "pipeline")]
#[async_trait::async_trait]
impl audience_store::Hooks for ConsumerWrite<'_> {
    async fn before(&self, op: audience_store::Op) -> audience_store::StoreResult<()> {
        use std::sync::atomic::Ordering;
        if op == audience_store::Op::EraseUser && !self.fired.swap(true, Ordering::SeqCst) {
            let second = crate::scenarios::purchase(self.user, crate::scenarios::NOW - 3_600_000);
            let recs = crate::scenarios::records(&[second], "shardId-000000000031", 1);
            audience_pipeline::process_batch(
                self.store,
                &self.rules,
                &recs,
                crate::scenarios::NOW,
                &audience_pipeline::BatchOptions::default(),
            )
            .await?;
        }
        Ok(())
    }
}

/// `user delete` racing a consumer write (pipeline level, any store): the erasure at the
/// version it read conflicts, reads the newer state and erases it — including the segment the
/// racing event made the user enter.
#[cfg(feature = "pipeline")]
pub async fn erasure_races_a_consumer_write(store: &dyn StateStore) {
    use crate::scenarios::{purchase, records, rules, NOW};
    let user = "er-race";
    let r = rules();
    let first = records(&[purchase(user, NOW - DAY)], "shardId-000000000030", 1);
    audience_pipeline::process_batch(store, &r, &first, NOW, &Default::default())
        .await
        .expect("first batch");
    let before = store.segment_counts().await.expect("counts");
    let hooked = audience_store::HookedStore::new(
        store,
        ConsumerWrite {
            store,
            rules: rules(),
            user,
            fired: Default::default(),
        },
    );
    let report = audience_pipeline::erase_user(&hooked, &r, user, NOW, false)
        .await
        .expect("erase");
    assert_eq!(
        report.attempts, 2,
        "the first try lost the race: {report:?}"
    );
    assert_eq!(
        report.segments,
        vec!["buyer", "two-buys"],
        "the newer state (two purchases) is what is erased"
    );
    assert_eq!(report.erased.state, 1);
    assert_eq!(report.erased.memberships, 2);
    assert!(store
        .load_users(&[user.into()])
        .await
        .expect("load")
        .states
        .is_empty());
    assert!(store
        .memberships_of(user)
        .await
        .expect("members")
        .is_empty());
    let after = store.segment_counts().await.expect("counts");
    let members = |c: &std::collections::BTreeMap<String, SegmentCounts>, s: &str| {
        c.get(s).map_or(0, |c| c.members)
    };
    assert_eq!(members(&after, "buyer"), members(&before, "buyer") - 1);
    assert_eq!(members(&after, "two-buys"), members(&before, "two-buys"));
    let ledger = store.ledger(10).await.expect("ledger");
    let row = ledger
        .iter()
        .find(|e| e.destination == "erasure")
        .expect("an erasure row");
    assert!(
        !serde_json::to_string(row).expect("json").contains(user),
        "the ledger row names no one: {row:?}"
    );
}
