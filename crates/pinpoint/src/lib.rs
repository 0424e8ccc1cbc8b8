//! Pinpoint import-job destination: write a segment's endpoints as a Pinpoint import CSV
//! ([`write_import_csv`]), put it in S3 ([`S3Uploader`]), start a CreateImportJob and poll
//! GetImportJob until it completes or fails ([`PinpointImporter`]).
//!
//! Design decisions:
//! - Clients come from one `aws_config::SdkConfig`, so `AWS_ENDPOINT_URL`,
//!   `AWS_ENDPOINT_URL_S3` and `AWS_ENDPOINT_URL_PINPOINT` point them at local fakes through the
//!   production code path.
//! - Pinpoint calls retry throttling, 5xx and lost answers under the shared retry mechanism
//!   (`audience_retry`, [`default_retry_policy`]; the SDK's own retries are off); any other 4xx
//!   is returned at once with AWS's Message and RequestID.
//! - A job is started at most once per file: CreateImportJob has no idempotency token, so after
//!   an answer that was lost the job is first looked up by its `S3Url` (GetImportJobs,
//!   [`PinpointImporter::find_import_job`]) instead of being created again.
//! - An import job outlives the process that started it. Polling is bounded
//!   ([`PollPolicy::max_total`]); running out returns [`Error::PollTimeout`] with the job ID,
//!   and [`Error::job_id`] tells the caller which job to resume instead of creating a new one.
//! - The `fake` feature adds [`fake::FakePinpoint`], a local server of the import-job
//!   operations (no emulator implements them).

pub mod csv_file;
pub mod error;
#[cfg(feature = "fake")]
pub mod fake;
pub mod import_job;
pub mod job;
pub mod list;
pub mod poll;
pub mod s3;

pub use csv_file::{write_import_csv, CsvStats, ImportRow};
pub use error::{ApiError, Error, Result};
pub use import_job::{default_retry_policy, PinpointImporter};
pub use job::{ImportJob, ImportJobSpec, JobStatus, SegmentTarget};
pub use poll::PollPolicy;
pub use s3::{import_object_key, S3Options, S3Uploader};
