//! One sync run at a time: two concurrent runs on one store and one LINE account — the first
//! create, then a rotation with additions — send each request once, and the run that could
//! not take the lease says so and sends nothing. Dry runs take no lease.

use super::util::*;
use async_trait::async_trait;
use audience_line::fake::{FakeLine, FakeOp};
use audience_line::LineClient;
use audience_store::{HookedStore, Hooks, Op, StateStore, StoreResult};
use audience_store_sqlite::EmbeddedStore;
use audience_sync::{
    LineDestination, SegmentOutcome, SyncContext, SyncReport, SyncRunner, SYNC_LEASE,
};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::Barrier;

/// Holds the first two `pending` reads at a barrier (for at most `alone`): without the lease,
/// both runs would read the same state and outbox before either writes anything.
struct MeetAtPending {
    barrier: Barrier,
    arrivals: AtomicU32,
    alone: Duration,
}

impl MeetAtPending {
    fn new() -> Self {
        MeetAtPending {
            barrier: Barrier::new(2),
            arrivals: AtomicU32::new(0),
            alone: Duration::from_millis(500),
        }
    }
}

#[async_trait]
impl Hooks for MeetAtPending {
    async fn before(&self, op: Op) -> StoreResult<()> {
        if op == Op::Pending && self.arrivals.fetch_add(1, Ordering::SeqCst) < 2 {
            // A run alone (the other was turned away by the lease) goes on after `alone`.
            let _ = tokio::time::timeout(self.alone, self.barrier.wait()).await;
        }
        Ok(())
    }
}

async fn two_runs_at_once(
    store: &dyn StateStore,
    client: &LineClient,
    now: i64,
) -> (SyncReport, SyncReport) {
    let hooked = HookedStore::new(store, MeetAtPending::new());
    let runner = || {
        SyncRunner::new(vec![Box::new(LineDestination::new(
            line_config(),
            Some(client.clone()),
        ))])
    };
    let (a, b) = (runner(), runner());
    let ctx_a = SyncContext::new(&hooked, now, Duration::from_secs(60));
    let ctx_b = SyncContext::new(&hooked, now, Duration::from_secs(60));
    let rules = rules();
    let (ra, rb) = tokio::join!(
        a.run(&ctx_a, &rules, Some("vip")),
        b.run(&ctx_b, &rules, Some("vip"))
    );
    (ra.unwrap(), rb.unwrap())
}

/// The run that worked and the one turned away, checking there is exactly one of each.
fn winner_and_loser(a: SyncReport, b: SyncReport) -> (SyncReport, SyncReport) {
    let (winner, loser) = match (a.lease_held_elsewhere, b.lease_held_elsewhere) {
        (false, true) => (a, b),
        (true, false) => (b, a),
        other => {
            panic!("exactly one run must be turned away by the lease: {other:?}\n{a:?}\n{b:?}")
        }
    };
    assert!(loser.segments.is_empty(), "{loser:?}");
    assert!(
        loser
            .notes
            .iter()
            .any(|n| n.contains("another sync run holds the lease until")),
        "{loser:?}"
    );
    assert!(loser
        .to_text()
        .contains("another sync run holds the lease until"));
    assert_eq!(winner.segments.len(), 1, "{winner:?}");
    (winner, loser)
}

fn ok_requests(fake: &FakeLine, op: FakeOp) -> Vec<usize> {
    fake.requests_for(op)
        .iter()
        .filter(|r| r.status < 300)
        .filter_map(|r| r.ids)
        .collect()
}

#[tokio::test]
async fn two_concurrent_runs_create_rotate_and_upload_once() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    let members = users(0, 100);
    enter(&store, "vip", &members, T0).await;

    // The first audience: one create.
    let (a, b) = two_runs_at_once(&store, &client, T0).await;
    let (winner, _) = winner_and_loser(a, b);
    assert_eq!(
        winner.segments[0].outcome,
        SegmentOutcome::Done,
        "{winner:?}"
    );
    assert_eq!(ok_requests(&fake, FakeOp::Create), vec![100], "one create");
    assert_eq!(fake.audiences().len(), 1, "one audience at LINE");
    let first = line_state(&store, "vip")
        .await
        .audience
        .audience_id
        .unwrap();
    assert!(pending(&store, "line", "vip").await.is_empty());
    assert_eq!(
        store.lease(SYNC_LEASE).await.unwrap(),
        None,
        "released at the end"
    );

    // Exits (20%) and additions at once: one rotation, the additions uploaded once.
    exit(&store, "vip", &members[..20], T0 + HOUR).await;
    let newcomers = users(1_000, 10);
    enter(&store, "vip", &newcomers, T0 + HOUR).await;
    fake.clear_requests();
    let (a, b) = two_runs_at_once(&store, &client, T0 + 2 * HOUR).await;
    let (winner, _) = winner_and_loser(a, b);
    assert_eq!(
        winner.segments[0].outcome,
        SegmentOutcome::Done,
        "{winner:?}"
    );
    assert_eq!(
        ok_requests(&fake, FakeOp::CreateByFile),
        vec![90],
        "one replacement, built from the 90 members"
    );
    assert_eq!(
        ok_requests(&fake, FakeOp::Add),
        vec![10],
        "the newcomers are added to the current audience once"
    );
    assert!(ok_requests(&fake, FakeOp::Create).is_empty());
    let state = line_state(&store, "vip").await;
    assert_eq!(state.audience.audience_id, Some(first));
    assert_eq!(state.exits_owed, 20);
    assert_eq!(state.audience.generation, 2);
    assert!(pending(&store, "line", "vip").await.is_empty());
    assert_eq!(store.lease(SYNC_LEASE).await.unwrap(), None);
}

#[tokio::test]
async fn a_run_turned_away_sends_nothing_until_the_lease_expires() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    enter(&store, "vip", &users(0, 60), T0).await;
    // A run elsewhere (e.g. a Lambda that timed out) holds the lease for ten more minutes.
    assert!(store
        .acquire_lease(SYNC_LEASE, "other-run", T0, T0 + 10 * MINUTE)
        .await
        .unwrap());
    let report = sync_line(&store, &client, line_config(), T0 + MINUTE).await;
    assert!(report.lease_held_elsewhere);
    assert_eq!(
        report.notes,
        vec![
            "another sync run holds the lease until 2026-01-01T00:10:00Z (run other-run); this run sent nothing"
                .to_string()
        ]
    );
    assert!(fake.requests().is_empty(), "no request sent");
    assert_eq!(pending(&store, "line", "vip").await.len(), 60);
    assert!(store.ledger(10).await.unwrap().is_empty());

    // A dry run neither needs nor takes the lease.
    let runner = SyncRunner::new(vec![Box::new(LineDestination::new(line_config(), None))]);
    let mut ctx = SyncContext::new(&store, T0 + MINUTE, Duration::from_secs(60));
    ctx.dry_run = true;
    let planned = runner.run(&ctx, &rules(), Some("vip")).await.unwrap();
    assert!(!planned.lease_held_elsewhere);
    assert_eq!(planned.segments[0].outcome, SegmentOutcome::Planned);
    assert_eq!(
        store.lease(SYNC_LEASE).await.unwrap().unwrap().holder,
        "other-run"
    );

    // Once it has expired, the next run takes over and syncs.
    let report = sync_line(&store, &client, line_config(), T0 + 11 * MINUTE).await;
    assert!(!report.lease_held_elsewhere);
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );
    assert!(pending(&store, "line", "vip").await.is_empty());
    assert_eq!(store.lease(SYNC_LEASE).await.unwrap(), None);
}
