//! The crate's error type: every failure names the request, object or row it concerns, and
//! says whether retrying can help.

use std::time::Duration;

use crate::job::JobStatus;

/// Everything this crate can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An attribute column name that Pinpoint would reject.
    #[error("invalid attribute column {name:?}: {reason}")]
    InvalidColumn {
        /// The column name as given.
        name: String,
        /// Why it is rejected.
        reason: &'static str,
    },

    /// The CSV writer failed (in memory, so this is a bug rather than an I/O problem).
    #[error("writing import CSV row {row} (user {user_id:?}) failed: {source}")]
    Csv {
        /// Zero-based index of the input row.
        row: usize,
        /// The row's user ID.
        user_id: String,
        /// The csv crate's error.
        #[source]
        source: csv::Error,
    },

    /// An S3 object key part (segment or version) that cannot be used.
    #[error("invalid S3 key part {part}={value:?}: {reason}")]
    InvalidKey {
        /// Which part ("segment", "version", "bucket").
        part: &'static str,
        /// The value as given.
        value: String,
        /// Why it is rejected.
        reason: &'static str,
    },

    /// An S3 call failed.
    #[error("S3 {operation} of s3://{bucket}/{key} failed: {message}")]
    S3 {
        /// The S3 operation (PutObject, UploadPart, ...).
        operation: &'static str,
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The SDK's error, flattened with its sources.
        message: String,
    },

    /// An import job specification that Pinpoint would reject.
    #[error("invalid import job spec for app {application_id:?}: {reason}")]
    InvalidSpec {
        /// The Pinpoint application (project) ID.
        application_id: String,
        /// What is wrong.
        reason: &'static str,
    },

    /// A Pinpoint call failed: an HTTP error answer, or no answer at all.
    #[error(transparent)]
    Api(Box<ApiError>),

    /// A retryable Pinpoint failure persisted through every attempt of the retry policy.
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// How many requests were sent.
        attempts: usize,
        /// The last failure.
        #[source]
        last: Box<Error>,
    },

    /// Pinpoint answered with a body this crate cannot use.
    #[error("Pinpoint {operation} (app {application_id}) answered without {missing}")]
    InvalidResponse {
        /// CreateImportJob, GetImportJob or GetImportJobs.
        operation: &'static str,
        /// The Pinpoint application (project) ID.
        application_id: String,
        /// What was missing.
        missing: &'static str,
    },

    /// GetImportJobs still had pages after the most this crate reads: whether a job for the
    /// file exists is unknown, so none must be created for it.
    #[error(
        "could not tell whether app {application_id} has an import job of {s3_url}: still more jobs after {pages} pages of GetImportJobs"
    )]
    LookupIncomplete {
        /// The Pinpoint application (project) ID.
        application_id: String,
        /// The file looked for.
        s3_url: String,
        /// Pages read.
        pages: usize,
    },

    /// Polling stopped at [`crate::PollPolicy::max_total`] before the job finished. The job goes
    /// on in Pinpoint: resume with [`crate::PinpointImporter::poll_until_done`] on `job_id`
    /// rather than creating a new job.
    #[error(
        "import job {job_id} (app {application_id}) still {last_status} after polling for {waited:?}; resume polling this job id"
    )]
    PollTimeout {
        /// The Pinpoint application (project) ID.
        application_id: String,
        /// The job still running.
        job_id: String,
        /// The status seen last.
        last_status: JobStatus,
        /// How long this call polled.
        waited: Duration,
    },
}

impl Error {
    /// Whether the same request may succeed later (throttling, 5xx, no answer).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(e) => e.retryable,
            Error::S3 { .. }
            | Error::PollTimeout { .. }
            | Error::RetriesExhausted { .. }
            | Error::LookupIncomplete { .. } => true,
            _ => false,
        }
    }

    /// The import job this error concerns, when one exists: a caller that gets this back should
    /// record it and resume polling instead of creating a new job.
    pub fn job_id(&self) -> Option<&str> {
        match self {
            Error::PollTimeout { job_id, .. } => Some(job_id),
            Error::Api(e) => e.job_id.as_deref(),
            Error::RetriesExhausted { last, .. } => last.job_id(),
            _ => None,
        }
    }

    /// AWS's RequestID of the failed request, when Pinpoint gave one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api(e) => e.request_id.as_deref(),
            Error::RetriesExhausted { last, .. } => last.request_id(),
            _ => None,
        }
    }
}

/// A failed Pinpoint call: an HTTP error answer (`status` set), or no answer (`status` `None`).
#[derive(Debug, thiserror::Error)]
#[error(
    "Pinpoint {operation} (app {application_id}{}) failed{}: {message}{}",
    job_id.as_deref().map(|j| format!(", job {j}")).unwrap_or_default(),
    status.map(|s| format!(" with HTTP {s}")).unwrap_or_default(),
    request_id.as_deref().map(|r| format!(" (RequestID {r})")).unwrap_or_default()
)]
pub struct ApiError {
    /// CreateImportJob, GetImportJob or GetImportJobs.
    pub operation: &'static str,
    /// The Pinpoint application (project) ID.
    pub application_id: String,
    /// The job concerned, when known.
    pub job_id: Option<String>,
    /// HTTP status of the error answer; `None` when no answer came (timeout, connection).
    pub status: Option<u16>,
    /// AWS's error code (e.g. `TooManyRequestsException`), when given.
    pub code: Option<String>,
    /// AWS's `Message`, or the transport error.
    pub message: String,
    /// AWS's `RequestID`, when given.
    pub request_id: Option<String>,
    /// Whether the same request may succeed later (429, 5xx, no answer).
    pub retryable: bool,
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
