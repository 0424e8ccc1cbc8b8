//! Test helpers: a store populated by committing membership changes (with their outbox
//! entries, as the pipeline writes them), runs of the sync, the segment's LINE members, a
//! store that fails one acknowledgement, and a moto S3 server (python3 -m moto.server).

use async_trait::async_trait;
use audience_core::state::{EndpointInfo, Stamped};
use audience_core::{Cause, ChangeKind, MembershipChange, Millis, Rules, UserState};
use audience_line::LineClient;
use audience_retry::RetryPolicy;
use audience_store::*;
use audience_sync::{LineDestination, LineSyncConfig, SyncContext, SyncReport, SyncRunner};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// 2026-01-01T00:00:00Z.
pub const T0: Millis = 1_767_225_600_000;
pub const MINUTE: Millis = 60_000;
pub const HOUR: Millis = 3_600_000;
pub const DAY: Millis = 86_400_000;

pub const RULES: &str = r#"
version: 1
segments:
  - id: vip
    condition: { line_linked: true }
    destinations:
      line: { audience_name: "VIP members" }
  - id: buyers
    condition: { event_count: { event_type: purchase, within: 30d, min: 1 } }
    destinations:
      pinpoint: { segment_name: "audience-stream-buyers" }
  - id: bound
    condition: { line_linked: true }
    destinations:
      line: { audience_id: 5000000000001 }
"#;

pub fn rules() -> Rules {
    Rules::load(RULES, "test-rules.yaml").unwrap()
}

/// The `n`-th test user's LINE ID.
pub fn line_id(n: u64) -> String {
    audience_line::fake::user_id(n)
}

/// A user to enter a segment.
#[derive(Clone)]
pub struct U {
    pub key: String,
    pub line: Option<String>,
    pub email: Option<String>,
}

/// Users `from..from+count` with LINE IDs (and e-mail addresses).
pub fn users(from: u64, count: u64) -> Vec<U> {
    (from..from + count)
        .map(|n| U {
            key: format!("user-{n:06}"),
            line: Some(line_id(n)),
            email: Some(format!("user{n}@example.com")),
        })
        .collect()
}

/// Commits membership changes for `users` in `segment` as the pipeline would: user state,
/// members, counters and one outbox entry per destination of the segment.
pub async fn change(
    store: &dyn StateStore,
    rules: &Rules,
    segment: &str,
    list: &[U],
    kind: ChangeKind,
    at: Millis,
) {
    let keys: Vec<String> = list.iter().map(|u| u.key.clone()).collect();
    let mut loaded = HashMap::new();
    for chunk in keys.chunks(500) {
        loaded.extend(store.load_users(chunk).await.unwrap().states);
    }
    for u in list {
        let base = loaded
            .remove(&u.key)
            .unwrap_or_else(|| UserState::new(&u.key));
        let mut state = base.clone();
        if let Some(l) = &u.line {
            state.line_user_id = Some(Stamped {
                v: l.clone(),
                t: at,
            });
        }
        if let Some(e) = &u.email {
            state.endpoints.insert(
                format!("ep-{}", u.key),
                EndpointInfo {
                    channel: Some(Stamped {
                        v: "EMAIL".into(),
                        t: at,
                    }),
                    address: Some(Stamped {
                        v: e.clone(),
                        t: at,
                    }),
                    ..EndpointInfo::seen_at(at)
                },
            );
        }
        match kind {
            ChangeKind::Entered => state.memberships.insert(segment.to_string(), at),
            ChangeKind::Exited => state.memberships.remove(segment),
        };
        state.version = base.version + 1;
        let changes = vec![MembershipChange {
            segment: segment.to_string(),
            user: u.key.clone(),
            kind,
            at,
            day: audience_core::time::day_of(at),
            cause: Cause::Rules,
        }];
        let change_id = format!("test-{at}#{}", state.version);
        let outbox = audience_pipeline::batch::outbox_entries(rules, &changes, &change_id);
        store
            .commit_user(&UserCommit {
                state,
                expected_version: base.version,
                changes,
                outbox,
                links: Vec::new(),
                absorbed: Vec::new(),
                prior_next_flip_at: None,
                batch_id: format!("test-{at}"),
            })
            .await
            .unwrap();
    }
}

pub async fn enter(store: &dyn StateStore, segment: &str, list: &[U], at: Millis) {
    change(store, &rules(), segment, list, ChangeKind::Entered, at).await;
}

pub async fn exit(store: &dyn StateStore, segment: &str, list: &[U], at: Millis) {
    change(store, &rules(), segment, list, ChangeKind::Exited, at).await;
}

/// The segment's members' active LINE IDs.
pub async fn line_members(store: &dyn StateStore, segment: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_members(segment, after.as_deref(), 1000)
            .await
            .unwrap();
        if page.is_empty() {
            return out;
        }
        for u in store.load_users(&page).await.unwrap().states.values() {
            if let Some(id) = u.active_line_user_id() {
                out.insert(id.to_string());
            }
        }
        after = page.last().cloned();
    }
}

/// Pending entries of a destination and segment.
pub async fn pending(store: &dyn StateStore, destination: &str, segment: &str) -> Vec<OutboxEntry> {
    store
        .pending(destination, segment, 1_000_000)
        .await
        .unwrap()
}

/// Quick LINE settings: fast retries, generous pacing.
pub fn line_config() -> LineSyncConfig {
    LineSyncConfig {
        retry: RetryPolicy::fast(5),
        requests_per_minute: 60,
        burst: 60,
        ..LineSyncConfig::default()
    }
}

/// One LINE sync run of every segment at `now`.
pub async fn sync_line(
    store: &dyn StateStore,
    client: &LineClient,
    config: LineSyncConfig,
    now: Millis,
) -> SyncReport {
    sync_line_with(store, client, config, now, |_| {}).await
}

/// One LINE sync run with a context tweak (e.g. `retry_parked`).
pub async fn sync_line_with(
    store: &dyn StateStore,
    client: &LineClient,
    config: LineSyncConfig,
    now: Millis,
    tweak: impl FnOnce(&mut SyncContext<'_>),
) -> SyncReport {
    let runner = SyncRunner::new(vec![Box::new(LineDestination::new(
        config,
        Some(client.clone()),
    ))]);
    let mut ctx = SyncContext::new(store, now, Duration::from_secs(60));
    tweak(&mut ctx);
    runner.run(&ctx, &rules(), Some("vip")).await.unwrap()
}

/// The stored LINE state of a segment.
pub async fn line_state(
    store: &dyn StateStore,
    segment: &str,
) -> audience_sync::line::state::StoredLineState {
    serde_json::from_value(
        store
            .destination_state("line", segment)
            .await
            .unwrap()
            .expect("line state stored"),
    )
    .unwrap()
}

/// Ledger rows of one destination, oldest first.
pub async fn ledger(store: &dyn StateStore, destination: &str) -> Vec<LedgerEntry> {
    let mut rows: Vec<LedgerEntry> = store
        .ledger(100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.destination == destination)
        .collect();
    rows.reverse();
    rows
}

/// Hooks failing `ack_pending` the next `fail` times (a crash between LINE's 202 and the
/// acknowledgement); wrap a store with `HookedStore::new(&inner, FailAcks::default())`.
#[derive(Default)]
pub struct FailAcks {
    pub fail: AtomicU32,
}

#[async_trait]
impl Hooks for FailAcks {
    async fn before(&self, op: Op) -> StoreResult<()> {
        if op == Op::AckPending
            && self
                .fail
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(StoreError::Unavailable(
                "simulated crash before the acknowledgement".into(),
            ));
        }
        Ok(())
    }
}

pub use audience_testkit::{sdk_config, Moto};
