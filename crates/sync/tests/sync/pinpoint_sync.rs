//! Pinpoint sync against `FakePinpoint`, with import files in the moto S3 emulator: one job
//! per segment, polled to COMPLETED, segment ID recorded; no job without a membership change;
//! a restart in the middle of polling resumes the same job; a crash between CreateImportJob
//! and saving the job's ID finds the job by its file instead of starting a second one.

use super::util::*;
use async_trait::async_trait;
use audience_pinpoint::fake::{FakeOptions, FakePinpoint, JobScript};
use audience_pinpoint::{JobStatus, PinpointImporter, S3Options, S3Uploader};
use audience_retry::RetryPolicy;
use audience_store::{HookedStore, Hooks, LedgerStatus, Op, StateStore, StoreError, StoreResult};
use audience_store_sqlite::EmbeddedStore;
use audience_sync::{
    PinpointClients, PinpointDestination, PinpointSyncConfig, SegmentOutcome, SyncContext,
    SyncReport, SyncRunner,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const BUCKET: &str = "imports";

struct Env {
    moto: Moto,
    fake: FakePinpoint,
    s3: aws_sdk_s3::Client,
}

async fn env() -> Env {
    let moto = Moto::start();
    let fake = FakePinpoint::start_with(FakeOptions {
        s3_endpoint: Some(moto.url.clone()),
    })
    .await
    .unwrap();
    let conf = aws_sdk_s3::config::Builder::from(&sdk_config(&moto.url).await)
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(conf);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    Env { moto, fake, s3 }
}

fn config(max_poll_secs: u64) -> PinpointSyncConfig {
    PinpointSyncConfig {
        application_id: Some("app-1".into()),
        bucket: Some(BUCKET.into()),
        prefix: "audience-stream/imports".into(),
        role_arn: Some("arn:aws:iam::123456789012:role/pinpoint-import".into()),
        s3_force_path_style: true,
        min_interval_secs: 3_600,
        max_poll_secs,
        poll_first_wait_secs: 0.005,
        poll_cap_secs: 0.02,
        ..PinpointSyncConfig::default()
    }
}

async fn sync(
    env: &Env,
    store: &dyn StateStore,
    config: PinpointSyncConfig,
    now: i64,
) -> SyncReport {
    let s3 = S3Uploader::new(
        &sdk_config(&env.moto.url).await,
        S3Options {
            force_path_style: true,
            ..S3Options::default()
        },
    );
    let importer = PinpointImporter::new(&sdk_config(env.fake.base_url()).await).with_retry_policy(
        RetryPolicy {
            max_retries: 4,
            first_wait: Duration::from_millis(5),
            cap: Duration::from_millis(40),
            jitter: true,
        },
    );
    let dest = PinpointDestination::new(config, Some(PinpointClients { s3, importer }));
    let runner = SyncRunner::new(vec![Box::new(dest)]);
    let ctx = SyncContext::new(store, now, Duration::from_secs(60));
    runner.run(&ctx, &rules(), None).await.unwrap()
}

async fn object(env: &Env, key: &str) -> String {
    let body = env
        .s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap();
    String::from_utf8(body.into_bytes().to_vec()).unwrap()
}

fn pinpoint_state(
    v: Option<serde_json::Value>,
) -> audience_sync::pinpoint::state::StoredPinpointState {
    serde_json::from_value(v.expect("pinpoint state stored")).unwrap()
}

#[tokio::test]
async fn one_import_per_changed_segment_polled_to_completion() {
    let env = env().await;
    let store = EmbeddedStore::in_memory().unwrap();
    let mut list = users(0, 4);
    list[1].email = Some("tanaka, \"taro\"@example.jp".into());
    list.push(U {
        key: "no-address".into(),
        line: None,
        email: None,
    });
    enter(&store, "buyers", &list, T0).await;

    let report = sync(&env, &store, config(20), T0).await;
    assert_eq!(
        report.segments.len(),
        1,
        "only `buyers` has a Pinpoint destination: {report:?}"
    );
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );
    let jobs = env.fake.jobs();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(
        job.request.segment_name.as_deref(),
        Some("audience-stream-buyers")
    );
    assert_eq!(
        job.request.s3_url.as_deref(),
        Some("s3://imports/audience-stream/imports/buyers/v1.csv")
    );
    assert_eq!(
        job.request.role_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/pinpoint-import")
    );
    assert_eq!(job.rows_in_file, Some(4));

    let csv = object(&env, "audience-stream/imports/buyers/v1.csv").await;
    let mut lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.remove(0), "ChannelType,Address,Id,User.UserId");
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(
        lines.contains(&"EMAIL,user0@example.com,ep-user-000000,user-000000"),
        "{csv}"
    );
    assert!(
        lines.contains(&r#"EMAIL,"tanaka, ""taro""@example.jp",ep-user-000001,user-000001"#),
        "{csv}"
    );

    let st = pinpoint_state(store.destination_state("pinpoint", "buyers").await.unwrap());
    let segment_id = st.import.segment_id.clone().expect("segment ID recorded");
    assert_eq!(Some(&segment_id), job.segment_id.as_ref());
    assert!(st.import.running_job.is_none());
    assert_eq!(st.skipped_users, 1);
    assert!(pending(&store, "pinpoint", "buyers").await.is_empty());
    let rows = ledger(&store, "pinpoint").await;
    let done = rows.iter().find(|r| r.status == LedgerStatus::Ok).unwrap();
    assert_eq!(done.target.as_deref(), Some(job.id.as_str()));
    assert_eq!(done.detail["segment_id"], segment_id.as_str());
    assert_eq!(done.detail["total_processed"], 4);

    // No membership change: no job.
    let creates = env.fake.create_requests();
    let report = sync(&env, &store, config(20), T0 + 2 * 3_600_000).await;
    assert!(
        report.segments[0].notes[0].contains("unchanged"),
        "{report:?}"
    );
    assert_eq!(env.fake.create_requests(), creates);

    // A change after the interval: a new version into the same segment (by ID).
    enter(&store, "buyers", &users(10, 1), T0 + 3 * 3_600_000).await;
    sync(&env, &store, config(20), T0 + 3 * 3_600_000).await;
    let jobs = env.fake.jobs();
    assert_eq!(jobs.len(), 2);
    assert_eq!(
        jobs[1].request.segment_id.as_deref(),
        Some(segment_id.as_str())
    );
    assert!(jobs[1].request.segment_name.is_none());
    assert_eq!(jobs[1].rows_in_file, Some(5));
}

#[tokio::test]
async fn a_restart_in_the_middle_of_polling_resumes_the_same_job() {
    let env = env().await;
    let store = EmbeddedStore::in_memory().unwrap();
    enter(&store, "buyers", &users(0, 3), T0).await;
    let mut steps = vec![
        JobStatus::PreparingForInitialization,
        JobStatus::Initializing,
    ];
    steps.extend(std::iter::repeat_n(JobStatus::Processing, 400));
    steps.extend([JobStatus::Completing, JobStatus::Completed]);
    env.fake.script_next_job(JobScript::steps(steps));
    // This run may poll for 1 s only: the job is still PROCESSING when it stops.
    let mut quick = config(1);
    quick.poll_first_wait_secs = 0.05;
    quick.poll_cap_secs = 0.1;
    let report = sync(&env, &store, quick, T0).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Incomplete,
        "{report:?}"
    );
    let st = pinpoint_state(store.destination_state("pinpoint", "buyers").await.unwrap());
    let job_id = st.import.running_job.clone().expect("job remembered");
    assert!(
        ledger(&store, "pinpoint")
            .await
            .iter()
            .any(|r| r.status == LedgerStatus::Running
                && r.target.as_deref() == Some(job_id.as_str()))
    );

    // A new process (fresh destination and clients) resumes polling; no second job.
    let report = sync(&env, &store, config(30), T0 + 60_000).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );
    assert_eq!(env.fake.create_requests(), 1);
    assert_eq!(env.fake.jobs()[0].status, JobStatus::Completed);
    let st = pinpoint_state(store.destination_state("pinpoint", "buyers").await.unwrap());
    assert!(st.import.running_job.is_none() && st.import.segment_id.is_some());
}

#[tokio::test]
async fn a_failed_import_is_recorded_and_imported_again() {
    let env = env().await;
    let store = EmbeddedStore::in_memory().unwrap();
    enter(&store, "buyers", &users(0, 3), T0).await;
    env.fake
        .script_next_job(JobScript::fails(vec!["row 2: invalid address".into()]));
    env.fake.throttle_next_creates(1);
    let report = sync(&env, &store, config(20), T0).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Incomplete,
        "{report:?}"
    );
    let failed = ledger(&store, "pinpoint")
        .await
        .into_iter()
        .find(|r| r.status == LedgerStatus::Failed)
        .unwrap();
    assert!(failed.message.unwrap().contains("row 2: invalid address"));
    assert_eq!(failed.detail["failures"][0], "row 2: invalid address");
    // The changes were acknowledged with the job, but the failure makes the next run import.
    sync(&env, &store, config(20), T0 + 60_000).await;
    let jobs = env.fake.jobs();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[1].status, JobStatus::Completed);
}

/// Fails the first state save that follows a CreateImportJob the fake accepted: the process
/// "stops" after Pinpoint created the job and before its ID was recorded.
struct CrashAfterCreate<'a> {
    fake: &'a FakePinpoint,
    crashed: AtomicBool,
}

#[async_trait]
impl Hooks for CrashAfterCreate<'_> {
    async fn before(&self, op: Op) -> StoreResult<()> {
        if op == Op::PutDestinationState
            && self.fake.create_requests() > 0
            && !self.crashed.swap(true, Ordering::SeqCst)
        {
            return Err(StoreError::Unavailable(
                "simulated crash after CreateImportJob".into(),
            ));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_crash_after_create_import_job_resumes_that_job_instead_of_starting_another() {
    let env = env().await;
    let store = EmbeddedStore::in_memory().unwrap();
    enter(&store, "buyers", &users(0, 3), T0).await;
    let crashing = HookedStore::new(
        &store,
        CrashAfterCreate {
            fake: &env.fake,
            crashed: AtomicBool::new(false),
        },
    );
    let report = sync(&env, &crashing, config(20), T0).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Error,
        "the run stopped: {report:?}"
    );
    assert!(crashing.hooks.crashed.load(Ordering::SeqCst));
    assert_eq!(env.fake.jobs().len(), 1, "Pinpoint has the job");
    let st = pinpoint_state(store.destination_state("pinpoint", "buyers").await.unwrap());
    assert_eq!(st.import.running_job, None, "its ID was never saved");
    let intent = st
        .starting
        .clone()
        .expect("the intent was saved before the call");
    assert_eq!(intent.version, 1);
    assert_eq!(
        intent.s3_url,
        "s3://imports/audience-stream/imports/buyers/v1.csv"
    );

    // The next run finds the job by its file, resumes it and completes it.
    let report = sync(&env, &store, config(20), T0 + 60_000).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );
    assert_eq!(env.fake.create_requests(), 1, "no second CreateImportJob");
    let jobs = env.fake.jobs();
    assert_eq!(jobs.len(), 1, "exactly one job for v1");
    assert_eq!(jobs[0].status, JobStatus::Completed);
    assert!(
        env.fake.list_requests() >= 1,
        "looked up with GetImportJobs"
    );
    let st = pinpoint_state(store.destination_state("pinpoint", "buyers").await.unwrap());
    assert_eq!(st.starting, None);
    assert_eq!(st.import.running_job, None);
    assert_eq!(st.import.version, 1);
    assert_eq!(st.import.segment_id, jobs[0].segment_id);
    assert_eq!(st.rows, 3);
    assert!(ledger(&store, "pinpoint")
        .await
        .iter()
        .any(|r| r.status == LedgerStatus::Running
            && r.target.as_deref() == Some(jobs[0].id.as_str())
            && r.message
                .as_deref()
                .is_some_and(|m| m.contains("GetImportJobs"))));
    // The changes read by the stopped run were never acknowledged: they are imported again
    // (as v2) once the interval has passed.
    assert_eq!(pending(&store, "pinpoint", "buyers").await.len(), 3);
    sync(&env, &store, config(20), T0 + 2 * 3_600_000).await;
    let jobs = env.fake.jobs();
    assert_eq!(jobs.len(), 2);
    assert_eq!(
        jobs[1].request.s3_url.as_deref(),
        Some("s3://imports/audience-stream/imports/buyers/v2.csv")
    );
    assert!(pending(&store, "pinpoint", "buyers").await.is_empty());
}

#[tokio::test]
async fn an_intent_without_a_job_imports_that_version_once() {
    let env = env().await;
    let store = EmbeddedStore::in_memory().unwrap();
    enter(&store, "buyers", &users(0, 4), T0).await;
    // A run stopped after recording its intent and before calling CreateImportJob.
    store
        .put_destination_state(
            "pinpoint",
            "buyers",
            &serde_json::json!({
                "version": 0,
                "starting": {
                    "version": 1,
                    "s3_url": "s3://imports/audience-stream/imports/buyers/v1.csv",
                    "at": T0 - 60_000,
                },
            }),
        )
        .await
        .unwrap();
    let report = sync(&env, &store, config(20), T0).await;
    assert_eq!(
        report.segments[0].outcome,
        SegmentOutcome::Done,
        "{report:?}"
    );
    assert!(
        report.segments[0]
            .notes
            .iter()
            .any(|n| n.contains("no import job of")),
        "{report:?}"
    );
    assert_eq!(env.fake.list_requests(), 1, "looked up first");
    let jobs = env.fake.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].request.s3_url.as_deref(),
        Some("s3://imports/audience-stream/imports/buyers/v1.csv")
    );
    assert_eq!(jobs[0].status, JobStatus::Completed);
    assert_eq!(jobs[0].rows_in_file, Some(4));
    let st = pinpoint_state(store.destination_state("pinpoint", "buyers").await.unwrap());
    assert_eq!((st.starting, st.import.version), (None, 1));
    assert!(pending(&store, "pinpoint", "buyers").await.is_empty());
}

/// A purchase by `n` on an e-mail endpoint with this `OptOut` and `EndpointStatus`.
fn purchase(n: u64, t: i64, opt_out: &str, status: &str) -> audience_core::RawRecord {
    let event = serde_json::json!({
        "event_type": "purchase", "event_timestamp": t,
        "endpoint": {"Id": format!("ep-{n}"), "ChannelType": "EMAIL",
                     "Address": format!("user{n}@example.com"),
                     "OptOut": opt_out, "EndpointStatus": status,
                     "User": {"UserId": format!("user-{n}")}}
    });
    audience_core::RawRecord {
        id: audience_core::RecordId::new("shard", format!("{n}-{t}")),
        payload: audience_core::Payload::Json(event.to_string().into_bytes()),
        arrival_ms: None,
    }
}

#[tokio::test]
async fn opted_out_and_inactive_endpoints_are_never_imported() {
    let env = env().await;
    let store = EmbeddedStore::in_memory().unwrap();
    let records = vec![
        purchase(0, T0 - 60_000, "NONE", "ACTIVE"),
        purchase(1, T0 - 60_000, "ALL", "ACTIVE"),
        purchase(2, T0 - 60_000, "NONE", "INACTIVE"),
        // Opted out, then opted in again: the newest event decides.
        purchase(3, T0 - 120_000, "ALL", "ACTIVE"),
        purchase(3, T0 - 60_000, "NONE", "ACTIVE"),
        // Active, then opted out.
        purchase(4, T0 - 120_000, "NONE", "ACTIVE"),
        purchase(4, T0 - 60_000, "ALL", "ACTIVE"),
    ];
    let out = audience_pipeline::process_batch(
        &store,
        &rules(),
        &records,
        T0,
        &audience_pipeline::BatchOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(out.changes.len(), 5, "all five are buyers: {out:?}");

    sync(&env, &store, config(20), T0).await;
    let csv = object(&env, "audience-stream/imports/buyers/v1.csv").await;
    let mut lines: Vec<&str> = csv.lines().skip(1).collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        vec![
            "EMAIL,user0@example.com,ep-0,user-0",
            "EMAIL,user3@example.com,ep-3,user-3"
        ],
        "{csv}"
    );
    let st = pinpoint_state(store.destination_state("pinpoint", "buyers").await.unwrap());
    assert_eq!(
        st.skipped_users, 3,
        "members with no reachable endpoint are counted"
    );
}

#[tokio::test]
async fn the_import_after_an_erasure_no_longer_lists_the_user() {
    let env = env().await;
    let store = EmbeddedStore::in_memory().unwrap();
    enter(&store, "buyers", &users(0, 3), T0).await;
    sync(&env, &store, config(20), T0).await;
    let csv = object(&env, "audience-stream/imports/buyers/v1.csv").await;
    assert!(csv.contains("user1@example.com"), "{csv}");

    let report =
        audience_pipeline::erase_user(&store, &rules(), "user-000001", T0 + 3_600_000, false)
            .await
            .unwrap();
    assert_eq!(report.exits_queued, vec!["pinpoint/buyers"]);

    // The exit is a membership change: the next import (after the interval) is the
    // membership without the user, its endpoint and its address.
    sync(&env, &store, config(20), T0 + 2 * 3_600_000).await;
    let jobs = env.fake.jobs();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert_eq!(jobs[1].status, JobStatus::Completed);
    assert_eq!(jobs[1].rows_in_file, Some(2));
    let csv = object(&env, "audience-stream/imports/buyers/v2.csv").await;
    assert!(
        !csv.contains("user-000001") && !csv.contains("user1@example.com"),
        "{csv}"
    );
    assert!(
        csv.contains("user-000000") && csv.contains("user-000002"),
        "{csv}"
    );
    assert!(pending(&store, "pinpoint", "buyers").await.is_empty());
}
