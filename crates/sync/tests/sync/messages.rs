//! LINE messages on segment entry against the contract-true `FakeLine`: one message per entry
//! under a second run, a crash between send and acknowledgement, a lost or timed-out answer
//! after LINE accepted, and two runs at once; quota parking; quiet hours held then sent, and
//! dropped after their expiry; the dry run's file; rules checks of templates and objects.

use super::util::*;
use audience_core::{ChangeKind, Millis, Rules};
use audience_line::fake::{FakeLine, FakeOp, Fault};
use audience_line::LineClient;
use audience_retry::RetryPolicy;
use audience_store::{HookedStore, LedgerStatus, StateStore};
use audience_store_sqlite::EmbeddedStore;
use audience_sync::line_message::KIND;
use audience_sync::{
    LineMessageDestination, LineMessageSyncConfig, SegmentOutcome, SyncContext, SyncReport,
    SyncRunner,
};
use std::time::Duration;

const MESSAGE_RULES: &str = r#"
version: 1
settings:
  timezone: Asia/Tokyo
  keep_attributes: [firstName]
segments:
  - id: welcome
    condition: { line_linked: true }
    destinations:
      line_message:
        on_enter: ["Welcome, {{firstName|friend}}!"]
        notification_disabled: true
        aggregation_unit: welcome_2026
  - id: farewell
    condition: { line_linked: true }
    destinations:
      line_message:
        on_exit: ["See you, {{firstName|friend}}"]
  - id: capped
    condition: { line_linked: true }
    destinations:
      line_message:
        on_enter: ["Welcome back"]
        cap: 7d
  - id: quiet
    condition: { line_linked: true }
    destinations:
      line_message:
        on_enter: ["Good morning"]
        quiet_hours: { from: "22:00", to: "08:00", expire: 24h }
"#;

fn message_rules() -> Rules {
    let rules = Rules::load(MESSAGE_RULES, "messages.yaml").unwrap();
    audience_destinations::check_rules(&rules).unwrap();
    rules
}

fn config() -> LineMessageSyncConfig {
    LineMessageSyncConfig {
        retry: RetryPolicy::fast(3),
        ..LineMessageSyncConfig::default()
    }
}

/// 2026-01-01T03:00:00Z = 12:00 in Tokyo.
const NOON_TOKYO: Millis = T0 + 3 * HOUR;

async fn enter_msg(store: &dyn StateStore, segment: &str, list: &[U], at: Millis) {
    change(
        store,
        &message_rules(),
        segment,
        list,
        ChangeKind::Entered,
        at,
    )
    .await;
}

async fn run_with(
    store: &dyn StateStore,
    client: &LineClient,
    segment: &str,
    now: Millis,
    tweak: impl FnOnce(&mut SyncContext<'_>),
) -> SyncReport {
    let rules = message_rules();
    let runner = SyncRunner::new(vec![Box::new(LineMessageDestination::new(
        config(),
        Some(client.clone()),
        rules.zone.clone(),
    ))]);
    let mut ctx = SyncContext::new(store, now, Duration::from_secs(60));
    tweak(&mut ctx);
    runner.run(&ctx, &rules, Some(segment)).await.unwrap()
}

async fn run(
    store: &dyn StateStore,
    client: &LineClient,
    segment: &str,
    now: Millis,
) -> SyncReport {
    run_with(store, client, segment, now, |_| {}).await
}

fn without_line(mut list: Vec<U>) -> Vec<U> {
    for u in &mut list {
        u.line = None;
    }
    list
}

#[tokio::test]
async fn entering_users_get_one_multicast_once_and_the_ledger_names_no_line_id() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    enter_msg(&store, "welcome", &users(0, 3), NOON_TOKYO).await;
    enter_msg(&store, "welcome", &without_line(users(10, 2)), NOON_TOKYO).await;
    let report = run(&store, &client, "welcome", NOON_TOKYO).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );

    let delivered = fake.delivered();
    assert_eq!(delivered.len(), 3);
    for d in &delivered {
        assert_eq!(d.via, "multicast");
        assert_eq!(
            d.messages,
            vec![serde_json::json!({"type": "text", "text": "Welcome, friend!"})]
        );
        assert!(d.notification_disabled);
        assert_eq!(d.aggregation_units, vec!["welcome_2026".to_string()]);
        assert!(d.retry_key.is_some());
    }
    assert!(pending(&store, KIND, "welcome").await.is_empty());
    let rows = ledger(&store, KIND).await;
    let sent: Vec<_> = rows.iter().filter(|r| r.action == "multicast").collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].users, 3);
    assert_eq!(sent[0].target, delivered[0].retry_key);
    let skip: Vec<_> = rows.iter().filter(|r| r.action == "skip").collect();
    assert_eq!(skip.len(), 1);
    assert_eq!(skip[0].users, 2);
    let all = serde_json::to_string(&rows).unwrap();
    assert!(
        !all.contains(&line_id(0)),
        "the ledger must not carry LINE user IDs: {all}"
    );

    // Another run (a redelivered schedule event) sends nothing more.
    run(&store, &client, "welcome", NOON_TOKYO + MINUTE).await;
    assert_eq!(fake.delivered().len(), 3);
    // A single recipient gets a push.
    enter_msg(&store, "welcome", &users(20, 1), NOON_TOKYO + 2 * MINUTE).await;
    run(&store, &client, "welcome", NOON_TOKYO + 3 * MINUTE).await;
    let last = fake.delivered().pop().unwrap();
    assert_eq!((last.via, last.to), ("push", line_id(20)));
}

#[tokio::test]
async fn exits_get_their_own_messages_and_changes_without_messages_need_nothing() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    let rules = message_rules();
    let list = users(0, 2);
    change(
        &store,
        &rules,
        "farewell",
        &list,
        ChangeKind::Entered,
        NOON_TOKYO,
    )
    .await;
    run(&store, &client, "farewell", NOON_TOKYO).await;
    assert!(fake.delivered().is_empty(), "no on_enter declared");
    assert!(pending(&store, KIND, "farewell").await.is_empty());
    assert!(ledger(&store, KIND)
        .await
        .iter()
        .any(|r| r.action == "no_messages" && r.users == 2));

    change(
        &store,
        &rules,
        "farewell",
        &list,
        ChangeKind::Exited,
        NOON_TOKYO + HOUR,
    )
    .await;
    run(&store, &client, "farewell", NOON_TOKYO + 2 * HOUR).await;
    let delivered = fake.delivered();
    assert_eq!(delivered.len(), 2);
    assert_eq!(delivered[0].messages[0]["text"], "See you, friend");
    let row = ledger(&store, KIND)
        .await
        .into_iter()
        .find(|r| r.action == "multicast")
        .unwrap();
    assert_eq!((row.users, row.exits), (0, 2));
}

#[tokio::test]
async fn a_crash_between_send_and_acknowledgement_sends_no_second_message() {
    let inner = EmbeddedStore::in_memory().unwrap();
    let hooks = FailAcks::default();
    hooks.fail.store(1, std::sync::atomic::Ordering::SeqCst);
    let store = HookedStore::new(&inner, hooks);
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    enter_msg(&store, "welcome", &users(0, 4), NOON_TOKYO).await;

    let first = run(&store, &client, "welcome", NOON_TOKYO).await;
    assert_eq!(
        first.segments[0].outcome,
        SegmentOutcome::Error,
        "{first:?}"
    );
    assert_eq!(fake.delivered().len(), 4, "LINE accepted the multicast");
    assert_eq!(
        pending(&store, KIND, "welcome").await.len(),
        4,
        "not acknowledged"
    );

    let second = run(&store, &client, "welcome", NOON_TOKYO + MINUTE).await;
    assert_eq!(
        second.segments[0].outcome,
        SegmentOutcome::Done,
        "{second:?}"
    );
    assert_eq!(
        fake.delivered().len(),
        4,
        "the re-sent request was refused with 409"
    );
    let statuses: Vec<u16> = fake
        .requests_for(FakeOp::Multicast)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![200, 409]);
    assert!(pending(&store, KIND, "welcome").await.is_empty());
    let already: Vec<_> = ledger(&store, KIND)
        .await
        .into_iter()
        .filter(|r| r.detail["already_sent"] == true)
        .collect();
    assert_eq!(already.len(), 1);
}

#[tokio::test]
async fn a_lost_answer_after_line_accepted_is_retried_with_the_same_key() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    enter_msg(&store, "welcome", &users(0, 2), NOON_TOKYO).await;
    fake.inject(
        FakeOp::Multicast,
        Fault {
            after_apply: true,
            ..Fault::status(500, 1)
        },
    );
    let report = run(&store, &client, "welcome", NOON_TOKYO).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );
    let logged = fake.requests_for(FakeOp::Multicast);
    assert_eq!(
        logged.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![500, 409]
    );
    assert_eq!(fake.delivered().len(), 2);
    assert!(pending(&store, KIND, "welcome").await.is_empty());
}

#[tokio::test]
async fn throttled_requests_are_retried_with_the_same_key() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    enter_msg(&store, "welcome", &users(0, 2), NOON_TOKYO).await;
    fake.inject(
        FakeOp::Multicast,
        Fault {
            retry_after: Some(0),
            ..Fault::status(429, 2)
        },
    );
    let report = run(&store, &client, "welcome", NOON_TOKYO).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );
    let statuses: Vec<u16> = fake
        .requests_for(FakeOp::Multicast)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![429, 429, 200]);
    assert_eq!(fake.delivered().len(), 2);
    let row = ledger(&store, KIND)
        .await
        .into_iter()
        .find(|r| r.action == "multicast")
        .unwrap();
    assert_eq!(row.attempts, 3);
}

#[tokio::test]
async fn a_timeout_after_line_accepted_is_sent_once_across_runs() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let mut line_config = fake.config_long_lived();
    line_config.timeout = Duration::from_millis(300);
    let client = LineClient::new(line_config).unwrap();
    enter_msg(&store, "welcome", &users(0, 2), NOON_TOKYO).await;
    // Every attempt of the first run is carried out by LINE and answered too late.
    fake.inject(
        FakeOp::Multicast,
        Fault {
            status: None,
            times: 4,
            retry_after: None,
            after_apply: true,
            delay: Some(Duration::from_secs(2)),
        },
    );
    let first = run(&store, &client, "welcome", NOON_TOKYO).await;
    assert_eq!(
        first.segments[0].outcome,
        SegmentOutcome::Incomplete,
        "{first:?}"
    );
    assert_eq!(pending(&store, KIND, "welcome").await.len(), 2);
    assert_eq!(
        fake.delivered().len(),
        2,
        "the first attempt was delivered, the retries were 409"
    );

    fake.clear_faults();
    let second = run(&store, &client, "welcome", NOON_TOKYO + MINUTE).await;
    assert_eq!(
        second.segments[0].outcome,
        SegmentOutcome::Done,
        "{second:?}"
    );
    assert_eq!(fake.delivered().len(), 2);
    assert!(pending(&store, KIND, "welcome").await.is_empty());
}

#[tokio::test]
async fn two_runs_at_once_send_each_message_once() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    enter_msg(&store, "welcome", &users(0, 30), NOON_TOKYO).await;
    let (a, b) = tokio::join!(
        run(&store, &client, "welcome", NOON_TOKYO),
        run(&store, &client, "welcome", NOON_TOKYO)
    );
    // One run holds the lease and sends one multicast; the other sends nothing (it finds the
    // lease taken, or nothing left pending).
    let sent: u32 = a.segments.iter().chain(&b.segments).map(|s| s.sent).sum();
    assert_eq!(sent, 1, "{a:?} {b:?}");
    for n in 0..30 {
        assert_eq!(fake.delivered_to(&line_id(n)), 1, "user {n}");
    }
    assert!(pending(&store, KIND, "welcome").await.is_empty());
}

#[tokio::test]
async fn a_run_that_would_exceed_the_quota_parks_and_sends_nothing() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    fake.set_message_limit(Some(10));
    fake.set_message_usage(9);
    enter_msg(&store, "welcome", &users(0, 3), NOON_TOKYO).await;
    let report = run(&store, &client, "welcome", NOON_TOKYO).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Parked,
        "{report:?}"
    );
    assert!(fake.delivered().is_empty());
    assert_eq!(pending(&store, KIND, "welcome").await.len(), 3);
    assert!(ledger(&store, KIND)
        .await
        .iter()
        .any(|r| r.action == "quota" && r.status == LedgerStatus::Parked));

    // Parked stays parked; after the plan is raised, --retry-parked sends.
    fake.set_message_limit(Some(1_000));
    let again = run(&store, &client, "welcome", NOON_TOKYO + MINUTE).await;
    assert_eq!(again.segments[0].outcome, SegmentOutcome::Parked);
    assert!(fake.delivered().is_empty());
    let retried = run_with(&store, &client, "welcome", NOON_TOKYO + 2 * MINUTE, |c| {
        c.retry_parked = true
    })
    .await;
    assert_eq!(
        retried.segments[0].outcome,
        SegmentOutcome::Done,
        "{retried:?}"
    );
    assert_eq!(fake.delivered().len(), 3);
    assert_eq!(fake.message_usage(), 12);
}

#[tokio::test]
async fn quiet_hours_hold_then_send_and_drop_after_expiry() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    // 2026-01-01T14:00Z = 23:00 in Tokyo: quiet.
    let late = T0 + 14 * HOUR;
    enter_msg(&store, "quiet", &users(0, 2), late).await;
    let held = run(&store, &client, "quiet", late).await;
    assert!(fake.delivered().is_empty(), "{held:?}");
    assert!(held.segments[0]
        .notes
        .iter()
        .any(|n| n.contains("quiet hours")));
    assert_eq!(pending(&store, KIND, "quiet").await.len(), 2);
    // 08:30 Tokyo: sent.
    run(&store, &client, "quiet", late + 9 * HOUR + 30 * MINUTE).await;
    assert_eq!(fake.delivered().len(), 2);
    assert!(pending(&store, KIND, "quiet").await.is_empty());

    // Changes still waiting beyond `expire` (24h) are dropped, recorded, not sent.
    enter_msg(&store, "quiet", &users(10, 1), late).await;
    run(&store, &client, "quiet", late + 25 * HOUR).await;
    assert_eq!(fake.delivered_to(&line_id(10)), 0);
    assert!(pending(&store, KIND, "quiet").await.is_empty());
    assert!(ledger(&store, KIND)
        .await
        .iter()
        .any(|r| r.action == "expired" && r.users == 1));
}

#[tokio::test]
async fn the_cap_sends_at_most_one_message_per_user_per_window_on_sqlite() {
    let store = EmbeddedStore::in_memory().unwrap();
    cap_scenario(&store).await;
}

/// The cap keeps its records in the store's destination state under keys of its own (one
/// per user and segment, spread over shards): the same scenario on DynamoDB Local.
#[tokio::test]
async fn the_cap_sends_at_most_one_message_per_user_per_window_on_dynamodb() {
    let local = audience_testkit::dynamodb_local::DynamoDbLocal::shared()
        .await
        .unwrap_or_else(|e| {
            panic!("DynamoDB Local could not start: {e} (it needs npm and Java 17+)")
        });
    let store = local.store("sync-message-cap").await;
    cap_scenario(&store).await;
}

async fn cap_scenario(store: &dyn StateStore) {
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    let rules = message_rules();
    let user = users(0, 1);
    let cycle = |at: Millis| {
        let (rules, user) = (&rules, &user);
        async move {
            change(store, rules, "capped", user, ChangeKind::Exited, at).await;
            change(
                store,
                rules,
                "capped",
                user,
                ChangeKind::Entered,
                at + MINUTE,
            )
            .await;
        }
    };
    change(
        store,
        &rules,
        "capped",
        &user,
        ChangeKind::Entered,
        NOON_TOKYO,
    )
    .await;
    run(store, &client, "capped", NOON_TOKYO).await;
    assert_eq!(fake.delivered_to(&line_id(0)), 1);

    // Out and in again the next day: within 7 days, not sent again.
    cycle(NOON_TOKYO + DAY).await;
    run(store, &client, "capped", NOON_TOKYO + DAY + HOUR).await;
    assert_eq!(fake.delivered_to(&line_id(0)), 1);
    assert!(pending(store, KIND, "capped").await.is_empty());
    assert!(ledger(store, KIND)
        .await
        .iter()
        .any(|r| r.action == "capped" && r.users == 1));

    // A request LINE refuses sends nothing and leaves no cap record behind.
    cycle(NOON_TOKYO + 8 * DAY).await;
    fake.fail_next(FakeOp::Push, 400, 1);
    let refused = run(store, &client, "capped", NOON_TOKYO + 8 * DAY + HOUR).await;
    assert_eq!(
        refused.segments[0].outcome,
        SegmentOutcome::Parked,
        "{refused:?}"
    );
    assert_eq!(fake.delivered_to(&line_id(0)), 1);
    // After the window and the refusal: sent.
    let retried = run_with(
        store,
        &client,
        "capped",
        NOON_TOKYO + 8 * DAY + 2 * HOUR,
        |c| c.retry_parked = true,
    )
    .await;
    assert_eq!(
        retried.segments[0].outcome,
        SegmentOutcome::Done,
        "{retried:?}"
    );
    assert_eq!(fake.delivered_to(&line_id(0)), 2);
}

#[tokio::test]
async fn the_dry_run_writes_rendered_messages_and_recipients() {
    let store = EmbeddedStore::in_memory().unwrap();
    let fake = FakeLine::start().await;
    let client = LineClient::new(fake.config_long_lived()).unwrap();
    enter_msg(&store, "welcome", &users(0, 2), NOON_TOKYO).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_path_buf();
    let report = run_with(&store, &client, "welcome", NOON_TOKYO, |c| {
        c.dry_run = true;
        c.out_dir = Some(out.clone());
    })
    .await;
    assert_eq!(report.segments[0].outcome, SegmentOutcome::Planned);
    assert!(fake.delivered().is_empty());
    assert_eq!(pending(&store, KIND, "welcome").await.len(), 2);
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(KIND).join("welcome.json")).unwrap())
            .unwrap();
    let req = &file["requests"][0];
    assert_eq!(req["request"], "multicast");
    assert_eq!(
        req["body"]["to"],
        serde_json::json!([line_id(0), line_id(1)])
    );
    assert_eq!(req["body"]["messages"][0]["text"], "Welcome, friend!");
    assert_eq!(
        req["users"],
        serde_json::json!(["user-000000", "user-000001"])
    );
    assert_eq!(file["recipients"], 2);
}

fn check(text: &str) -> Result<(), String> {
    let rules = Rules::load(text, "check.yaml").map_err(|e| e.to_string())?;
    audience_destinations::check_rules(&rules)
}

fn segment(destination: &str, extra_settings: &str, condition: &str) -> String {
    format!(
        "settings: {{ keep_attributes: [tier] {extra_settings} }}\nsegments:\n  - id: s\n    condition: {condition}\n    destinations:\n      line_message: {destination}\n"
    )
}

#[test]
fn rules_check_refuses_holes_unknown_attributes_and_bad_objects() {
    let linked = "{ line_linked: true }";
    let tier_required =
        "{ all: [ { line_linked: true }, { user_attribute: { name: tier, exists: true } } ] }";
    assert!(check(&segment(
        r#"{ on_enter: ["Hi {{tier|there}}"] }"#,
        "",
        linked
    ))
    .is_ok());
    let hole = check(&segment(r#"{ on_enter: ["Hi {{tier}}"] }"#, "", linked)).unwrap_err();
    assert!(
        hole.contains("give a fallback") && hole.contains("segment `s`"),
        "{hole}"
    );
    assert!(check(&segment(
        r#"{ on_enter: ["Hi {{tier}}"] }"#,
        "",
        tier_required
    ))
    .is_ok());
    let exit = check(&segment(
        r#"{ on_exit: ["Bye {{tier}}"] }"#,
        "",
        tier_required,
    ))
    .unwrap_err();
    assert!(exit.contains("exit"), "{exit}");
    let unkept = check(&segment(r#"{ on_enter: ["Hi {{city|x}}"] }"#, "", linked)).unwrap_err();
    assert!(unkept.contains("keep_attributes"), "{unkept}");
    let six = check(&segment(r#"{ on_enter: [a, b, c, d, e, f] }"#, "", linked)).unwrap_err();
    assert!(six.contains("1–5"), "{six}");
    let flex_ok =
        r#"{ on_enter: [ { type: flex, altText: "Coupon", contents: { type: bubble } } ] }"#;
    assert!(check(&segment(flex_ok, "", linked)).is_ok());
    let flex_bad = r#"{ on_enter: [ { type: flex, contents: { type: bubble } } ] }"#;
    assert!(check(&segment(flex_bad, "", linked))
        .unwrap_err()
        .contains("altText"));
    let unit = check(&segment(
        r#"{ on_enter: [hi], aggregation_unit: "bad unit" }"#,
        "",
        linked,
    ))
    .unwrap_err();
    assert!(unit.contains("aggregation_unit"), "{unit}");
    assert!(check(&segment(r#"{ on_enter: [hi], cap: 7d }"#, "", linked)).is_ok());
    let cap = check(&segment(r#"{ on_enter: [hi], cap: 0d }"#, "", linked)).unwrap_err();
    assert!(cap.contains("greater than zero"), "{cap}");
    let quiet = check(&segment(
        r#"{ on_enter: [hi], quiet_hours: { from: "25:00", to: "08:00" } }"#,
        "",
        linked,
    ))
    .unwrap_err();
    assert!(quiet.contains("quiet_hours.from"), "{quiet}");
    assert!(check(&segment(r#"{ }"#, "", linked))
        .unwrap_err()
        .contains("on_enter"));
}
