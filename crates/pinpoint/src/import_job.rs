//! [`PinpointImporter`]: CreateImportJob and GetImportJob over aws-sdk-pinpoint, with
//! throttling (429), 5xx and lost answers retried under one capped exponential backoff
//! ([`RetryPolicy`]), and other 4xx answers returned at once with AWS's Message and RequestID.
//!
//! The SDK's own retries are switched off so this policy is the only one (and tests can make it
//! fast). Polling lives in [`crate::poll`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_pinpoint::config::retry::RetryConfig;
use aws_sdk_pinpoint::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_pinpoint::types::{Format, ImportJobRequest, ImportJobResponse};
use backon::{ExponentialBuilder, Retryable};

use crate::error::{ApiError, Error, Result};
use crate::job::{count, ImportJob, ImportJobSpec, JobStatus, SegmentTarget};

const CREATE: &str = "CreateImportJob";
const GET: &str = "GetImportJob";

/// Capped exponential backoff (with jitter) for retryable Pinpoint failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait before the first retry.
    pub min_delay: Duration,
    /// Longest wait between two attempts.
    pub max_delay: Duration,
    /// Retries after the first attempt (so `max_retries + 1` requests at most).
    pub max_retries: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_retries: 6,
        }
    }
}

impl RetryPolicy {
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries)
            .with_jitter()
    }
}

/// Creates and reads Pinpoint import jobs.
#[derive(Debug, Clone)]
pub struct PinpointImporter {
    client: aws_sdk_pinpoint::Client,
    retry: RetryPolicy,
}

impl PinpointImporter {
    /// A client from shared SDK config (region, credentials, `AWS_ENDPOINT_URL[_PINPOINT]`),
    /// with the SDK's retries off in favour of [`RetryPolicy::default`].
    pub fn new(sdk_config: &aws_config::SdkConfig) -> Self {
        let conf = aws_sdk_pinpoint::config::Builder::from(sdk_config)
            .retry_config(RetryConfig::disabled())
            .build();
        Self::from_client(aws_sdk_pinpoint::Client::from_conf(conf))
    }

    /// A client from the environment: `aws_config::defaults(BehaviorVersion::latest())`.
    pub async fn from_env() -> Self {
        let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        Self::new(&sdk_config)
    }

    /// Wraps a ready client (its own retry configuration then adds to this crate's).
    pub fn from_client(client: aws_sdk_pinpoint::Client) -> Self {
        Self {
            client,
            retry: RetryPolicy::default(),
        }
    }

    /// Replaces the retry policy.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// CreateImportJob with `Format=CSV`, `DefineSegment=true`; returns the new job (`CREATED`).
    ///
    /// A 5xx is retried like throttling; should Pinpoint have created the job before failing,
    /// a second job may exist (Pinpoint has no idempotency token for this call).
    pub async fn create_import_job(&self, spec: &ImportJobSpec) -> Result<ImportJob> {
        validate(spec)?;
        let app = spec.application_id.as_str();
        let request = request_of(spec);
        let response = self
            .with_retry(CREATE, app, None, || async {
                self.client
                    .create_import_job()
                    .application_id(app)
                    .import_job_request(request.clone())
                    .send()
                    .await
                    .map_err(|e| api_error(CREATE, app, None, e))
            })
            .await?;
        let job = job_of(CREATE, app, response.import_job_response)?;
        tracing::info!(application_id = app, job_id = %job.id, status = %job.status, s3_url = %spec.s3_url, "import job created");
        Ok(job)
    }

    /// GetImportJob: the job's current state.
    pub async fn get_import_job(&self, application_id: &str, job_id: &str) -> Result<ImportJob> {
        let response = self
            .with_retry(GET, application_id, Some(job_id), || async {
                self.client
                    .get_import_job()
                    .application_id(application_id)
                    .job_id(job_id)
                    .send()
                    .await
                    .map_err(|e| api_error(GET, application_id, Some(job_id), e))
            })
            .await?;
        job_of(GET, application_id, response.import_job_response)
    }

    async fn with_retry<T, F, Fut>(
        &self,
        operation: &'static str,
        application_id: &str,
        job_id: Option<&str>,
        mut call: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let attempts = AtomicUsize::new(0);
        let result = (|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            call()
        })
        .retry(self.retry.backoff())
        .sleep(tokio::time::sleep)
        .when(|e: &Error| matches!(e, Error::Api(api) if api.retryable))
        .notify(|e: &Error, wait: Duration| {
            tracing::warn!(operation, application_id, job_id, error = %e, ?wait, "retrying Pinpoint call");
        })
        .await;
        match result {
            Err(last @ Error::Api(_)) if last.is_retryable() => Err(Error::RetriesExhausted {
                attempts: attempts.load(Ordering::Relaxed),
                last: Box::new(last),
            }),
            other => other,
        }
    }
}

fn validate(spec: &ImportJobSpec) -> Result<()> {
    let reason = if spec.application_id.trim().is_empty() {
        Some("application_id is empty")
    } else if !spec.s3_url.starts_with("s3://") || spec.s3_url.len() <= "s3://".len() {
        Some("s3_url must look like s3://bucket/key")
    } else if !spec.role_arn.starts_with("arn:") {
        Some("role_arn must be an IAM role ARN")
    } else if matches!(&spec.segment, SegmentTarget::Name(s) | SegmentTarget::Id(s) if s.trim().is_empty())
    {
        Some("segment name or ID is empty")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidSpec {
            application_id: spec.application_id.clone(),
            reason,
        }),
        None => Ok(()),
    }
}

fn request_of(spec: &ImportJobSpec) -> ImportJobRequest {
    let builder = ImportJobRequest::builder()
        .format(Format::Csv)
        .s3_url(&spec.s3_url)
        .role_arn(&spec.role_arn)
        .define_segment(true)
        .register_endpoints(spec.register_endpoints)
        .set_external_id(spec.external_id.clone());
    match &spec.segment {
        SegmentTarget::Name(name) => builder.segment_name(name),
        SegmentTarget::Id(id) => builder.segment_id(id),
    }
    .build()
}

fn job_of(
    operation: &'static str,
    application_id: &str,
    response: Option<ImportJobResponse>,
) -> Result<ImportJob> {
    let missing = |missing| Error::InvalidResponse {
        operation,
        application_id: application_id.to_owned(),
        missing,
    };
    let r = response.ok_or_else(|| missing("an ImportJobResponse"))?;
    let id =
        r.id.filter(|id| !id.is_empty())
            .ok_or_else(|| missing("Id"))?;
    let status = r
        .job_status
        .map(|s| JobStatus::from_wire(s.as_str()))
        .ok_or_else(|| missing("JobStatus"))?;
    let (segment_id, segment_name) = match r.definition {
        Some(d) => (d.segment_id, d.segment_name),
        None => (None, None),
    };
    Ok(ImportJob {
        id,
        application_id: r
            .application_id
            .unwrap_or_else(|| application_id.to_owned()),
        status,
        segment_id: segment_id.filter(|s| !s.is_empty()),
        segment_name,
        creation_date: r.creation_date,
        completion_date: r.completion_date,
        total_processed: count(r.total_processed),
        total_failures: count(r.total_failures),
        failures: r.failures.unwrap_or_default(),
        completed_pieces: count(r.completed_pieces),
        failed_pieces: count(r.failed_pieces),
        total_pieces: count(r.total_pieces),
    })
}

/// The `{"Message","RequestID"}` body of a Pinpoint error answer.
#[derive(serde::Deserialize, Default)]
struct ErrorBody {
    #[serde(rename = "Message", alias = "message")]
    message: Option<String>,
    #[serde(rename = "RequestID")]
    request_id: Option<String>,
}

fn api_error<E>(
    operation: &'static str,
    application_id: &str,
    job_id: Option<&str>,
    err: SdkError<E, aws_sdk_pinpoint::config::http::HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let raw = match &err {
        SdkError::ServiceError(e) => Some(e.raw()),
        SdkError::ResponseError(e) => Some(e.raw()),
        _ => None,
    };
    let status = raw.map(|r| r.status().as_u16());
    let body: ErrorBody = raw
        .and_then(|r| r.body().bytes())
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default();
    let header_request_id = raw.and_then(|r| {
        r.headers()
            .get("x-amzn-requestid")
            .or_else(|| r.headers().get("x-amz-request-id"))
            .map(str::to_owned)
    });
    let meta = match &err {
        SdkError::ServiceError(e) => Some(e.err()),
        _ => None,
    };
    let message = body
        .message
        .or_else(|| meta.and_then(|m| m.message()).map(str::to_owned))
        .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
    let retryable = match (&err, status) {
        (_, Some(s)) => s == 429 || s >= 500,
        (SdkError::TimeoutError(_) | SdkError::DispatchFailure(_), None) => true,
        _ => false,
    };
    Error::Api(Box::new(ApiError {
        operation,
        application_id: application_id.to_owned(),
        job_id: job_id.map(str::to_owned),
        status,
        code: meta.and_then(|m| m.code()).map(str::to_owned),
        message,
        request_id: body.request_id.or(header_request_id),
        retryable,
    }))
}
