//! What a fake import job does over time ([`JobScript`]) and which requests the fake answers
//! with an error ([`FakeOp`]).

use crate::job::JobStatus;

/// One scripted job: the statuses its GetImportJob answers go through, one step per GET
/// (CreateImportJob answers `CREATED`), and how it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobScript {
    /// Status of the 1st, 2nd, ... GET; the last one repeats. Ending in `FAILED` fails the job
    /// with `failures`; ending in `COMPLETED` assigns the segment ID.
    pub steps: Vec<JobStatus>,
    /// `Failures` of a failed job.
    pub failures: Vec<String>,
    /// `TotalProcessed` of a completed job when the fake did not count the file's rows.
    pub total_processed: u64,
}

impl JobScript {
    /// PREPARING_FOR_INITIALIZATION → INITIALIZING → PROCESSING → COMPLETING → COMPLETED.
    pub fn completes() -> Self {
        Self {
            steps: vec![
                JobStatus::PreparingForInitialization,
                JobStatus::Initializing,
                JobStatus::Processing,
                JobStatus::Completing,
                JobStatus::Completed,
            ],
            failures: Vec::new(),
            total_processed: 0,
        }
    }

    /// PREPARING_FOR_INITIALIZATION → INITIALIZING → PROCESSING → FAILING → FAILED with these
    /// `Failures`.
    pub fn fails(failures: Vec<String>) -> Self {
        Self {
            steps: vec![
                JobStatus::PreparingForInitialization,
                JobStatus::Initializing,
                JobStatus::Processing,
                JobStatus::Failing,
                JobStatus::Failed,
            ],
            failures,
            total_processed: 0,
        }
    }

    /// Any sequence of statuses (a last non-terminal status makes a job that never ends).
    pub fn steps(steps: Vec<JobStatus>) -> Self {
        Self {
            steps,
            failures: Vec::new(),
            total_processed: 0,
        }
    }
}

impl Default for JobScript {
    fn default() -> Self {
        Self::completes()
    }
}

/// The fake's operations, for error injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FakeOp {
    /// `POST /v1/apps/{app}/jobs/import`.
    CreateImportJob,
    /// `GET /v1/apps/{app}/jobs/import/{job}`.
    GetImportJob,
    /// `GET /v1/apps/{app}/jobs/import` (GetImportJobs).
    GetImportJobs,
}

/// AWS's error code for a status the fake can answer.
pub(crate) fn error_code(status: u16) -> &'static str {
    match status {
        400 => "BadRequestException",
        403 => "ForbiddenException",
        404 => "NotFoundException",
        405 => "MethodNotAllowedException",
        413 => "PayloadTooLargeException",
        429 => "TooManyRequestsException",
        _ => "InternalServerErrorException",
    }
}
