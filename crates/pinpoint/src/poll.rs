//! Polling GetImportJob until the job is `COMPLETED` or `FAILED`, with capped exponential waits
//! and a bound on the whole wait. A bounded-out poll returns [`Error::PollTimeout`] holding the
//! job ID, so a later run resumes polling the same job rather than creating another.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::import_job::PinpointImporter;
use crate::job::ImportJob;

/// How [`PinpointImporter::poll_until_done`] waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPolicy {
    /// Wait after the first non-terminal answer; doubled after each later one.
    pub first_wait: Duration,
    /// Longest wait between two polls.
    pub cap: Duration,
    /// Stop (with [`Error::PollTimeout`]) rather than start a wait that would end after this.
    pub max_total: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            first_wait: Duration::from_secs(2),
            cap: Duration::from_secs(60),
            max_total: Duration::from_secs(15 * 60),
        }
    }
}

impl PinpointImporter {
    /// Polls GetImportJob (at once, then after `first_wait`, doubling up to `cap`) until the
    /// job is terminal, and returns it: check [`crate::JobStatus::is_success`] and `failures`.
    ///
    /// Errors: [`Error::PollTimeout`] once `max_total` would be passed (the job goes on: resume
    /// later with the same `job_id`); a GetImportJob failure (after its own retries).
    pub async fn poll_until_done(
        &self,
        application_id: &str,
        job_id: &str,
        policy: &PollPolicy,
    ) -> Result<ImportJob> {
        let started = tokio::time::Instant::now();
        let mut wait = policy.first_wait;
        loop {
            let job = self.get_import_job(application_id, job_id).await?;
            if job.status.is_terminal() {
                tracing::info!(
                    application_id,
                    job_id,
                    status = %job.status,
                    segment_id = job.segment_id.as_deref(),
                    total_processed = job.total_processed,
                    total_failures = job.total_failures,
                    "import job finished"
                );
                return Ok(job);
            }
            let waited = started.elapsed();
            if waited.saturating_add(wait) > policy.max_total {
                tracing::warn!(application_id, job_id, status = %job.status, ?waited, "import job still running; polling stops here");
                return Err(Error::PollTimeout {
                    application_id: application_id.to_owned(),
                    job_id: job_id.to_owned(),
                    last_status: job.status,
                    waited,
                });
            }
            tracing::debug!(application_id, job_id, status = %job.status, ?wait, "import job running");
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2).min(policy.cap);
        }
    }
}
