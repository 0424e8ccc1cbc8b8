//! [`PinpointImporter`]: CreateImportJob, GetImportJob and GetImportJobs over
//! aws-sdk-pinpoint, with throttling (429), 5xx and lost answers retried under the shared retry
//! mechanism ([`audience_retry`], as LINE and Kinesis are), and other 4xx answers returned at
//! once with AWS's Message and RequestID.
//!
//! The SDK's own retries are switched off so this policy is the only one (and tests can make it
//! fast). Polling lives in [`crate::poll`]; finding a job by its file in [`crate::list`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use audience_retry::{retry, Attempted, RetryPolicy, Retryable};
use aws_sdk_pinpoint::config::retry::RetryConfig;
use aws_sdk_pinpoint::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_pinpoint::types::{Format, ImportJobRequest, ImportJobResponse};

use crate::error::{ApiError, Error, Result};
use crate::job::{count, ImportJob, ImportJobSpec, JobStatus, SegmentTarget};

const CREATE: &str = "CreateImportJob";
const GET: &str = "GetImportJob";

/// How much earlier than this process's clock Pinpoint's clock may say a job of ours was
/// created (a job of the same file created before that is an older one, not ours).
pub const CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// The retry policy of Pinpoint calls unless replaced: up to 6 retries, waits from 0.5 s
/// doubling to 20 s, with jitter.
pub fn default_retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 6,
        first_wait: Duration::from_millis(500),
        cap: Duration::from_secs(20),
        jitter: true,
    }
}

/// A failed attempt, as the shared retry mechanism sees it: only an API failure that may
/// succeed later (429, 5xx, no answer) is tried again.
struct Attempt(Error);

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Retryable for Attempt {
    fn is_retryable(&self) -> bool {
        matches!(&self.0, Error::Api(api) if api.retryable)
    }
}

/// Creates and reads Pinpoint import jobs.
#[derive(Debug, Clone)]
pub struct PinpointImporter {
    pub(crate) client: aws_sdk_pinpoint::Client,
    retry: RetryPolicy,
}

impl PinpointImporter {
    /// A client from shared SDK config (region, credentials, `AWS_ENDPOINT_URL[_PINPOINT]`),
    /// with the SDK's retries off in favour of [`default_retry_policy`].
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
            retry: default_retry_policy(),
        }
    }

    /// Replaces the retry policy.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// CreateImportJob with `Format=CSV`, `DefineSegment=true`; returns the new job (`CREATED`).
    ///
    /// Throttling is retried; after a 5xx or no answer (Pinpoint may have created the job) the
    /// next attempt first looks for a job of this `S3Url` created since the call began
    /// ([`PinpointImporter::find_import_job`]) and returns it instead of creating a second one
    /// (Pinpoint has no idempotency token for this call).
    pub async fn create_import_job(&self, spec: &ImportJobSpec) -> Result<ImportJob> {
        validate(spec)?;
        let app = spec.application_id.as_str();
        let request = request_of(spec);
        let not_before = wall_clock_ms().saturating_sub(CLOCK_SKEW_MS);
        let outcome_unknown = AtomicBool::new(false);
        let (job, found) = self
            .with_retry(CREATE, app, None, || async {
                if outcome_unknown.load(Ordering::Relaxed) {
                    if let Some(job) = self
                        .find_import_job(app, &spec.s3_url, Some(not_before))
                        .await?
                    {
                        return Ok((job, true));
                    }
                }
                match self
                    .client
                    .create_import_job()
                    .application_id(app)
                    .import_job_request(request.clone())
                    .send()
                    .await
                {
                    Ok(out) => Ok((job_of(CREATE, app, out.import_job_response)?, false)),
                    Err(e) => {
                        let e = api_error(CREATE, app, None, e);
                        if let Error::Api(api) = &e {
                            if api.status.is_none_or(|s| s >= 500) {
                                outcome_unknown.store(true, Ordering::Relaxed);
                            }
                        }
                        Err(e)
                    }
                }
            })
            .await?;
        if found {
            tracing::info!(application_id = app, job_id = %job.id, s3_url = %spec.s3_url, "the import job whose answer was lost exists; using it");
        } else {
            tracing::info!(application_id = app, job_id = %job.id, status = %job.status, s3_url = %spec.s3_url, "import job created");
        }
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

    /// Runs `call` under the retry policy; retryable failures that outlast it become
    /// [`Error::RetriesExhausted`] with the attempts made.
    pub(crate) async fn with_retry<T, F, Fut>(
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
        let Attempted { result, attempts } = retry(&self.retry, || {
            let attempt = call();
            async move { attempt.await.map_err(Attempt) }
        })
        .await;
        match result {
            Ok(value) => Ok(value),
            Err(Attempt(last)) if matches!(&last, Error::Api(api) if api.retryable) => {
                tracing::warn!(operation, application_id, job_id, attempts, error = %last, "Pinpoint call gave up after retries");
                Err(Error::RetriesExhausted {
                    attempts: attempts as usize,
                    last: Box::new(last),
                })
            }
            Err(Attempt(other)) => Err(other),
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

pub(crate) fn job_of(
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
    let (segment_id, segment_name, s3_url) = match r.definition {
        Some(d) => (d.segment_id, d.segment_name, d.s3_url),
        None => (None, None, None),
    };
    Ok(ImportJob {
        id,
        application_id: r
            .application_id
            .unwrap_or_else(|| application_id.to_owned()),
        status,
        segment_id: segment_id.filter(|s| !s.is_empty()),
        segment_name,
        s3_url,
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

pub(crate) fn api_error<E>(
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

/// The current wall-clock time in epoch milliseconds.
pub(crate) fn wall_clock_ms() -> i64 {
    audience_clock::now_millis()
}
