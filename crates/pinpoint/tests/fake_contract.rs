//! The fake's wire contract, driven by the raw aws-sdk-pinpoint client: request validation
//! answers 400 with AWS's error shape, and the status sequence is exactly as scripted.

use audience_pinpoint::fake::{FakePinpoint, JobScript};
use audience_pinpoint::JobStatus;
use aws_sdk_pinpoint::config::retry::RetryConfig;
use aws_sdk_pinpoint::error::ProvideErrorMetadata;
use aws_sdk_pinpoint::types::{Format, ImportJobRequest};

use crate::util::sdk_config;

async fn raw_client(fake: &FakePinpoint) -> aws_sdk_pinpoint::Client {
    let conf = aws_sdk_pinpoint::config::Builder::from(&sdk_config(fake.base_url()).await)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_pinpoint::Client::from_conf(conf)
}

async fn rejection(client: &aws_sdk_pinpoint::Client, request: ImportJobRequest) -> String {
    let err = client
        .create_import_job()
        .application_id("app")
        .import_job_request(request)
        .send()
        .await
        .unwrap_err();
    let service = err.as_service_error().expect("a service error");
    assert!(service.is_bad_request_exception(), "{service:?}");
    service.message().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn create_validates_the_request() {
    let fake = FakePinpoint::start().await.unwrap();
    let client = raw_client(&fake).await;
    let full = || {
        ImportJobRequest::builder()
            .format(Format::Csv)
            .s3_url("s3://bucket/key.csv")
            .role_arn("arn:aws:iam::123456789012:role/r")
            .define_segment(true)
            .segment_name("vip")
    };
    let no_format = ImportJobRequest::builder()
        .s3_url("s3://bucket/key.csv")
        .role_arn("arn:aws:iam::123456789012:role/r")
        .build();
    assert_eq!(rejection(&client, no_format).await, "Format is required");
    let no_url = ImportJobRequest::builder()
        .format(Format::Csv)
        .role_arn("arn:aws:iam::123456789012:role/r")
        .build();
    assert_eq!(rejection(&client, no_url).await, "S3Url is required");
    let no_role = ImportJobRequest::builder()
        .format(Format::Csv)
        .s3_url("s3://bucket/key.csv")
        .build();
    assert_eq!(rejection(&client, no_role).await, "RoleArn is required");
    let no_segment = full().set_segment_name(None).build();
    assert_eq!(
        rejection(&client, no_segment).await,
        "DefineSegment requires SegmentName or SegmentId"
    );
    assert!(fake.jobs().is_empty());

    let created = client
        .create_import_job()
        .application_id("app")
        .import_job_request(full().build())
        .send()
        .await
        .unwrap()
        .import_job_response
        .unwrap();
    assert_eq!(created.r#type.as_deref(), Some("IMPORT"));
    assert_eq!(created.application_id.as_deref(), Some("app"));
    assert_eq!(
        created.job_status.as_ref().map(|s| s.as_str()),
        Some("CREATED")
    );
    let definition = created.definition.unwrap();
    assert_eq!(definition.segment_name.as_deref(), Some("vip"));
    assert_eq!(definition.format, Some(Format::Csv));
}

#[tokio::test]
async fn scripted_sequence_advances_one_step_per_get() {
    let fake = FakePinpoint::start().await.unwrap();
    fake.script_next_job(JobScript::steps(vec![
        JobStatus::PendingJob,
        JobStatus::Processing,
        JobStatus::Completed,
    ]));
    let client = raw_client(&fake).await;
    let id = client
        .create_import_job()
        .application_id("app")
        .import_job_request(
            ImportJobRequest::builder()
                .format(Format::Csv)
                .s3_url("s3://bucket/key.csv")
                .role_arn("arn:aws:iam::123456789012:role/r")
                .define_segment(true)
                .segment_name("vip")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .import_job_response
        .unwrap()
        .id
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let job = client
            .get_import_job()
            .application_id("app")
            .job_id(&id)
            .send()
            .await
            .unwrap()
            .import_job_response
            .unwrap();
        seen.push(job.job_status.unwrap().as_str().to_owned());
    }
    assert_eq!(
        seen,
        ["PENDING_JOB", "PROCESSING", "COMPLETED", "COMPLETED"]
    );

    // Another application's path does not see the job.
    let err = client
        .get_import_job()
        .application_id("other-app")
        .job_id(&id)
        .send()
        .await
        .unwrap_err();
    assert!(err.as_service_error().unwrap().is_not_found_exception());
}

#[tokio::test]
async fn get_import_jobs_pages_newest_first_per_application() {
    let fake = FakePinpoint::start().await.unwrap();
    let client = raw_client(&fake).await;
    let mut ids = Vec::new();
    for (app, key) in [("app", "a"), ("app", "b"), ("other", "x"), ("app", "c")] {
        let id = client
            .create_import_job()
            .application_id(app)
            .import_job_request(
                ImportJobRequest::builder()
                    .format(Format::Csv)
                    .s3_url(format!("s3://bucket/{key}.csv"))
                    .role_arn("arn:aws:iam::123456789012:role/r")
                    .define_segment(true)
                    .segment_name("vip")
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .import_job_response
            .unwrap()
            .id
            .unwrap();
        ids.push(id);
    }
    let first = client
        .get_import_jobs()
        .application_id("app")
        .page_size("2")
        .send()
        .await
        .unwrap()
        .import_jobs_response
        .unwrap();
    let urls = |page: &aws_sdk_pinpoint::types::ImportJobsResponse| -> Vec<String> {
        page.item()
            .iter()
            .map(|j| j.definition.as_ref().unwrap().s3_url.clone().unwrap())
            .collect()
    };
    assert_eq!(urls(&first), ["s3://bucket/c.csv", "s3://bucket/b.csv"]);
    assert_eq!(first.item()[0].id.as_deref(), Some(ids[3].as_str()));
    let token = first.next_token().expect("a second page").to_owned();
    let second = client
        .get_import_jobs()
        .application_id("app")
        .page_size("2")
        .token(token)
        .send()
        .await
        .unwrap()
        .import_jobs_response
        .unwrap();
    assert_eq!(urls(&second), ["s3://bucket/a.csv"]);
    assert_eq!(second.next_token(), None);
    assert_eq!(fake.list_requests(), 2);

    let bad = client
        .get_import_jobs()
        .application_id("app")
        .page_size("zero")
        .send()
        .await
        .unwrap_err();
    assert!(bad.as_service_error().unwrap().is_bad_request_exception());
}
