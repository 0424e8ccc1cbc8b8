//! Import-job data: what to create ([`ImportJobSpec`]), what Pinpoint reports ([`ImportJob`],
//! [`JobStatus`]), independent of the SDK's types.

use std::fmt;

/// Where imported endpoints go: a new segment by name, or an existing segment by ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentTarget {
    /// Create a new segment with this name (Pinpoint assigns its ID when the job completes).
    Name(String),
    /// Update the segment with this ID.
    Id(String),
}

/// A CreateImportJob request (always `Format=CSV`, `DefineSegment=true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportJobSpec {
    /// The Pinpoint application (project) ID.
    pub application_id: String,
    /// `s3://bucket/key` of the file (or a prefix: every object under it is imported).
    pub s3_url: String,
    /// The role Pinpoint assumes to read the bucket (trusts `pinpoint.amazonaws.com`).
    pub role_arn: String,
    /// The segment to define.
    pub segment: SegmentTarget,
    /// Whether Pinpoint also registers the endpoints in the project.
    pub register_endpoints: bool,
    /// Deprecated by AWS; sent only when set.
    pub external_id: Option<String>,
}

/// An import job's status, as Pinpoint spells it on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// `CREATED`: what a new job answers.
    Created,
    /// `PREPARING_FOR_INITIALIZATION`.
    PreparingForInitialization,
    /// `INITIALIZING`.
    Initializing,
    /// `PROCESSING`.
    Processing,
    /// `PENDING_JOB`.
    PendingJob,
    /// `COMPLETING`.
    Completing,
    /// `COMPLETED` (terminal).
    Completed,
    /// `FAILING` (on its way to `FAILED`).
    Failing,
    /// `FAILED` (terminal; any failed piece fails the job).
    Failed,
    /// A status this crate does not know.
    Unknown(String),
}

impl JobStatus {
    /// Every known status, in wire order of a typical job.
    pub const ALL: [JobStatus; 9] = [
        JobStatus::Created,
        JobStatus::PreparingForInitialization,
        JobStatus::Initializing,
        JobStatus::Processing,
        JobStatus::PendingJob,
        JobStatus::Completing,
        JobStatus::Completed,
        JobStatus::Failing,
        JobStatus::Failed,
    ];

    /// The wire spelling, e.g. `PREPARING_FOR_INITIALIZATION`.
    pub fn as_str(&self) -> &str {
        match self {
            JobStatus::Created => "CREATED",
            JobStatus::PreparingForInitialization => "PREPARING_FOR_INITIALIZATION",
            JobStatus::Initializing => "INITIALIZING",
            JobStatus::Processing => "PROCESSING",
            JobStatus::PendingJob => "PENDING_JOB",
            JobStatus::Completing => "COMPLETING",
            JobStatus::Completed => "COMPLETED",
            JobStatus::Failing => "FAILING",
            JobStatus::Failed => "FAILED",
            JobStatus::Unknown(s) => s,
        }
    }

    /// Parses the wire spelling; anything else becomes [`JobStatus::Unknown`].
    pub fn from_wire(s: &str) -> Self {
        Self::ALL
            .iter()
            .find(|k| k.as_str() == s)
            .cloned()
            .unwrap_or_else(|| JobStatus::Unknown(s.to_owned()))
    }

    /// `COMPLETED` or `FAILED`: the job will not change any more.
    pub fn is_terminal(&self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed)
    }

    /// `COMPLETED`.
    pub fn is_success(&self) -> bool {
        matches!(self, JobStatus::Completed)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An import job as Pinpoint reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportJob {
    /// The job ID (keep it: polling resumes with it).
    pub id: String,
    /// The Pinpoint application (project) ID.
    pub application_id: String,
    /// Current status.
    pub status: JobStatus,
    /// `Definition.SegmentId`: the segment the job defines (known at completion for a new one).
    pub segment_id: Option<String>,
    /// `Definition.SegmentName`.
    pub segment_name: Option<String>,
    /// `Definition.S3Url`: the file imported (how a job is found again, see
    /// [`crate::PinpointImporter::find_import_job`]).
    pub s3_url: Option<String>,
    /// `CreationDate` (ISO-8601).
    pub creation_date: Option<String>,
    /// `CompletionDate` (ISO-8601).
    pub completion_date: Option<String>,
    /// `TotalProcessed` (0 when not reported).
    pub total_processed: u64,
    /// `TotalFailures` (0 when not reported).
    pub total_failures: u64,
    /// `Failures`: the first 100 failed entries at most.
    pub failures: Vec<String>,
    /// `CompletedPieces` (0 when not reported).
    pub completed_pieces: u64,
    /// `FailedPieces` (0 when not reported).
    pub failed_pieces: u64,
    /// `TotalPieces` (0 when not reported).
    pub total_pieces: u64,
}

impl ImportJob {
    /// `CreationDate` as epoch milliseconds, when it is an RFC 3339 / ISO-8601 instant.
    pub fn created_at_ms(&self) -> Option<i64> {
        let text = self.creation_date.as_deref()?;
        let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()?;
        i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
    }
}

pub(crate) fn count(value: Option<i32>) -> u64 {
    value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_dates_parse_to_epoch_millis() {
        let job = |date: Option<&str>| ImportJob {
            id: "j".into(),
            application_id: "a".into(),
            status: JobStatus::Created,
            segment_id: None,
            segment_name: None,
            s3_url: None,
            creation_date: date.map(str::to_owned),
            completion_date: None,
            total_processed: 0,
            total_failures: 0,
            failures: Vec::new(),
            completed_pieces: 0,
            failed_pieces: 0,
            total_pieces: 0,
        };
        assert_eq!(
            job(Some("2026-01-01T00:00:01.500Z")).created_at_ms(),
            Some(1_767_225_601_500)
        );
        assert_eq!(
            job(Some("2026-01-01T09:00:00+09:00")).created_at_ms(),
            Some(1_767_225_600_000)
        );
        assert_eq!(job(Some("yesterday")).created_at_ms(), None);
        assert_eq!(job(None).created_at_ms(), None);
    }

    #[test]
    fn statuses_round_trip_and_terminal() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::from_wire(s.as_str()), s);
        }
        assert_eq!(
            JobStatus::from_wire("PAUSED"),
            JobStatus::Unknown("PAUSED".into())
        );
        let terminal: Vec<_> = JobStatus::ALL.iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(terminal, [&JobStatus::Completed, &JobStatus::Failed]);
        assert!(!JobStatus::Failing.is_terminal());
    }
}
