//! PinpointImporter against the fake: full status sequence, failure, throttling, permanent
//! errors, and resuming a bounded-out poll without a second CreateImportJob.

use std::time::Duration;

use audience_pinpoint::fake::{FakeOp, FakeOptions, FakePinpoint, JobScript};
use audience_pinpoint::{
    write_import_csv, Error, ImportJobSpec, ImportRow, JobStatus, PollPolicy, S3Options,
    S3Uploader, SegmentTarget,
};

use crate::util::{importer, quick_poll, s3_with_bucket, sdk_config, Moto};

const APP: &str = "0123456789abcdef0123456789abcdef";
const ROLE: &str = "arn:aws:iam::123456789012:role/PinpointSegmentImport";

fn spec(s3_url: &str, segment: SegmentTarget) -> ImportJobSpec {
    ImportJobSpec {
        application_id: APP.into(),
        s3_url: s3_url.into(),
        role_arn: ROLE.into(),
        segment,
        register_endpoints: true,
        external_id: None,
    }
}

#[tokio::test]
async fn csv_in_moto_imported_through_full_status_sequence() {
    let moto = Moto::start();
    let _s3 = s3_with_bucket(&moto, "imports").await;
    let fake = FakePinpoint::start_with(FakeOptions {
        s3_endpoint: Some(moto.url.clone()),
    })
    .await
    .unwrap();

    let rows: Vec<ImportRow> = (1..=3)
        .map(|i| ImportRow {
            channel_type: "EMAIL".into(),
            address: (i != 2).then(|| format!("user{i}@example.com")),
            endpoint_id: None,
            user_id: format!("u-{i}"),
            attributes: vec![],
        })
        .collect();
    let (bytes, stats) = write_import_csv(&rows, &[]).unwrap();
    assert_eq!((stats.written, stats.skipped_no_address), (2, 1));
    let uploader = S3Uploader::new(
        &sdk_config(&moto.url).await,
        S3Options {
            force_path_style: true,
            ..S3Options::default()
        },
    );
    let url = uploader
        .put_import_file("imports", "pinpoint", "vip", "v1", bytes)
        .await
        .unwrap();

    let importer = importer(fake.base_url()).await;
    let created = importer
        .create_import_job(&spec(&url, SegmentTarget::Name("vip".into())))
        .await
        .unwrap();
    assert_eq!(created.status, JobStatus::Created);
    assert_eq!(created.segment_id, None);
    assert_eq!(created.segment_name.as_deref(), Some("vip"));
    assert!(created.creation_date.is_some());

    let done = importer
        .poll_until_done(APP, &created.id, &quick_poll())
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert!(done.segment_id.as_deref().is_some_and(|s| !s.is_empty()));
    assert_eq!(done.total_processed, 2, "the fake counted the rows in moto");
    assert_eq!(done.total_failures, 0);
    assert_eq!((done.completed_pieces, done.total_pieces), (1, 1));
    assert!(done.completion_date.is_some());

    // One GET per step: PREPARING.., INITIALIZING, PROCESSING, COMPLETING, COMPLETED.
    assert_eq!(fake.get_requests(), 5);
    let jobs = fake.jobs();
    assert_eq!(jobs.len(), 1);
    let request = &jobs[0].request;
    assert_eq!(request.format.as_deref(), Some("CSV"));
    assert_eq!(request.define_segment, Some(true));
    assert_eq!(request.register_endpoints, Some(true));
    assert_eq!(request.s3_url.as_deref(), Some(url.as_str()));
    assert_eq!(request.role_arn.as_deref(), Some(ROLE));
    assert_eq!(request.segment_name.as_deref(), Some("vip"));
}

#[tokio::test]
async fn existing_segment_id_is_kept() {
    let fake = FakePinpoint::start().await.unwrap();
    let importer = importer(fake.base_url()).await;
    let job = importer
        .create_import_job(&spec("s3://b/k.csv", SegmentTarget::Id("seg-7".into())))
        .await
        .unwrap();
    assert_eq!(job.segment_id.as_deref(), Some("seg-7"));
    let done = importer
        .poll_until_done(APP, &job.id, &quick_poll())
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.segment_id.as_deref(), Some("seg-7"));
    assert_eq!(fake.jobs()[0].request.segment_id.as_deref(), Some("seg-7"));
}

#[tokio::test]
async fn failed_job_lists_failures() {
    let fake = FakePinpoint::start().await.unwrap();
    fake.script_next_job(JobScript::fails(vec![
        "row 2: Address is invalid".into(),
        "row 5: ChannelType is missing".into(),
    ]));
    let importer = importer(fake.base_url()).await;
    let job = importer
        .create_import_job(&spec("s3://b/k.csv", SegmentTarget::Name("vip".into())))
        .await
        .unwrap();
    let done = importer
        .poll_until_done(APP, &job.id, &quick_poll())
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Failed);
    assert!(!done.status.is_success());
    assert_eq!(
        done.failures,
        ["row 2: Address is invalid", "row 5: ChannelType is missing"]
    );
    assert_eq!(done.total_failures, 2);
    assert_eq!(done.failed_pieces, 1);
    assert_eq!(done.segment_id, None);
}

#[tokio::test]
async fn throttled_create_is_retried_and_succeeds() {
    let fake = FakePinpoint::start().await.unwrap();
    fake.throttle_next_creates(2);
    let importer = importer(fake.base_url()).await;
    let job = importer
        .create_import_job(&spec("s3://b/k.csv", SegmentTarget::Name("vip".into())))
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Created);
    assert_eq!(fake.create_requests(), 3);
    assert_eq!(fake.jobs().len(), 1);
}

#[tokio::test]
async fn retries_give_up_after_the_policy() {
    let fake = FakePinpoint::start().await.unwrap();
    fake.fail_next(FakeOp::CreateImportJob, 500, 100);
    let importer = importer(fake.base_url()).await; // 4 retries
    let err = importer
        .create_import_job(&spec("s3://b/k.csv", SegmentTarget::Name("vip".into())))
        .await
        .unwrap_err();
    match &err {
        Error::RetriesExhausted { attempts, last } => {
            assert_eq!(*attempts, 5);
            assert!(
                matches!(&**last, Error::Api(e) if e.status == Some(500)),
                "{last:?}"
            );
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    assert!(err.request_id().is_some());
    assert_eq!(fake.create_requests(), 5);
    assert!(fake.jobs().is_empty());
}

#[tokio::test]
async fn other_4xx_is_permanent_with_message_and_request_id() {
    let fake = FakePinpoint::start().await.unwrap();
    fake.fail_next(FakeOp::CreateImportJob, 403, 1);
    let importer = importer(fake.base_url()).await;
    let err = importer
        .create_import_job(&spec("s3://b/k.csv", SegmentTarget::Name("vip".into())))
        .await
        .unwrap_err();
    match &err {
        Error::Api(e) => {
            assert_eq!(e.operation, "CreateImportJob");
            assert_eq!(e.application_id, APP);
            assert_eq!(e.status, Some(403));
            assert_eq!(e.code.as_deref(), Some("ForbiddenException"));
            assert_eq!(e.message, "Injected failure");
            assert!(e.request_id.as_deref().is_some_and(|r| r.len() == 36));
            assert!(!e.retryable);
        }
        other => panic!("expected Api error, got {other:?}"),
    }
    assert_eq!(fake.create_requests(), 1, "no retry of a 403");

    let missing = importer.get_import_job(APP, "nope").await.unwrap_err();
    assert!(
        matches!(&missing, Error::Api(e) if e.status == Some(404)),
        "{missing:?}"
    );
    assert_eq!(missing.job_id(), Some("nope"));
    assert!(
        missing.to_string().contains("Resource not found"),
        "{missing}"
    );
}

#[tokio::test]
async fn invalid_spec_is_rejected_before_any_request() {
    let fake = FakePinpoint::start().await.unwrap();
    let importer = importer(fake.base_url()).await;
    let mut bad = spec("https://b/k.csv", SegmentTarget::Name("vip".into()));
    assert!(matches!(
        importer.create_import_job(&bad).await,
        Err(Error::InvalidSpec { .. })
    ));
    bad.s3_url = "s3://b/k.csv".into();
    bad.segment = SegmentTarget::Name(" ".into());
    assert!(importer.create_import_job(&bad).await.is_err());
    assert_eq!(fake.create_requests(), 0);
}

#[tokio::test]
async fn throttled_get_during_polling_is_retried() {
    let fake = FakePinpoint::start().await.unwrap();
    let importer = importer(fake.base_url()).await;
    let job = importer
        .create_import_job(&spec("s3://b/k.csv", SegmentTarget::Name("vip".into())))
        .await
        .unwrap();
    fake.fail_next(FakeOp::GetImportJob, 429, 2);
    fake.fail_next(FakeOp::GetImportJob, 503, 1);
    let done = importer
        .poll_until_done(APP, &job.id, &quick_poll())
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(fake.get_requests(), 5 + 3);
}

#[tokio::test]
async fn restart_in_the_middle_of_polling_resumes_the_same_job() {
    let fake = FakePinpoint::start().await.unwrap();
    let first = importer(fake.base_url()).await;
    let job = first
        .create_import_job(&spec("s3://b/k.csv", SegmentTarget::Name("vip".into())))
        .await
        .unwrap();

    // The first run gives up after about 100 ms: at most three GETs, the job needs five.
    let short = PollPolicy {
        first_wait: Duration::from_millis(40),
        cap: Duration::from_millis(40),
        max_total: Duration::from_millis(100),
    };
    let err = first
        .poll_until_done(APP, &job.id, &short)
        .await
        .unwrap_err();
    let resume_id = match &err {
        Error::PollTimeout {
            job_id,
            last_status,
            application_id,
            ..
        } => {
            assert_eq!(application_id, APP);
            assert!(!last_status.is_terminal(), "{last_status}");
            job_id.clone()
        }
        other => panic!("expected PollTimeout, got {other:?}"),
    };
    assert_eq!(err.job_id(), Some(job.id.as_str()));
    assert!(err.to_string().contains(&job.id), "{err}");
    let gets_before = fake.get_requests();
    assert!((1..5).contains(&gets_before), "{gets_before} GETs");
    drop(first);

    // A new process: new client, resumes with the recorded job id.
    let second = importer(fake.base_url()).await;
    let done = second
        .poll_until_done(APP, &resume_id, &quick_poll())
        .await
        .unwrap();
    assert_eq!(done.id, job.id);
    assert_eq!(done.status, JobStatus::Completed);
    assert!(done.segment_id.is_some());
    assert_eq!(fake.create_requests(), 1, "exactly one CreateImportJob");
    assert_eq!(fake.jobs().len(), 1);
    assert_eq!(fake.get_requests(), 5);
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_found_not_started_again() {
    let fake = FakePinpoint::start().await.unwrap();
    // Pinpoint creates the job, then the answer is a 500.
    fake.fail_next_after_create(500, 1);
    let importer = importer(fake.base_url()).await;
    let job = importer
        .create_import_job(&spec(
            "s3://b/seg/v3.csv",
            SegmentTarget::Name("vip".into()),
        ))
        .await
        .unwrap();
    assert_eq!(fake.create_requests(), 1, "not created a second time");
    let jobs = fake.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(job.id, jobs[0].id, "the job that exists is returned");
    assert_eq!(job.s3_url.as_deref(), Some("s3://b/seg/v3.csv"));
    assert!(fake.list_requests() >= 1, "looked up with GetImportJobs");

    // Throttling says nothing was created: retried without a lookup.
    let lists = fake.list_requests();
    fake.throttle_next_creates(1);
    importer
        .create_import_job(&spec(
            "s3://b/seg/v4.csv",
            SegmentTarget::Name("vip".into()),
        ))
        .await
        .unwrap();
    assert_eq!(fake.list_requests(), lists);
    assert_eq!(fake.jobs().len(), 2);
}

#[tokio::test]
async fn a_job_is_found_by_its_file_across_pages() {
    let fake = FakePinpoint::start().await.unwrap();
    let importer = importer(fake.base_url()).await;
    let wanted = "s3://b/seg/v7.csv";
    let target = importer
        .create_import_job(&spec(wanted, SegmentTarget::Name("vip".into())))
        .await
        .unwrap();
    // 120 newer jobs of other files push it to the second page (100 per page, newest first).
    for i in 0..120 {
        importer
            .create_import_job(&spec(
                &format!("s3://b/other/v{i}.csv"),
                SegmentTarget::Name("other".into()),
            ))
            .await
            .unwrap();
    }
    let lists = fake.list_requests();
    let found = importer.find_import_job(APP, wanted, None).await.unwrap();
    assert_eq!(found.map(|j| j.id), Some(target.id.clone()));
    assert_eq!(fake.list_requests() - lists, 2, "two pages read");

    let page = importer.list_import_jobs(APP, None).await.unwrap();
    assert_eq!(page.jobs.len(), 100);
    assert!(page.next_token.is_some());
    let last = importer
        .list_import_jobs(APP, page.next_token.as_deref())
        .await
        .unwrap();
    assert_eq!(last.jobs.len(), 21);
    assert_eq!(last.next_token, None);

    assert_eq!(
        importer
            .find_import_job(APP, "s3://b/seg/v8.csv", None)
            .await
            .unwrap(),
        None,
        "no job of another file"
    );
    // A job of the same file created before `not_before` is an older one, not ours.
    let later = target.created_at_ms().unwrap() + 60_000;
    assert_eq!(
        importer
            .find_import_job(APP, wanted, Some(later))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        importer
            .find_import_job("another-app", wanted, None)
            .await
            .unwrap(),
        None,
        "jobs are per application"
    );
}
